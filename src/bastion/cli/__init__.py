"""The ``bastion`` command. Each command group lives in its own module and registers on :data:`app`.

Exit statuses: 0 nothing matched / success, 1 something matched, 2 usage or fatal error.
"""

from __future__ import annotations

from bastion.cli.app import app

# Command modules register themselves on import.
from bastion.cli import bank_cmd, demo_cmd, inspect_cmd, policy_cmd, scan_cmd, text_cmd  # noqa: E402,F401


def main() -> None:
    app()
