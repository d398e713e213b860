"""Configuration read once (issue 19, item 5): one settings object, built at start, passed down."""

from __future__ import annotations

import ast
import re
import warnings
from pathlib import Path

import click
import pytest
import typer.main

import bastion
from bastion.api.settings import ServeSettings
from bastion.config import ENVIRONMENT, Settings
from bastion.errors import ConfigError

PACKAGE = Path(bastion.__file__).parent
DOCS = PACKAGE.parents[1] / "docs" / "configuration.md"

#: The modules allowed to read the environment: the settings module and the command line's entry point.
READERS = {"bastion.config", "bastion.cli"}



def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _environment_reads(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "environb", "getenv", "putenv", "unsetenv") \
                and isinstance(node.value, ast.Name) and node.value.id == "os":
            lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module == "os" and \
                {a.name for a in node.names} & {"environ", "environb", "getenv"}:
            lines.append(node.lineno)
    return lines


def test_only_the_settings_module_and_the_entry_point_read_the_environment():
    readers = {}
    for path in PACKAGE.rglob("*.py"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(path.read_text(encoding="utf-8"))
        lines = _environment_reads(tree)
        if lines:
            readers[_module_name(path)] = lines
    assert "bastion.config" in readers  # the check sees a read where there is one
    unexpected = {m: lines for m, lines in readers.items() if m not in READERS}
    assert not unexpected, f"modules reading os.environ on their own: {unexpected}"


# --- precedence: flag > environment > default ------------------------------------------------------------


def test_a_flag_beats_the_environment_which_beats_the_default(monkeypatch, tmp_path):
    monkeypatch.setenv("BASTION_HOME", str(tmp_path))
    assert Settings.from_env().resolved_database_url() == f"sqlite:///{tmp_path / 'bastion.db'}"  # default
    monkeypatch.setenv("BASTION_DATABASE_URL", "sqlite:////env.db")
    assert Settings.from_env().database_url == "sqlite:////env.db"
    assert Settings.from_env(database_url="sqlite:////flag.db").database_url == "sqlite:////flag.db"
    assert Settings.from_env(database_url=None).database_url == "sqlite:////env.db"  # None = flag not given


def test_the_command_line_applies_the_same_precedence(monkeypatch, tmp_path):
    from bastion.cli import app
    from bastion.cli.toplevel import settings_of

    monkeypatch.setenv("BASTION_DATABASE_URL", "sqlite:////env.db")
    group = typer.main.get_command(app)
    for args, expected in (([], "sqlite:////env.db"), (["--database-url", "sqlite:////flag.db"], "sqlite:////flag.db")):
        ctx = group.make_context("bastion", [*args, "text", "x"])
        with ctx:
            ctx.invoke(group.callback, **ctx.params)  # the root callback records --database-url, as on a real run
            assert settings_of(ctx).database_url == expected


def test_serve_flags_beat_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("BASTION_BACKGROUND", "0")
    assert ServeSettings.from_env().background is False
    assert ServeSettings.from_env(background=True).background is True
    monkeypatch.delenv("BASTION_BACKGROUND")
    assert ServeSettings.from_env().background is True  # the default


def test_empty_variables_are_unset_and_lists_are_comma_separated(monkeypatch):
    monkeypatch.setenv("BASTION_DATABASE_URL", "")
    monkeypatch.setenv("BASTION_URL_MEDIA_HOSTS", " Media.example.org, *.cdn.example.org ,")
    monkeypatch.setenv("BASTION_NCMEC_INDUSTRY_MOU", "yes")
    s = Settings.from_env()
    assert s.database_url is None
    assert s.url_media_hosts == ("media.example.org", "*.cdn.example.org")
    assert s.ncmec_industry_mou is True


@pytest.mark.parametrize("variable, value", [
    ("BASTION_MAX_BODY_BYTES", "lots"), ("BASTION_LOCK_WAIT", "-1"), ("BASTION_URL_MEDIA_TIMEOUT", "soon"),
    ("BASTION_VAULT_RETENTION_DAYS", "a year"),
])
def test_a_bad_value_is_refused_at_start_naming_its_variable(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env()


def test_an_explicit_mapping_is_read_instead_of_the_process_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("BASTION_MAX_BODY_BYTES", "5")
    s = Settings.from_env({"BASTION_HOME": str(tmp_path), "BASTION_LOCK_WAIT": "3"})
    assert s.home == tmp_path and s.lock_wait == 3 and s.max_body_bytes == 64 * 1024 * 1024


def test_constructing_settings_reads_nothing(monkeypatch, tmp_path):
    monkeypatch.setenv("BASTION_MAX_BODY_BYTES", "5")
    assert Settings(home=tmp_path).max_body_bytes == 64 * 1024 * 1024


# --- the server and the CLI read the same settings -------------------------------------------------------


def test_the_server_and_the_report_command_agree_on_the_holding_folder(monkeypatch, tmp_path):
    from bastion.api.app import app_from_env
    from bastion.cli import load_all_commands
    from bastion.cli.app import app
    from bastion.cli.report_cmd import _holding

    held = tmp_path / "elsewhere" / "held"
    monkeypatch.setenv("BASTION_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BASTION_HOLDING_DIR", str(held))
    monkeypatch.setenv("BASTION_BACKGROUND", "0")
    server = app_from_env()  # as each `bastion serve` worker builds its app
    try:
        load_all_commands()
        ctx = click.Context(typer.main.get_command(app))
        assert server.state.service.holding.folder == held
        assert _holding(ctx).folder == held
    finally:
        server.state.store.close()


def test_the_store_waits_as_long_as_the_settings_say(monkeypatch, tmp_path):
    from bastion.store.db import open_store

    monkeypatch.setenv("BASTION_LOCK_WAIT", "7.5")
    store = open_store(f"sqlite:///{tmp_path / 'b.db'}", settings=Settings.from_env())
    try:
        assert store.lock_wait == 7.5
    finally:
        store.close()


# --- documented ------------------------------------------------------------------------------------------


def test_every_variable_is_in_the_one_table():
    text = DOCS.read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `(BASTION_[A-Z0-9_]+|[A-Z][A-Z0-9_]+)`", text, re.MULTILINE))
    from bastion.stream.settings import ConsumeSettings

    read = set(ENVIRONMENT.values()) | set(ServeSettings.ENVIRONMENT.values()) | set(ConsumeSettings.ENVIRONMENT.values())
    assert read <= rows, f"undocumented: {sorted(read - rows)}"
    # and every BASTION_ variable the code mentions anywhere is in the table
    mentioned = set()
    for path in PACKAGE.rglob("*.py"):
        mentioned |= set(re.findall(r"\bBASTION_[A-Z0-9_]*[A-Z0-9]\b", path.read_text(encoding="utf-8")))
    assert mentioned <= rows, f"undocumented: {sorted(mentioned - rows)}"


def test_serve_workers_rebuild_the_same_settings_from_what_the_command_exported(monkeypatch, tmp_path):
    import os

    from bastion.config import export_for_workers

    policy = tmp_path / "policy.yaml"
    policy.write_text("x", encoding="utf-8")
    monkeypatch.setenv("BASTION_URL_MEDIA_HOSTS", "a.example")
    monkeypatch.setenv("BASTION_VAULT_KEYS", "k1:c2VjcmV0")
    monkeypatch.setenv("BASTION_NCMEC_INDUSTRY_MOU", "true")
    given = ServeSettings.from_env(database_url="sqlite:////flag.db", policy_path=policy, background=False,
                                   examine_workers=3)
    saved = dict(os.environ)
    try:
        export_for_workers(given)
        rebuilt = ServeSettings.from_env()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert rebuilt == given
    assert rebuilt.background is False and rebuilt.examine_workers == 3 and rebuilt.database_url == "sqlite:////flag.db"
    assert rebuilt.vault_keys.get_secret_value() == "k1:c2VjcmV0" and rebuilt.ncmec_industry_mou is True
