"""`bastion text`, `bastion lexicon check`, `bastion eval text` (issue 4; being built)."""

from bastion.cli.app import app  # noqa: F401
