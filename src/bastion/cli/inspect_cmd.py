"""`bastion inspect`: AI-generation provenance of files (issue 3; being built)."""

from bastion.cli.app import app  # noqa: F401
