"""The ``bastion`` command. Each command group lives in its own module and registers on :data:`app`.

Exit statuses: 0 nothing matched / success, 1 something matched, 2 usage or fatal error.
"""

from __future__ import annotations

from bastion.cli.app import app

# Command modules register themselves on import.
# One module per line, so that adding a command group never conflicts with another.
from bastion.cli import audit_cmd  # noqa: E402,F401
from bastion.cli import bank_cmd  # noqa: E402,F401
from bastion.cli import demo_cmd  # noqa: E402,F401
from bastion.cli import inspect_cmd  # noqa: E402,F401
from bastion.cli import policy_cmd  # noqa: E402,F401
from bastion.cli import report_cmd  # noqa: E402,F401
from bastion.cli import scan_cmd  # noqa: E402,F401
from bastion.cli import serve_cmd  # noqa: E402,F401
from bastion.cli import text_cmd  # noqa: E402,F401
from bastion.cli import webhook_cmd  # noqa: E402,F401


def main() -> None:
    app()
