"""Start-up: a command imports what it uses and nothing heavier (a behaviour, not a timing: the times are
measured in bench/bench_startup.py). And the command table that `bastion --help` lists without importing the
command modules agrees with the real commands."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import typer.main

from bastion.cli import COMMANDS, app, load_all_commands

#: Modules no command that neither opens the store nor reads media should pay for.
HEAVY = ("sqlalchemy", "alembic", "numpy", "PIL", "cv2", "pywt", "pdqhash", "fastapi", "uvicorn", "httpx",
         "boto3", "dask", "av", "c2pa", "skimage", "cryptography", "jinja2", "xmlschema")

_PROBE = """
import json, sys
sys.argv = ["bastion", *json.loads(sys.argv[1])]
from bastion.cli import main
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
loaded = sorted({name.split(".")[0] for name in sys.modules} | {n for n in sys.modules if n.startswith("bastion.")})
sys.stderr.write("\\nMODULES " + json.dumps({"code": code, "modules": loaded}) + "\\n")
"""


def _run(*args: str) -> tuple[int, set[str], str]:
    r = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(list(args))], capture_output=True, text=True,
                       timeout=120)
    line = [ln for ln in r.stderr.splitlines() if ln.startswith("MODULES ")][-1]
    found = json.loads(line[len("MODULES "):])
    return found["code"], set(found["modules"]), r.stdout


def test_help_lists_every_command_without_importing_any_command_module():
    code, modules, out = _run("--help")
    assert code == 0
    for name in COMMANDS:
        assert f"  {name} " in out
    assert not {m for m in modules if m.endswith("_cmd")}, "bastion --help imported a command module"
    assert not set(HEAVY) & modules
    assert "pydantic" not in modules and "bastion.text" not in modules


def test_text_command_imports_the_text_stack_only():
    code, modules, out = _run("text", "a watercolor landscape at dusk")
    assert code == 0 and "none" in out
    assert "bastion.text" in modules and "bastion.cli.text_cmd" in modules
    assert not set(HEAVY) & modules, sorted(set(HEAVY) & modules)
    assert not {m for m in modules if m.startswith(("bastion.store", "bastion.media", "bastion.banks", "bastion.api"))}
    assert {m for m in modules if m.endswith("_cmd")} == {"bastion.cli.text_cmd"}


def test_version_and_a_subgroup_help_load_only_their_own_module():
    code, modules, out = _run("--version")
    assert code == 0 and out.startswith("bastion ")
    assert not {m for m in modules if m.endswith("_cmd")}
    code, modules, out = _run("bank", "--help")
    assert code == 0 and "import" in out
    assert {m for m in modules if m.endswith("_cmd")} == {"bastion.cli.bank_cmd"}


def test_the_table_agrees_with_the_real_commands():
    load_all_commands()
    real = typer.main.get_command(app).commands
    assert set(real) == set(COMMANDS), "a command is missing from bastion.cli.registry.COMMANDS (or is stale)"
    for name, (module, short_help) in COMMANDS.items():
        cmd = real[name]
        callback = cmd.callback if cmd.callback is not None else next(iter(cmd.commands.values())).callback
        assert callback.__module__ == module, name
        for limit in (30, 45, 60, 10**6):
            assert cmd.get_short_help_str(limit=limit) == typer.core.TyperCommand(name, help=short_help).get_short_help_str(limit=limit), name


@pytest.mark.parametrize("typo, suggestion", [("sacn", "scan"), ("webhok", "webhook")])
def test_a_mistyped_command_is_still_suggested(typo, suggestion):
    r = subprocess.run([sys.executable, "-c", "from bastion.cli import main; main()", typo], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and f"Did you mean '{suggestion}'" in r.stderr


def test_the_stemmer_is_the_compiled_one():
    """PyStemmer is a dependency so that snowballstemmer hands out its C stemmers (the same Snowball stems:
    compared on the corpus and lexicon words when it was added) instead of the pure-Python ones."""
    import snowballstemmer

    stemmer = snowballstemmer.stemmer("german")
    assert type(stemmer).__module__ == "Stemmer"
    assert stemmer.stemWord("kinder") == "kind"
