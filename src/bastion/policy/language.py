"""The policy language: YAML rules read from the node tree (so every problem names its line), checked
against the vocabulary below, and compiled once into plain closures that :mod:`bastion.policy.engine`
runs per item.

Why a hand-written reader over ``yaml.compose`` rather than a pydantic model: a policy is written by a
trust-and-safety engineer, not a programmer, and a wrong rule silently never firing is the worst outcome.
Every mistake (unknown key, unknown action/level/category/source, wrong type, duplicate rule name, empty
condition) is reported with ``file:line`` and *all* mistakes are reported at once.

A compiled condition is a function ``test(view) -> list | None``: ``None`` when it does not hold, else the
evidence that made it hold (Signal objects, or Signal-shaped dicts for item and account facts).
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Iterable

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from bastion.model import BANK_CATEGORIES, Signal
from bastion.policy.facts import ITEM_KINDS, Facts

__all__ = ["ACTIONS", "ACTION_ORDER", "LEVELS", "SIDE_ACTIONS", "SIGNAL_CATEGORIES", "Rule", "View", "parse_policy",
           "signal_categories"]

#: The action ladder, weakest first; a verdict's ``action`` is the strongest one fired.
ACTIONS: tuple[str, ...] = ("allow", "label", "review", "remove")
#: Actions taken beside the ladder (they never change ``action``).
SIDE_ACTIONS: tuple[str, ...] = ("suspend_account", "report", "preserve")
ACTION_ORDER: dict[str, int] = {a: i for i, a in enumerate(ACTIONS + SIDE_ACTIONS)}
#: Text levels a rule may ask for (``>=``); "none" is not one: it would always hold.
LEVELS: tuple[str, ...] = ("low", "medium", "high", "critical")
_LEVEL_RANK = {"none": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
#: Signal sources and the categories each produces today. Extend here when a detector adds one.
SIGNAL_CATEGORIES: dict[str, tuple[str, ...]] = {
    "text": ("minor", "sexual", "trade", "coded", "contact", "payment", "price", "mention"),
    "hash": ("hash_match",),
    "provenance": ("ai_generated", "generator", "prompt"),
    "similarity": ("similar_to_confirmed",),
    # the built-in image classifiers' names, and the statuses of one that did not answer (bastion.classifiers)
    "classifier": ("photoreal", "nudity", "faces", "http", "unavailable", "error"),
}
#: Scores the built-in image classifiers give, and ``young_face``, which the default policy reads from a plug-in
#: or external classifier (none ships: docs/classifiers.md). A ``classifier`` condition may name others.
CLASSIFIER_SCORES: tuple[str, ...] = ("photoreal", "nudity", "faces", "face_area", "young_face")


@lru_cache(maxsize=1)
def signal_categories() -> dict[str, tuple[str, ...]]:
    """:data:`SIGNAL_CATEGORIES` plus every indicator category the text lexicons know (a category added to
    the lexicons, such as ``real``, becomes usable in rules without a change here)."""
    from bastion.text.lexicon import KNOWN_CATEGORIES

    extra = sorted(c for c in KNOWN_CATEGORIES if c not in ("benign", "vocab") and c not in SIGNAL_CATEGORIES["text"])
    return {**SIGNAL_CATEGORIES, "text": SIGNAL_CATEGORIES["text"] + tuple(extra)}


TEXT_FIELDS: tuple[str, ...] = ("title", "tag", "body", "comment", "prompt", "negative_prompt", "message")
HASH_TYPES: tuple[str, ...] = ("md5", "sha1", "sha256", "pdq")
ALLOW_LIST = "known-benign"
COUNTING_BANK_CATEGORIES: tuple[str, ...] = tuple(c for c in BANK_CATEGORIES if c != ALLOW_LIST)
TRACES: tuple[str, ...] = ("metadata", "c2pa", "watermark")
C2PA_STATES: tuple[str, ...] = ("Trusted", "Valid", "Invalid")
#: how an item's account stands to a confirmed case's (bastion.cases.similar)
SIMILAR_ACCOUNTS: tuple[str, ...] = ("same", "linked", "other")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")

Evidence = list  # of Signal | dict
Test = Callable[["View"], "Evidence | None"]


# --- what a rule sees of one item ------------------------------------------------------------------


class View:
    """One item's facts as the compiled rules read them, built once per evaluation.

    Allow-list (``known-benign``) hash matches are dropped here, once, so no condition can ever count one.
    """

    __slots__ = ("facts", "signals", "_by_source", "_text_counted")

    def __init__(self, facts: Facts):
        self.facts = facts
        sigs = facts.signals
        if any(s.source == "hash" and s.evidence.get("category") == ALLOW_LIST for s in sigs):
            sigs = tuple(s for s in sigs if not (s.source == "hash" and s.evidence.get("category") == ALLOW_LIST))
        self.signals = sigs
        self._by_source: dict[str, list[Signal]] | None = None
        self._text_counted: list[Signal] | None = None

    def by_source(self, source: str) -> list[Signal]:
        if self._by_source is None:
            groups: dict[str, list[Signal]] = {}
            for s in self.signals:
                groups.setdefault(s.source, []).append(s)
            self._by_source = groups
        return self._by_source.get(source, [])

    def text_counted(self) -> list[Signal]:
        """Text signals that counted toward the text score (negative prompts and the like do not)."""
        if self._text_counted is None:
            self._text_counted = [s for s in self.by_source("text") if s.evidence.get("counted", True) is not False]
        return self._text_counted


def _fact(source: str, category: str, **evidence: Any) -> dict[str, Any]:
    """Evidence that is not a detector signal (item and account facts), in the same shape as a signal."""
    return {"source": source, "category": category, "evidence": evidence}


# --- the rules -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rule:
    """One compiled rule. ``when`` is the condition as written (plain data), for display."""

    name: str
    description: str
    actions: tuple[str, ...]
    priority: int
    raise_priority: int
    when: Any
    line: int
    test: Test


@dataclass(frozen=True, slots=True)
class ParsedPolicy:
    name: str
    description: str
    rules: tuple[Rule, ...]
    warnings: tuple[tuple[str, int, str], ...]


class _Reader:
    """Walks the YAML node tree, collecting ``(file, line, message)`` problems instead of stopping at one."""

    def __init__(self, path: str, known_combinations: dict[str, tuple[str, ...]]):
        self.path = path
        self.problems: list[tuple[str, int, str]] = []
        self.warnings: list[tuple[str, int, str]] = []
        self.combinations = known_combinations
        self._constructor = SafeConstructor()

    # -- primitives --

    def err(self, node: Node, msg: str) -> None:
        self.problems.append((self.path, node.start_mark.line + 1, msg))

    def warn(self, node: Node, msg: str) -> None:
        self.warnings.append((self.path, node.start_mark.line + 1, msg))

    def value(self, node: Node) -> Any:
        return self._constructor.construct_object(node, deep=True)

    def mapping(self, node: Node, what: str, allowed: Iterable[str] | None = None) -> dict[str, tuple[Node, Node]] | None:
        """The entries of a mapping node by key; unknown and duplicate keys are reported (and skipped)."""
        if not isinstance(node, MappingNode):
            self.err(node, f"{what}: expected a mapping (key: value), got {_kind(node, self)}")
            return None
        allowed = tuple(allowed) if allowed is not None else None
        out: dict[str, tuple[Node, Node]] = {}
        for k, v in node.value:
            key = self.value(k) if isinstance(k, ScalarNode) else None
            if not isinstance(key, str):
                self.err(k, f"{what}: keys must be names, got {_kind(k, self)}")
                continue
            if key in out:
                self.err(k, f"{what}: duplicate key {key!r} (first on line {out[key][0].start_mark.line + 1})")
                continue
            if allowed is not None and key not in allowed:
                self.err(k, f"{what}: unknown key {key!r}{_suggest(key, allowed)}; allowed: {', '.join(allowed)}")
                continue
            out[key] = (k, v)
        return out

    def string(self, node: Node, what: str) -> str | None:
        v = self.value(node) if isinstance(node, ScalarNode) else None
        if not isinstance(v, str) or not v.strip():
            self.err(node, f"{what}: expected a non-empty string, got {_kind(node, self)}")
            return None
        return v.strip()

    def integer(self, node: Node, what: str, lo: int, hi: int | None = None) -> int | None:
        v = self.value(node) if isinstance(node, ScalarNode) else None
        if isinstance(v, bool) or not isinstance(v, int):
            self.err(node, f"{what}: expected a whole number, got {_kind(node, self)}")
            return None
        if v < lo or (hi is not None and v > hi):
            self.err(node, f"{what}: {v} is out of range ({lo}..{hi})" if hi is not None
                     else f"{what}: {v} is out of range (at least {lo})")
            return None
        return v

    def number(self, node: Node, what: str, lo: float | None = None, hi: float | None = None) -> float | None:
        v = self.value(node) if isinstance(node, ScalarNode) else None
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v:
            self.err(node, f"{what}: expected a number, got {_kind(node, self)}")
            return None
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            rng = (f"{lo}..{hi}" if lo is not None and hi is not None
                   else f"at least {lo}" if lo is not None else f"at most {hi}")
            self.err(node, f"{what}: {v} is out of range ({rng})")
            return None
        return float(v)

    def boolean(self, node: Node, what: str) -> bool | None:
        v = self.value(node) if isinstance(node, ScalarNode) else None
        if not isinstance(v, bool):
            self.err(node, f"{what}: expected true or false, got {_kind(node, self)}")
            return None
        return v

    def names(self, node: Node, what: str, allowed: Iterable[str] | None = None, noun: str = "value") -> tuple[str, ...] | None:
        """One name or a list of names; each must be one of ``allowed`` when given."""
        items = node.value if isinstance(node, SequenceNode) else [node]
        if isinstance(node, SequenceNode) and not items:
            self.err(node, f"{what}: empty list")
            return None
        allowed = tuple(allowed) if allowed is not None else None
        out: list[str] = []
        ok = True
        for item in items:
            v = self.value(item) if isinstance(item, ScalarNode) else None
            if isinstance(v, (int, float)) and not isinstance(v, bool) and allowed is None:
                v = str(v)  # a label or tier such as 18 or 1.5 is still a name
            if not isinstance(v, str) or not v.strip():
                self.err(item, f"{what}: expected a name or a list of names, got {_kind(item, self)}")
                ok = False
                continue
            v = v.strip()
            if allowed is not None and v not in allowed:
                self.err(item, f"{what}: unknown {noun} {v!r}{_suggest(v, allowed)}; known: {', '.join(allowed)}")
                ok = False
                continue
            out.append(v)
        return tuple(dict.fromkeys(out)) if ok else None

    def bounds(self, node: Node, what: str, whole: bool, lo: float = 0, hi: float | None = None) -> tuple[Any, Any] | None:
        """``{min: x, max: y}`` (either or both): an inclusive range."""
        m = self.mapping(node, what, ("min", "max"))
        if m is None:
            return None
        if not m:
            self.err(node, f"{what}: empty range; give min, max or both")
            return None
        get = (lambda n, w: self.integer(n, w, int(lo), None if hi is None else int(hi))) if whole else \
              (lambda n, w: self.number(n, w, lo, hi))
        lo_v = get(m["min"][1], f"{what}.min") if "min" in m else None
        hi_v = get(m["max"][1], f"{what}.max") if "max" in m else None
        if ("min" in m and lo_v is None) or ("max" in m and hi_v is None):
            return None
        if lo_v is not None and hi_v is not None and lo_v > hi_v:
            self.err(node, f"{what}: min {lo_v} is greater than max {hi_v}")
            return None
        return lo_v, hi_v

    # -- the document --

    def policy(self, root: Node | None) -> ParsedPolicy | None:
        if root is None:
            self.problems.append((self.path, 1, "the policy file is empty; expected 'version' and 'rules'"))
            return None
        top = self.mapping(root, "policy", ("version", "name", "description", "rules"))
        if top is None:
            return None
        if "version" in top:
            vnode = top["version"][1]
            if self.integer(vnode, "version", 0) not in (None, 1):
                self.err(vnode, f"version: unsupported version {self.value(vnode)}; the only version is 1")
        name = self.string(top["name"][1], "name") if "name" in top else ""
        description = self.string(top["description"][1], "description") if "description" in top else ""
        if "rules" not in top:
            self.err(root, "policy: missing 'rules' (a list of rules)")
            return None
        rules_node = top["rules"][1]
        if not isinstance(rules_node, SequenceNode):
            self.err(rules_node, f"rules: expected a list of rules, got {_kind(rules_node, self)}")
            return None
        if not rules_node.value:
            self.err(rules_node, "rules: the list is empty; a policy needs at least one rule")
        rules: list[Rule] = []
        seen: dict[str, int] = {}
        for i, node in enumerate(rules_node.value):
            rule = self.rule(node, i, seen)
            if rule is not None:
                rules.append(rule)
        return ParsedPolicy(name or "", description or "", tuple(rules), tuple(self.warnings))

    def rule(self, node: Node, index: int, seen: dict[str, int]) -> Rule | None:
        what = f"rules[{index}]"
        peek = _peek_name(node)
        if peek:
            what = f"rule {peek!r}" if peek not in seen else f"rules[{index}] ({peek!r})"
        m = self.mapping(node, what, ("name", "description", "when", "actions", "priority", "raise_priority", "enabled"))
        if m is None:
            return None
        name = None
        if "name" not in m:
            self.err(node, f"{what}: missing 'name'")
        else:
            name_node = m["name"][1]
            name = self.string(name_node, f"{what}.name")
            if name is not None:
                if not _NAME_RE.match(name):
                    self.err(name_node, f"{what}.name: {name!r} must be lower-case letters, digits, '-', '_' or '.'")
                    name = None
                elif name in seen:
                    self.err(name_node, f"rule {name!r}: duplicate rule name (first defined on line {seen[name]})")
                    name = None
                else:
                    seen[name] = name_node.start_mark.line + 1
        problems_before = len(self.problems)
        description = self.string(m["description"][1], f"{what}.description") if "description" in m else ""
        enabled = self.boolean(m["enabled"][1], f"{what}.enabled") if "enabled" in m else True
        actions: tuple[str, ...] = ()
        if "actions" in m:
            actions = self.names(m["actions"][1], f"{what}.actions", ACTIONS + SIDE_ACTIONS, "action") or ()
        priority = self.integer(m["priority"][1], f"{what}.priority", 0, 100) if "priority" in m else 0
        raise_by = self.integer(m["raise_priority"][1], f"{what}.raise_priority", 1, 100) if "raise_priority" in m else 0
        if "actions" not in m and "raise_priority" not in m:
            self.err(node, f"{what}: needs 'actions' (what to do when it fires), 'raise_priority', or both")
        if "priority" in m and "actions" not in m:
            self.err(m["priority"][0], f"{what}: 'priority' without 'actions' has no effect; use 'raise_priority'")
        test = None
        if "when" not in m:
            self.err(node, f"{what}: missing 'when' (the condition)")
        else:
            test = self.condition(m["when"][1], f"{what}.when")
        if name is None or test is None or len(self.problems) > problems_before or enabled is None:
            return None
        if not enabled:
            return None
        return Rule(name, description or "", tuple(sorted(actions, key=ACTION_ORDER.__getitem__)), priority or 0,
                    raise_by or 0, self.value(m["when"][1]), node.start_mark.line + 1, test)

    # -- conditions --

    def condition(self, node: Node, what: str) -> Test | None:
        if isinstance(node, ScalarNode) and self.value(node) is None:
            self.err(node, f"{what}: empty condition; name at least one of {', '.join(_CONDITIONS)}")
            return None
        m = self.mapping(node, what, _CONDITIONS)
        if m is None:
            return None
        if not m:
            if not (isinstance(node, MappingNode) and node.value):  # not just a mapping of only unknown keys
                self.err(node, f"{what}: empty condition; name at least one of {', '.join(_CONDITIONS)}")
            return None
        tests: list[Test] = []
        ok = True
        for key, (_, v) in m.items():
            t = getattr(self, "c_" + key)(v, f"{what}.{key}")
            if t is None:
                ok = False
            else:
                tests.append(t)
        if not ok:
            return None
        return tests[0] if len(tests) == 1 else _all(tests)

    def _conditions(self, node: Node, what: str) -> list[Test] | None:
        if not isinstance(node, SequenceNode):
            self.err(node, f"{what}: expected a list of conditions, got {_kind(node, self)}")
            return None
        if not node.value:
            self.err(node, f"{what}: empty list of conditions")
            return None
        tests = [self.condition(n, f"{what}[{i}]") for i, n in enumerate(node.value)]
        return None if any(t is None for t in tests) else tests  # type: ignore[return-value]

    def c_all(self, node: Node, what: str) -> Test | None:
        tests = self._conditions(node, what)
        return None if tests is None else (tests[0] if len(tests) == 1 else _all(tests))

    def c_any(self, node: Node, what: str) -> Test | None:
        tests = self._conditions(node, what)
        return None if tests is None else _any(tests)

    def c_not(self, node: Node, what: str) -> Test | None:
        inner = self.condition(node, what)
        if inner is None:
            return None

        def test(v: View) -> Evidence | None:
            return [] if inner(v) is None else None

        return test

    def c_signal(self, node: Node, what: str) -> Test | None:
        m = self.mapping(node, what, ("source", "category", "field", "language", "term", "min_weight", "min_count"))
        if m is None:
            return None
        if not m:
            self.err(node, f"{what}: empty condition; give at least a source or a category")
            return None
        vocabulary = signal_categories()
        sources = self.names(m["source"][1], f"{what}.source", tuple(vocabulary), "source") if "source" in m else None
        if "category" in m:
            known = tuple(dict.fromkeys(c for s in (sources or vocabulary) for c in vocabulary[s]))
            categories = self.names(m["category"][1], f"{what}.category", known, "category")
        else:
            categories = None
        fields = self.names(m["field"][1], f"{what}.field", TEXT_FIELDS, "text field") if "field" in m else None
        languages = self.names(m["language"][1], f"{what}.language") if "language" in m else None
        terms = self.names(m["term"][1], f"{what}.term") if "term" in m else None
        min_weight = self.number(m["min_weight"][1], f"{what}.min_weight", 0.0, 1.0) if "min_weight" in m else None
        min_count = self.integer(m["min_count"][1], f"{what}.min_count", 1) if "min_count" in m else 1
        if any(x is None for k, x in (("source", sources), ("category", categories), ("field", fields),
                                      ("language", languages), ("term", terms), ("min_weight", min_weight),
                                      ("min_count", min_count)) if k in m):
            return None
        if "source" not in m and "category" not in m:
            self.err(node, f"{what}: give a source or a category (a field or term alone is ambiguous)")
            return None
        source_set = frozenset(sources) if sources else None
        cat_set = frozenset(categories) if categories else None
        field_set = frozenset(fields) if fields else None
        lang_set = frozenset(languages) if languages else None
        term_set = frozenset(t.casefold() for t in terms) if terms else None
        # Signals that did not count toward the text score (negative prompts) match only when asked for by field.
        uncounted_ok = field_set is not None and "negative_prompt" in field_set
        need = min_count or 1

        def test(v: View) -> Evidence | None:
            if source_set is not None and len(source_set) == 1:
                pool: Iterable[Signal] = v.by_source(next(iter(source_set)))
            else:
                pool = v.signals
            hits = []
            for s in pool:
                if ((source_set is None or s.source in source_set)
                        and (cat_set is None or s.category in cat_set)
                        and (field_set is None or s.field in field_set)
                        and (lang_set is None or s.language in lang_set)
                        and (min_weight is None or s.weight >= min_weight)
                        and (term_set is None or (s.term or "").casefold() in term_set
                             or (s.normalized or "").casefold() in term_set)
                        and (uncounted_ok or s.evidence.get("counted", True) is not False)):
                    hits.append(s)
            return hits if len(hits) >= need else None

        return test

    def c_hash_match(self, node: Node, what: str) -> Test | None:
        m = self.mapping(node, what, ("bank_category", "bank", "label", "hash_type", "max_distance"))
        if m is None:
            return None
        if not m:
            self.err(node, f"{what}: empty condition; give at least bank_category (e.g. [csam, csam-generated])")
            return None
        cats = None
        if "bank_category" in m:
            n = m["bank_category"][1]
            items = n.value if isinstance(n, SequenceNode) else [n]
            if any(isinstance(i, ScalarNode) and i.value == ALLOW_LIST for i in items):
                self.err(n, f"{what}.bank_category: {ALLOW_LIST!r} banks are allow-lists and their matches never count")
                return None
            cats = self.names(n, f"{what}.bank_category", COUNTING_BANK_CATEGORIES, "bank category")
        banks = self.names(m["bank"][1], f"{what}.bank") if "bank" in m else None
        labels = self.names(m["label"][1], f"{what}.label") if "label" in m else None
        types = self.names(m["hash_type"][1], f"{what}.hash_type", HASH_TYPES, "hash type") if "hash_type" in m else None
        max_d = self.integer(m["max_distance"][1], f"{what}.max_distance", 0, 256) if "max_distance" in m else None
        if any(x is None for k, x in (("bank_category", cats), ("bank", banks), ("label", labels),
                                      ("hash_type", types), ("max_distance", max_d)) if k in m):
            return None
        cat_set = frozenset(cats) if cats else None
        bank_set = frozenset(banks) if banks else None
        label_set = frozenset(labels) if labels else None
        type_set = frozenset(types) if types else None

        def test(v: View) -> Evidence | None:
            hits = []
            for s in v.by_source("hash"):
                ev = s.evidence
                if (s.category == "hash_match"
                        and (cat_set is None or ev.get("category") in cat_set)
                        and (bank_set is None or ev.get("bank") in bank_set)
                        and (label_set is None or ev.get("label") in label_set)
                        and (type_set is None or ev.get("hash_type") in type_set)
                        and (max_d is None or (ev.get("distance") or 0) <= max_d)):
                    hits.append(s)
            return hits or None

        return test

    def c_text_level(self, node: Node, what: str) -> Test | None:
        v = self.value(node) if isinstance(node, ScalarNode) else None
        if v == "none":
            self.err(node, f"{what}: 'none' would hold for every item; use low, medium, high or critical")
            return None
        names = self.names(node, what, LEVELS, "text level") if isinstance(node, ScalarNode) else None
        if names is None:
            if not isinstance(node, ScalarNode):
                self.err(node, f"{what}: expected one level ({', '.join(LEVELS)}), got {_kind(node, self)}")
            return None
        rank = _LEVEL_RANK[names[0]]

        def test(v: View) -> Evidence | None:
            f = v.facts
            if _LEVEL_RANK.get(f.text_level, 0) < rank:
                return None
            return [_fact("item", "text_level", level=f.text_level, score=f.text_score), *v.text_counted()]

        return test

    def c_text_score(self, node: Node, what: str) -> Test | None:
        low = self.number(node, what, 0.0, 1.0)
        if low is None:
            return None

        def test(v: View) -> Evidence | None:
            f = v.facts
            if f.text_score < low:
                return None
            return [_fact("item", "text_score", level=f.text_level, score=f.text_score), *v.text_counted()]

        return test

    def c_text_combination(self, node: Node, what: str) -> Test | None:
        names = self.names(node, what)
        if names is None:
            return None
        for n in names:
            if n not in self.combinations:
                self.warn(node, f"{what}: text combination {n!r} is not in the default scoring config; "
                                "the condition holds only if a scoring config defines it")
        combos = {n: frozenset(self.combinations.get(n, ())) for n in names}

        def test(v: View) -> Evidence | None:
            fired = [n for n in v.facts.text_combinations if n in combos]
            if not fired:
                return None
            cats = frozenset().union(*(combos[n] for n in fired))
            return [*(_fact("item", "text_combination", name=n) for n in fired),
                    *(s for s in v.text_counted() if s.category in cats)]

        return test

    def c_provenance(self, node: Node, what: str) -> Test | None:
        m = self.mapping(node, what, ("ai_generated", "trace", "generator", "c2pa_state", "min_weight"))
        if m is None:
            return None
        if not m:
            self.err(node, f"{what}: empty condition; e.g. ai_generated: true")
            return None
        if "ai_generated" in m:
            flag = self.boolean(m["ai_generated"][1], f"{what}.ai_generated")
            if flag is False:
                self.err(m["ai_generated"][1], f"{what}.ai_generated: only 'true' is allowed -- missing provenance "
                                               "proves nothing (metadata is easily stripped), so a rule cannot rely on it")
            if flag is not True:
                return None
        traces = self.names(m["trace"][1], f"{what}.trace", TRACES, "trace") if "trace" in m else None
        gens = self.names(m["generator"][1], f"{what}.generator") if "generator" in m else None
        states = self.names(m["c2pa_state"][1], f"{what}.c2pa_state", C2PA_STATES, "C2PA state") if "c2pa_state" in m else None
        min_weight = self.number(m["min_weight"][1], f"{what}.min_weight", 0.0, 1.0) if "min_weight" in m else None
        if any(x is None for k, x in (("trace", traces), ("generator", gens), ("c2pa_state", states),
                                      ("min_weight", min_weight)) if k in m):
            return None
        trace_set = frozenset(traces) if traces else None
        state_set = frozenset(states) if states else None
        if state_set is not None:
            trace_set = frozenset({"c2pa"}) if trace_set is None else trace_set & {"c2pa"}
            if not trace_set:
                self.err(m["c2pa_state"][0], f"{what}: c2pa_state only applies to the c2pa trace")
                return None
        patterns = tuple(g.casefold() for g in gens) if gens else None
        want_ai = "ai_generated" in m or trace_set is not None or patterns is None

        def ai_ok(s: Signal) -> bool:
            ev = s.evidence
            return ((trace_set is None or ev.get("trace") in trace_set)
                    and (state_set is None or ev.get("validation_state") in state_set)
                    and (min_weight is None or s.weight >= min_weight))

        def gen_ok(s: Signal) -> bool:
            name = str(s.evidence.get("generator") or "").casefold()
            return (any(fnmatch.fnmatchcase(name, p) for p in patterns)  # type: ignore[union-attr]
                    and (min_weight is None or s.weight >= min_weight))

        def test(v: View) -> Evidence | None:
            sigs = v.by_source("provenance")
            ai = [s for s in sigs if s.category == "ai_generated" and ai_ok(s)] if want_ai else []
            if want_ai and not ai:
                return None
            if patterns is not None:
                gen = [s for s in sigs if s.category == "generator" and gen_ok(s)]
                if not gen:
                    return None
                return ai + gen
            return ai

        return test

    def c_classifier(self, node: Node, what: str) -> Test | None:
        """``classifier: {photoreal: {min: 0.5}, nudity: {min: 0.8}}``: image classifier scores, every named
        range holding **on the same media file** of the item. Evidence: that file's classifier signals."""
        m = self.mapping(node, what)
        if m is None:
            return None
        if not m:
            self.err(node, f"{what}: empty condition; name scores with ranges, e.g. nudity: {{min: 0.8}}")
            return None
        ranges: list[tuple[str, Any, Any]] = []
        ok = True
        for key, (knode, vnode) in m.items():
            if not _NAME_RE.match(key):
                self.err(knode, f"{what}: score name {key!r} must be lower-case letters, digits, '-', '_' or '.'")
                ok = False
                continue
            if key not in CLASSIFIER_SCORES:
                self.warn(knode, f"{what}: {key!r} is not a score of the built-in classifiers "
                                 f"({', '.join(CLASSIFIER_SCORES[:-1])}) nor young_face; the condition holds only where a plug-in gives it")
            b = self.bounds(vnode, f"{what}.{key}", whole=False, lo=-1e9)
            if b is None:
                ok = False
            else:
                ranges.append((key, *b))
        if not ok:
            return None

        def test(v: View) -> Evidence | None:
            by_media: dict[Any, tuple[dict[str, float], list[Signal]]] = {}
            for s in v.by_source("classifier"):
                scores = s.evidence.get("scores")
                if not isinstance(scores, dict) or s.evidence.get("status", "ok") != "ok":
                    continue
                got, sigs = by_media.setdefault(s.evidence.get("media"), ({}, []))
                for k, x in scores.items():
                    if isinstance(x, (int, float)) and not isinstance(x, bool):
                        got[k] = max(got.get(k, float(x)), float(x))  # two classifiers, one score: the higher
                sigs.append(s)
            for got, sigs in by_media.values():
                if all(k in got and (lo is None or got[k] >= lo) and (hi is None or got[k] <= hi) for k, lo, hi in ranges):
                    return list(sigs)
            return None

        return test

    def c_price(self, node: Node, what: str) -> Test | None:
        m = self.mapping(node, what, ("present", "tier", "has_tier", "currency", "min_amount", "max_amount"))
        if m is None:
            return None
        if not m:
            self.err(node, f"{what}: empty condition; e.g. present: true")
            return None
        present = self.boolean(m["present"][1], f"{what}.present") if "present" in m else True
        tiers = self.names(m["tier"][1], f"{what}.tier") if "tier" in m else None
        has_tier = self.boolean(m["has_tier"][1], f"{what}.has_tier") if "has_tier" in m else None
        currencies = self.names(m["currency"][1], f"{what}.currency") if "currency" in m else None
        lo = self.number(m["min_amount"][1], f"{what}.min_amount", 0.0) if "min_amount" in m else None
        hi = self.number(m["max_amount"][1], f"{what}.max_amount", 0.0) if "max_amount" in m else None
        if any(x is None for k, x in (("present", present), ("tier", tiers), ("has_tier", has_tier),
                                      ("currency", currencies), ("min_amount", lo), ("max_amount", hi)) if k in m):
            return None
        if present is False and len(m) > 1:
            self.err(node, f"{what}: 'present: false' cannot be combined with other price conditions")
            return None
        tier_set = frozenset(t.casefold() for t in tiers) if tiers else None
        cur_set = frozenset(c.upper() for c in currencies) if currencies else None

        def test(v: View) -> Evidence | None:
            p = v.facts.price
            if p is None:
                return [_fact("item", "price", present=False)] if present is False else None
            if present is False:
                return None
            if has_tier is not None and bool(p.tier) != has_tier:
                return None
            if tier_set is not None and (p.tier or "").casefold() not in tier_set:
                return None
            if cur_set is not None and (p.currency or "").upper() not in cur_set:
                return None
            if lo is not None and (p.amount is None or p.amount < lo):
                return None
            if hi is not None and (p.amount is None or p.amount > hi):
                return None
            return [_fact("item", "price", amount=p.amount, currency=p.currency, tier=p.tier)]

        return test

    def c_kind(self, node: Node, what: str) -> Test | None:
        kinds = self.names(node, what, ITEM_KINDS, "item kind")
        if kinds is None:
            return None
        kind_set = frozenset(kinds)

        def test(v: View) -> Evidence | None:
            return [_fact("item", "kind", kind=v.facts.kind)] if v.facts.kind in kind_set else None

        return test

    def c_media_count(self, node: Node, what: str) -> Test | None:
        b = self.bounds(node, what, whole=True)
        if b is None:
            return None
        lo, hi = b

        def test(v: View) -> Evidence | None:
            n = v.facts.media_count
            if (lo is not None and n < lo) or (hi is not None and n > hi):
                return None
            return [_fact("item", "media_count", media_count=n)]

        return test

    def c_account(self, node: Node, what: str) -> Test | None:
        fields = {"prior_confirmed": (True, None), "linked_flagged": (True, None), "items": (True, None),
                  "risk": (False, 1.0), "age_days": (False, None)}
        m = self.mapping(node, what, ("known", *fields))
        if m is None:
            return None
        if not m:
            self.err(node, f"{what}: empty condition; e.g. prior_confirmed: {{min: 1}}")
            return None
        known = self.boolean(m["known"][1], f"{what}.known") if "known" in m else True
        ranges: list[tuple[str, Any, Any]] = []
        ok = known is not None
        for key, (whole, hi) in fields.items():
            if key in m:
                b = self.bounds(m[key][1], f"{what}.{key}", whole=whole, hi=hi)
                if b is None:
                    ok = False
                else:
                    ranges.append((key, *b))
        if not ok:
            return None
        if known is False and ranges:
            self.err(node, f"{what}: 'known: false' cannot be combined with account history conditions")
            return None

        def test(v: View) -> Evidence | None:
            a = v.facts.account
            if a is None:
                return [_fact("account", "known", known=False)] if known is False else None
            if known is False:
                return None
            out = []
            for key, lo, hi in ranges:
                x = getattr(a, key)
                if x is None or (lo is not None and x < lo) or (hi is not None and x > hi):
                    return None
                out.append(_fact("account", key, account=a.id, **{key: x}))
            return out or [_fact("account", "known", account=a.id)]

        return test

    def c_similar_to_confirmed(self, node: Node, what: str) -> Test | None:
        """An image near a confirmed case's media (``source: similarity``): never a match, a ranking signal."""
        m = self.mapping(node, what, ("max_distance", "account", "min_count"))
        if m is None:
            return None
        if not m:
            self.err(node, f"{what}: empty condition; e.g. max_distance: 64 or account: [same, linked]")
            return None
        max_d = self.integer(m["max_distance"][1], f"{what}.max_distance", 0, 256) if "max_distance" in m else None
        accounts = (self.names(m["account"][1], f"{what}.account", SIMILAR_ACCOUNTS, "account relation")
                    if "account" in m else None)
        min_count = self.integer(m["min_count"][1], f"{what}.min_count", 1) if "min_count" in m else 1
        if any(x is None for k, x in (("max_distance", max_d), ("account", accounts), ("min_count", min_count))
               if k in m):
            return None
        account_set = frozenset(accounts) if accounts else None
        need = min_count or 1

        def test(v: View) -> Evidence | None:
            hits = []
            for s in v.by_source("similarity"):
                ev = s.evidence
                d = ev.get("distance")
                if (s.category == "similar_to_confirmed"
                        and (max_d is None or (isinstance(d, int) and d <= max_d))
                        and (account_set is None or ev.get("account") in account_set)):
                    hits.append(s)
            return hits if len(hits) >= need else None

        return test


_CONDITIONS: tuple[str, ...] = ("all", "any", "not", "signal", "hash_match", "text_level", "text_score",
                                "text_combination", "provenance", "classifier", "price", "kind", "media_count",
                                "account", "similar_to_confirmed")


def _all(tests: list[Test]) -> Test:
    def test(v: View) -> Evidence | None:
        out: Evidence = []
        for t in tests:
            r = t(v)
            if r is None:
                return None
            out.extend(r)
        return out

    return test


def _any(tests: list[Test]) -> Test:
    def test(v: View) -> Evidence | None:
        out: Evidence | None = None
        for t in tests:  # every branch runs: the reason lists all that held, not just the first
            r = t(v)
            if r is not None:
                out = r if out is None else out + r
        return out

    return test


def _peek_name(node: Node) -> str | None:
    """The rule's name as written, to label problems found before the name itself is checked."""
    if isinstance(node, MappingNode):
        for k, v in node.value:
            if isinstance(k, ScalarNode) and k.value == "name" and isinstance(v, ScalarNode) and v.value.strip():
                return v.value.strip()
    return None


def _kind(node: Node, reader: _Reader) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    v = reader.value(node)
    if v is None:
        return "nothing (null)"
    return f"{type(v).__name__} {v!r}"


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def parse_policy(text: str, path: str, known_combinations: dict[str, tuple[str, ...]]) -> tuple[ParsedPolicy | None, list]:
    """Read and check one policy document: ``(parsed or None, problems)``."""
    reader = _Reader(path, known_combinations)
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        return None, [(path, line, f"not valid YAML: {exc.problem or exc}")]
    except yaml.YAMLError as exc:
        return None, [(path, 1, f"not valid YAML: {exc}")]
    parsed = reader.policy(root)
    problems = sorted(reader.problems, key=lambda p: p[1])  # stable: same-line problems keep their order
    return (parsed if not problems else None), problems


try:  # the C composer is faster; both give node marks
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - libyaml missing
    _Loader = yaml.SafeLoader
