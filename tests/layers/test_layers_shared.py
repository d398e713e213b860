"""Helpers that exist once (issue 19, item 6): every caller gets the same behaviour."""

from __future__ import annotations

import pytest

from bastion.masking import mask_secrets


@pytest.mark.parametrize("text, expected", [
    ("postgresql+psycopg://user:s3cr%40t@db:5432/x", "postgresql+psycopg://user:***@db:5432/x"),
    ("host=db password=s3cret user=u", "host=db password=*** user=u"),
    ("host=db pwd=s3cret user=u", "host=db pwd=*** user=u"),
    ("Server=db;UID=u;PWD=s3cret;Database=x", "Server=db;UID=u;PWD=***;Database=x"),
    ("host=db passwd = s3cret", "host=db passwd = ***"),
    ("dbname=x password='two words' user=u", "dbname=x password=*** user=u"),
    ('could not connect to "postgresql://u:pw@h/x"', 'could not connect to "postgresql://u:***@h/x"'),
    ("sqlite:////tmp/a.db", "sqlite:////tmp/a.db"),
])
def test_one_masker_hides_every_spelling_of_a_password(text, expected):
    assert mask_secrets(text) == expected


def test_the_cli_and_the_store_share_the_masker(capsys):
    from bastion.cli.toplevel import print_error
    from bastion.store.db import mask_url

    assert mask_url("host=db pwd=s3cret") == "host=db pwd=***"
    print_error("connection failed: host=db pwd=s3cret port=5432")
    printed = capsys.readouterr().err
    assert "s3cret" not in printed and "pwd=***" in printed


def test_one_list_of_decision_outcomes_and_actions():
    from bastion.cases.schemas import DecisionIn
    from bastion.model import DECISION_ACTIONS, DECISION_OUTCOMES
    from bastion.policy.language import ACTIONS, SIDE_ACTIONS

    assert set(DECISION_ACTIONS) == set(ACTIONS) | set(SIDE_ACTIONS)  # a reviewer can take every policy action
    assert "review" in DECISION_ACTIONS
    assert DecisionIn(outcome="confirm", actions=["review", "suspend_account"]).actions == ["review", "suspend_account"]
    with pytest.raises(ValueError):
        DecisionIn(outcome="maybe")
    assert set(DECISION_OUTCOMES) == {"confirm", "reject"}


def test_the_claim_lasts_the_same_by_default_everywhere():
    import inspect

    from bastion.api import routes
    from bastion.cases import service

    assert inspect.signature(service.claim_case).parameters["ttl_seconds"].default == service.CLAIM_TTL_SECONDS
    assert inspect.signature(routes.claim_case).parameters["ttl_seconds"].default.default == service.CLAIM_TTL_SECONDS


def test_one_helper_reads_naive_times_as_utc():
    from datetime import datetime, timedelta, timezone

    from bastion.clock import as_utc

    assert as_utc(datetime(2026, 1, 2, 3, 4)) == datetime(2026, 1, 2, 3, 4, tzinfo=timezone.utc)
    plus_two = datetime(2026, 1, 2, 5, 4, tzinfo=timezone(timedelta(hours=2)))
    assert as_utc(plus_two).utcoffset() == timedelta(0) and as_utc(plus_two) == plus_two
    assert as_utc(None) is None


def test_no_module_but_the_clock_reads_naive_times_itself():
    import re
    from pathlib import Path

    import bastion

    root = Path(bastion.__file__).parent
    # any zone given to a naive time, UTC or another timestamp's (``created.replace(tzinfo=received.tzinfo)``)
    copies = {p.relative_to(root).as_posix() for p in root.rglob("*.py")
              if re.search(r"replace\(tzinfo=", p.read_text(encoding="utf-8"))}
    assert copies == {"clock.py"}


def test_one_list_of_video_formats():
    """Which stored formats are videos is bastion.media.formats' to say: the retro-matcher (vPDQ frames) and
    the reports (``video`` in a statement) use its set, never a list of their own."""
    import ast
    from pathlib import Path
    from types import SimpleNamespace

    import bastion
    from bastion.media.formats import VIDEO_FORMATS
    from bastion.reports.from_cases import _media_kinds

    root = Path(bastion.__file__).parent
    lists = set()
    for p in root.rglob("*.py"):
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                literals = {c.value for c in ast.walk(node.value) if isinstance(c, ast.Constant)}
                if {"mp4", "webm"} <= literals:
                    lists.add(p.relative_to(root).as_posix())
    assert lists == {"media/formats.py"}
    item = SimpleNamespace(title=None, body=None, tags=[])
    for fmt in VIDEO_FORMATS:
        assert _media_kinds(item, [SimpleNamespace(media_format=fmt.upper())]) == ("video",)
    assert _media_kinds(item, [SimpleNamespace(media_format="png"), SimpleNamespace(media_format="mov")]) == ("video", "image")
