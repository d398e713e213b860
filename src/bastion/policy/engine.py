"""A loaded policy and its verdicts: ``Policy.evaluate(facts) -> Verdict``.

``evaluate`` is pure (no I/O, no clock, no globals written) and cheap: the rules were compiled to
closures when the file was loaded, so one evaluation is a walk over a handful of functions and the
item's signals. The HTTP service calls it once per submitted item.

How a verdict is made from the rules that fired:
- ``actions`` is the union of the fired rules' actions in ladder order (``allow`` < ``label`` <
  ``review`` < ``remove``, then the side actions ``suspend_account``, ``report``, ``preserve``); when no
  ladder action fired, ``allow`` is added, so ``action`` (the strongest ladder action) is always set;
- ``priority`` is the highest priority among the fired rules with actions, plus the ``raise_priority`` of
  every fired raising rule (capped at 100); raising rules apply only when some rule asked for more than
  ``allow``: account history makes a flagged item more urgent, it does not flag a clean item by itself;
- every rule that counted becomes a :class:`Reason` with the evidence that made it hold.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from bastion.model import Signal
from bastion.policy.errors import InvalidPolicy, PolicyUnreadable
from bastion.policy.facts import Facts, signal_to_dict
from bastion.policy.language import ACTION_ORDER, ACTIONS, Rule, View, parse_policy

__all__ = ["Policy", "Reason", "Verdict", "default_policy", "load_policy", "DEFAULT_POLICY_PATH"]

_LADDER = {a: i for i, a in enumerate(ACTIONS)}


@dataclass(frozen=True, slots=True)
class Reason:
    """One fired rule: its name, what it means, what it asked for, and the evidence that made it hold.

    ``signals`` are signal dicts (``Signal.to_dict()`` shape: text spans, bank + label + distance,
    provenance facts); facts of the item or account (text level, price, prior cases) use the same shape
    with ``source`` ``"item"`` or ``"account"``.
    """

    rule: str
    description: str
    actions: tuple[str, ...]
    priority: int
    signals: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "description": self.description, "actions": list(self.actions),
                "priority": self.priority, "signals": [dict(s) for s in self.signals]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Reason:
        return cls(rule=str(d["rule"]), description=str(d.get("description", "")),
                   actions=tuple(d.get("actions", ())), priority=int(d.get("priority", 0)),
                   signals=tuple(dict(s) for s in d.get("signals", ())))


@dataclass(frozen=True, slots=True)
class Verdict:
    action: str = "allow"
    actions: tuple[str, ...] = ("allow",)
    priority: int = 0
    reasons: tuple[Reason, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "actions": list(self.actions), "priority": self.priority,
                "reasons": [r.to_dict() for r in self.reasons]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Verdict:
        return cls(action=str(d.get("action", "allow")), actions=tuple(d.get("actions", ("allow",))),
                   priority=int(d.get("priority", 0)), reasons=tuple(Reason.from_dict(r) for r in d.get("reasons", ())))

    @property
    def rules(self) -> tuple[str, ...]:
        return tuple(r.rule for r in self.reasons)


_ALLOW = Verdict()


class Policy:
    """A checked, compiled policy. Build it with :func:`load_policy`, :func:`default_policy` or
    :meth:`from_text`; it is immutable and safe to share between threads."""

    __slots__ = ("name", "description", "rules", "version", "path", "warnings")

    def __init__(self, name: str, description: str, rules: tuple[Rule, ...], version: str, path: str,
                 warnings: tuple[tuple[str, int, str], ...] = ()):
        self.name = name
        self.description = description
        self.rules = rules
        self.version = version
        self.path = path
        self.warnings = warnings

    @classmethod
    def from_text(cls, text: str, path: str = "<policy>") -> Policy:
        """Check and compile a policy document. Raises :class:`InvalidPolicy` listing every problem."""
        parsed, problems = parse_policy(text, path, _known_combinations())
        if problems or parsed is None:
            raise InvalidPolicy(problems)
        version = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
        return cls(parsed.name, parsed.description, parsed.rules, version, path, parsed.warnings)

    def to_dict(self) -> dict[str, Any]:
        """The policy as JSON-safe data (for the console and the API): each rule as written, with its line."""
        return {"name": self.name, "description": self.description, "version": self.version, "path": self.path,
                "rules": [{"name": r.name, "description": r.description, "when": r.when, "actions": list(r.actions),
                           "priority": r.priority, "raise_priority": r.raise_priority, "line": r.line}
                          for r in self.rules]}

    def __repr__(self) -> str:
        return f"Policy({self.name!r}, {len(self.rules)} rules, version {self.version})"

    def evaluate(self, facts: Facts) -> Verdict:
        """The verdict of one item. Pure and fast; see the module docstring for how rules combine."""
        view = View(facts)
        fired: list[tuple[Rule, list]] = []
        for rule in self.rules:
            ev = rule.test(view)
            if ev is not None:
                fired.append((rule, ev))
        if not fired:
            return _ALLOW
        actions: set[str] = set()
        priority = 0
        acting = False
        for rule, _ in fired:
            if rule.actions:
                actions.update(rule.actions)
                priority = max(priority, rule.priority)
                acting = acting or any(a != "allow" for a in rule.actions)
        raised = [(r, ev) for r, ev in fired if r.raise_priority and acting]
        priority = min(100, priority + sum(r.raise_priority for r, _ in raised))
        if not any(a in _LADDER for a in actions):
            actions.add("allow")
        ordered = tuple(sorted(actions, key=ACTION_ORDER.__getitem__))
        action = max((a for a in ordered if a in _LADDER), key=_LADDER.__getitem__)
        reasons = [_reason(r, ev, r.priority, r.actions) for r, ev in fired if r.actions]
        reasons.sort(key=lambda x: -x.priority)  # stable: file order among equal priorities
        reasons.extend(_reason(r, ev, r.raise_priority, (), raised=True) for r, ev in raised)
        return Verdict(action, ordered, priority, tuple(reasons))


def _reason(rule: Rule, evidence: list, priority: int, actions: tuple[str, ...], raised: bool = False) -> Reason:
    seen: set[int] = set()
    signals: list[dict[str, Any]] = []
    for e in evidence:
        if id(e) in seen:
            continue
        seen.add(id(e))
        signals.append(signal_to_dict(e) if isinstance(e, Signal) else e)
    description = rule.description
    if raised:
        note = f"raises the priority by {rule.raise_priority}"
        description = f"{description.rstrip('.')} ({note})" if description else note
    return Reason(rule.name, description, actions, priority, tuple(signals))


@lru_cache(maxsize=1)
def _known_combinations() -> dict[str, tuple[str, ...]]:
    """Names of the default scoring config's combinations and their categories (for warnings and for
    naming the text signals behind a fired combination)."""
    from bastion.text.score import default_scoring_config

    return {c.name: tuple(c.all) + tuple(c.any) for c in default_scoring_config().combinations}


DEFAULT_POLICY_PATH = "bastion/policy/default.yaml"


def load_policy(path: str | Path) -> Policy:
    """Read, check and compile a policy file. Raises :class:`InvalidPolicy` (every problem, each with its
    line) or :class:`PolicyUnreadable`."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyUnreadable(f"cannot read policy {str(p)!r}: {exc}") from None
    return Policy.from_text(text, str(p))


@lru_cache(maxsize=1)
def default_policy() -> Policy:
    """The policy shipped with Bastion (``bastion/policy/default.yaml``)."""
    text = resources.files("bastion.policy").joinpath("default.yaml").read_text(encoding="utf-8")
    return Policy.from_text(text, DEFAULT_POLICY_PATH)
