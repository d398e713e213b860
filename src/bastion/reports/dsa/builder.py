"""Statements of reasons (DSA art. 17, submitted to the Transparency Database under art. 24(5)) made from
what Bastion knows about a decision. Pure: a :class:`StatementInput` in, a statement ``dict`` out.

How the fields are chosen:

* ``category`` is ``STATEMENT_CATEGORY_PROTECTION_OF_MINORS``; ``category_specification`` is
  ``KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL``, or ``..._DEEPFAKE`` when the material was generated (provenance
  confirmed by the reviewer, or a bank of generated material matched).
* ``content_type`` follows the media of the item (image, video, text), plus ``CONTENT_TYPE_SYNTHETIC_MEDIA``
  when generated.
* ``automated_detection`` is ``Yes`` when any automated source (hash, provenance, text, account link,
  likeness to confirmed material) found
  it, ``No`` when only a person's notice did.
* ``automated_decision`` is ``AUTOMATED_DECISION_FULLY`` when the policy decided with no person,
  ``..._PARTIALLY`` when a person decided on a case where an automated action had already been applied
  (e.g. removed pending review), ``..._NOT_AUTOMATED`` when a person decided first.
* ``source_type`` is ``SOURCE_VOLUNTARY`` for Bastion's own detection, ``SOURCE_ARTICLE_16`` when a user's
  notice started it (``SOURCE_TRUSTED_FLAGGER`` when the notifier is one).
* ``decision_ground`` is illegal content by default, with the configured legal ground and explanation; a
  platform acting on its terms instead configures the incompatible-content ground.
* ``decision_facts`` says how the material was found and decided, in clinical terms; it never describes it.
* The ground and the facts follow the signals that fired: a decision resting on text alone (an offer or a
  request in words, ``basis="text"``) never says that material was identified.
* A temporary suspension is ``DECISION_ACCOUNT_SUSPENDED`` with ``end_date_account_restriction``; a
  permanent one is the configured ``account_decision`` (terminated by default).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

from bastion.reports.dsa import enums as E

AUTOMATED_SOURCES = ("hash", "provenance", "text", "account", "similarity")
SOURCE_WORDS = {
    "hash": "a match against a hash list of known material",
    "provenance": "AI-generation provenance in the file",
    "text": "text signals in the item",
    "account": "a link to an account with confirmed material",
    "similarity": "likeness to material a reviewer had confirmed (a perceptual hash near it, not a match)",
    "user_report": "a notice from a user",
    "trusted_flagger": "a notice from a trusted flagger",
}
VISIBILITY_OF_ACTION = {
    "remove": "DECISION_VISIBILITY_CONTENT_REMOVED",
    "disable": "DECISION_VISIBILITY_CONTENT_DISABLED",
    "label": "DECISION_VISIBILITY_CONTENT_LABELLED",
    "age_restrict": "DECISION_VISIBILITY_CONTENT_AGE_RESTRICTED",
}
CONTENT_TYPE_OF_MEDIA = {"image": "CONTENT_TYPE_IMAGE", "video": "CONTENT_TYPE_VIDEO", "text": "CONTENT_TYPE_TEXT", "audio": "CONTENT_TYPE_AUDIO"}

DEFAULT_LEGAL_GROUND = (
    "Directive 2011/93/EU on combating the sexual abuse and sexual exploitation of children, Article 5, "
    "and the national law transposing it"
)
DEFAULT_ILLEGAL_EXPLANATION = (
    "The content was identified as child sexual abuse material, whose distribution and possession are offences "
    "under the legal ground cited."
)
#: when only the item's text was found (an offer or a request, no image or video identified): the statement
#: must not say that any material was identified
DEFAULT_TEXT_EXPLANATION = (
    "The text of the item offers or seeks child sexual abuse material; offering, supplying or making such "
    "material available is an offence under the legal ground cited. No image or video of the item was "
    "identified as such material."
)


@dataclass(frozen=True)
class DsaConfig:
    """A platform's standing choices for its statements."""

    territorial_scope: tuple[str, ...] = E.EUROPEAN_COUNTRY_CODES
    ground: str = "DECISION_GROUND_ILLEGAL_CONTENT"
    legal_ground: str = DEFAULT_LEGAL_GROUND
    illegal_explanation: str = DEFAULT_ILLEGAL_EXPLANATION
    incompatible_ground: str = "Terms of service: sexual content involving minors, real or generated, is prohibited"
    incompatible_explanation: str = "The content was identified as sexual material involving minors, which the terms prohibit."
    text_explanation: str = DEFAULT_TEXT_EXPLANATION
    incompatible_text_explanation: str = "The text of the item offers or seeks sexual material involving minors, which the terms prohibit."
    incompatible_illegal: str = "Yes"
    reference_url: str | None = None
    #: what a permanent ``suspend_account`` means on this platform for a statement (a temporary one is always
    #: ``DECISION_ACCOUNT_SUSPENDED`` with its end date)
    account_decision: str = "DECISION_ACCOUNT_TERMINATED"
    puid_prefix: str = "bastion"


@dataclass(frozen=True)
class StatementInput:
    decision_id: int
    actions: tuple[str, ...]
    content_date: date
    application_date: date
    media: tuple[str, ...] = ("image",)  # image | video | text | audio
    generated: bool = False
    sources: tuple[str, ...] = ("hash",)  # hash | provenance | text | account | user_report | trusted_flagger
    decided_by_person: bool = True
    automated_action_first: bool = False
    language: str | None = None
    case_id: int | None = None
    item_ref: str | None = None
    #: with ``suspend_account``: ``temporary`` (until ``suspension_end``) or ``permanent``
    suspension: str | None = None
    suspension_end: date | None = None
    #: what the decision rests on: ``media`` (an image or video was identified: a hash match, provenance or a
    #: person's look) or ``text`` (only text signals fired: an offer or a request in words)
    basis: str = "media"
    #: the text combinations that fired (named in the facts of a text-based statement)
    text_reasons: tuple[str, ...] = ()
    #: an automated removal has no decision row: its statement is keyed by case and item instead
    automated_removal: bool = False


def puid_for(config: DsaConfig, inp: StatementInput) -> str:
    """Stable per decision and item (re-exporting never makes a second puid for the same statement)."""
    base = f"{config.puid_prefix}-auto-c{inp.case_id}" if inp.automated_removal else f"{config.puid_prefix}-d{inp.decision_id}"
    if inp.item_ref:
        digest = hashlib.sha256(inp.item_ref.encode()).hexdigest()[:12]
        base += f"-i{digest}"
    return base


def restricts(actions) -> bool:
    return any(a in VISIBILITY_OF_ACTION or a == "suspend_account" for a in actions)


def build_statement(inp: StatementInput, config: DsaConfig = DsaConfig()) -> dict | None:
    """The statement for a decision, or ``None`` when the decision restricts nothing (no statement is due)."""
    visibility = sorted({VISIBILITY_OF_ACTION[a] for a in inp.actions if a in VISIBILITY_OF_ACTION})
    account = None
    if "suspend_account" in inp.actions:
        account = "DECISION_ACCOUNT_SUSPENDED" if inp.suspension == "temporary" else config.account_decision
    if not visibility and not account:
        return None
    types = sorted({CONTENT_TYPE_OF_MEDIA[m] for m in inp.media if m in CONTENT_TYPE_OF_MEDIA})
    if inp.generated:
        types.append("CONTENT_TYPE_SYNTHETIC_MEDIA")
    other = None
    if not types:  # the kind of the content is not known: the database then needs it said in words
        types, other = ["CONTENT_TYPE_OTHER"], "user-generated item of unrecorded kind"
    automated_detection = "Yes" if any(s in AUTOMATED_SOURCES for s in inp.sources) else "No"
    if not inp.decided_by_person:
        automated_decision = "AUTOMATED_DECISION_FULLY"
    elif inp.automated_action_first:
        automated_decision = "AUTOMATED_DECISION_PARTIALLY"
    else:
        automated_decision = "AUTOMATED_DECISION_NOT_AUTOMATED"
    if "trusted_flagger" in inp.sources:
        source = "SOURCE_TRUSTED_FLAGGER"
    elif "user_report" in inp.sources:
        source = "SOURCE_ARTICLE_16"
    else:
        source = "SOURCE_VOLUNTARY"

    found = "; ".join(SOURCE_WORDS[s] for s in inp.sources if s in SOURCE_WORDS) or "review"
    decided = "a reviewer confirmed it" if inp.decided_by_person else "the platform's rules decided it automatically"
    facts = f"Found through {found}; {decided}."
    text_only = inp.basis == "text"
    if text_only:
        facts += " The decision rests on the item's text"
        facts += f" ({', '.join(r.replace('_', ' ') for r in inp.text_reasons)})." if inp.text_reasons else "."
        facts += " No image or video of the item was identified as abuse material."
    if inp.generated and not text_only:
        facts += " The material was identified as AI-generated."

    st: dict = {
        "puid": puid_for(config, inp),
        "decision_ground": config.ground,
        "category": "STATEMENT_CATEGORY_PROTECTION_OF_MINORS",
        "category_specification": [
            "KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL_DEEPFAKE" if inp.generated else "KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL"
        ],
        "content_type": types,
        "territorial_scope": list(config.territorial_scope),
        "content_date": inp.content_date.isoformat(),
        "application_date": inp.application_date.isoformat(),
        "decision_facts": facts,
        "source_type": source,
        "automated_detection": automated_detection,
        "automated_decision": automated_decision,
    }
    if other:
        st["content_type_other"] = other
    if visibility:
        st["decision_visibility"] = visibility
    if account:
        st["decision_account"] = account
        if inp.suspension == "temporary" and inp.suspension_end is not None:
            st["end_date_account_restriction"] = inp.suspension_end.isoformat()
    if config.ground == "DECISION_GROUND_ILLEGAL_CONTENT":
        st["illegal_content_legal_ground"] = config.legal_ground
        st["illegal_content_explanation"] = config.text_explanation if text_only else config.illegal_explanation
    else:
        st["incompatible_content_ground"] = config.incompatible_ground
        st["incompatible_content_explanation"] = config.incompatible_text_explanation if text_only else config.incompatible_explanation
        st["incompatible_content_illegal"] = config.incompatible_illegal
    if config.reference_url:
        st["decision_ground_reference_url"] = config.reference_url
    lang = (inp.language or "").upper()
    if lang in E.LANGUAGES:
        st["content_language"] = lang
    return st

