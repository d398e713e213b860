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
