"""Which module defines each ``bastion`` command, and the one line ``bastion --help`` shows for it.

Command modules import what their commands need (SQLAlchemy, Pillow, numpy, the text lexicons…), which
costs far more than the command line itself. So the root group (:class:`bastion.cli.toplevel.BastionGroup`)
imports a command's module only when that command runs or its own help is asked for, and lists commands
from this table. ``tests/cli/test_cli_startup.py`` checks the table against the real commands, so a line
here cannot drift from the command's docstring.
"""

from __future__ import annotations

#: name -> (module that registers it on ``bastion.cli.app.app``, short help as the real command gives it).
#: The order is the order of ``bastion --help``.
COMMANDS: dict[str, tuple[str, str]] = {
    "scan": ("bastion.cli.scan_cmd", "Scan files against the hash banks, with AI-generation provenance and text signals."),
    "hash": ("bastion.cli.scan_cmd", "Print MD5, SHA-1, SHA-256 and PDQ (with quality) of files."),
    "demo": ("bastion.cli.demo_cmd", "Make a benign demo corpus, a demo bank standing in for a known list, scan it and explain each result."),
    "init": ("bastion.cli.init_cmd", "Create the store (BASTION_HOME or --database-url) and bring it to the latest schema."),
    "inspect": ("bastion.cli.inspect_cmd", "Show AI-generation provenance: generator, prompts, model and seed, C2PA credentials, invisible watermark."),
    "stats": ("bastion.cli.report_cmd", "Transparency statistics: decisions by category, action, detection source, automated vs human; median hours detection -> decision -> report; DSA art."),
    "serve": ("bastion.cli.serve_cmd", "Run the HTTP service: items in, explained verdicts out (see the README for a curl example)."),
    "consume": ("bastion.cli.consume_cmd", "Read items from a message broker (RabbitMQ, NATS JetStream) and publish their verdicts to another queue, at-least-once."),
    "text": ("bastion.cli.text_cmd", "Find text signals (minor, sexual, trade, coded, contact, payment, price) and score them."),
    "audit": ("bastion.cli.audit_cmd", "The append-only, hash-chained audit log."),
    "bank": ("bastion.cli.bank_cmd", "Hash banks: named lists of known hashes to match against."),
    "policy": ("bastion.cli.policy_cmd", "Check, try and replay policy files (rules over signals -> actions)."),
    "report": ("bastion.cli.report_cmd", "Reports: NCMEC CyberTipline and EU DSA statements of reasons."),
    "vault": ("bastion.cli.report_cmd", "The evidence vault: encrypted originals, chain of custody, retention, legal holds."),
    "user": ("bastion.cli.serve_cmd", "Users of the service and the console (roles: admin, lead, reviewer, auditor, integration)."),
    "token": ("bastion.cli.serve_cmd", "API tokens: shown once, stored hashed, revocable."),
    "lexicon": ("bastion.cli.text_cmd", "Validate lexicon files (YAML or CSV) before deploying them."),
    "eval": ("bastion.cli.text_cmd", "Evaluate detectors against a labelled corpus."),
    "terms": ("bastion.cli.terms_cmd", "Emerging coded terms: ranked candidates, and the platform's own lexicon (add, remove, reject)."),
    "webhook": ("bastion.cli.webhook_cmd", "Webhook subscriptions, their dead letters and delivery."),
}


def load_all_commands() -> None:
    """Import every command module, so that ``typer.main.get_command(app)`` holds every command (for code
    that walks the whole command tree; the command line itself never needs this)."""
    import importlib

    for module in dict.fromkeys(module for module, _ in COMMANDS.values()):
        importlib.import_module(module)
