"""The policy engine: declarative YAML rules over an item's signals, text score, provenance, price and
account history, evaluated into an explained :class:`Verdict`.

    from bastion.policy import Facts, default_policy
    verdict = default_policy().evaluate(Facts(item_id="p-1", text_level="high"))

See ``docs/policy.md`` for the language and the shipped ``default.yaml``.
"""

from bastion.policy.engine import DEFAULT_POLICY_PATH, Policy, Reason, Verdict, default_policy, load_policy
from bastion.policy.errors import InvalidFacts, InvalidPolicy, PolicyUnreadable
from bastion.policy.facts import ITEM_KINDS, AccountFacts, Facts, PriceFacts
from bastion.policy.language import ACTIONS, LEVELS, SIDE_ACTIONS, SIGNAL_CATEGORIES

__all__ = [
    "ACTIONS",
    "AccountFacts",
    "DEFAULT_POLICY_PATH",
    "Facts",
    "ITEM_KINDS",
    "InvalidFacts",
    "InvalidPolicy",
    "LEVELS",
    "Policy",
    "PolicyUnreadable",
    "PriceFacts",
    "Reason",
    "SIDE_ACTIONS",
    "SIGNAL_CATEGORIES",
    "Verdict",
    "default_policy",
    "load_policy",
]
