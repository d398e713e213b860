"""C2PA Content Credentials via ``c2pa-python`` (offline): who signed, what the actions declare, and whether
the manifest still matches the file.

The manifest answers two different questions, kept apart here:

- *Is it machine-made?* ``c2pa.actions`` entries carry an IPTC ``digitalSourceType``; only
  ``trainedAlgorithmicMedia`` and ``compositeWithTrainedAlgorithmicMedia`` mean generative AI.
- *Can we believe it?* ``validation_state`` is ``Trusted`` (signature chains to a configured anchor),
  ``Valid`` (intact, signer not on a trust list) or ``Invalid`` (e.g. ``assertion.dataHash.mismatch``: the
  bytes changed after signing). An invalid AI claim is still reported: it says the original was made by AI.

Remote manifests are never fetched (no network at run time); a reference to one is reported as such.
"""

from __future__ import annotations

import functools
import io
import json
from dataclasses import dataclass, field
from typing import Any

from bastion.media.provenance.generic import is_ai_source_type, source_type_name

_MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "gif": "image/gif", "tiff": "image/tiff",
         "heic": "image/heic", "avif": "image/avif", "mp4": "video/mp4", "mov": "video/quicktime"}
# Failure codes that only say "we do not know this signer": not tampering.
_TRUST_ONLY_CODES = {"signingCredential.untrusted", "signingCredential.ocsp.skipped", "timeStamp.untrusted",
                     "signingCredential.ocsp.unknown"}


@dataclass(slots=True)
class C2paResult:
    state: str  # "Trusted" | "Valid" | "Invalid" | "Unreadable" | "Remote"
    active_manifest: str | None = None
    claim_generator: str | None = None
    title: str | None = None
    signer: dict[str, str] = field(default_factory=dict)
    actions: list[dict[str, str]] = field(default_factory=list)
    digital_source_types: list[str] = field(default_factory=list)
    ai_generated: bool = False
    ai_evidence: str | None = None
    ingredients: list[dict[str, str]] = field(default_factory=list)
    failure_codes: list[str] = field(default_factory=list)
    remote_url: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def tampered(self) -> bool:
        """True when validation failed for a reason other than an unknown signer."""
        return self.state == "Invalid" and any(c not in _TRUST_ONLY_CODES for c in self.failure_codes)

    @property
    def trusted(self) -> bool:
        return self.state == "Trusted"

    def to_dict(self) -> dict[str, Any]:
        d = {
            "state": self.state, "trusted": self.trusted, "tampered": self.tampered,
            "ai_generated": self.ai_generated, "ai_evidence": self.ai_evidence,
            "active_manifest": self.active_manifest, "claim_generator": self.claim_generator, "title": self.title,
            "signer": self.signer, "actions": self.actions, "digital_source_types": self.digital_source_types,
            "ingredients": self.ingredients, "failure_codes": self.failure_codes, "remote_url": self.remote_url,
            "notes": self.notes,
        }
        return {k: v for k, v in d.items() if v is not None and v != [] and v != {}}


@functools.lru_cache(maxsize=8)
def _context(trust_anchors_pem: str | None) -> Any:
    import c2pa as sdk

    settings: dict[str, Any] = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
    if trust_anchors_pem:
        settings["trust"] = {"trust_anchors": trust_anchors_pem}
        settings["verify"]["verify_trust"] = True
    return sdk.Context(sdk.Settings.from_dict(settings))


def read_c2pa(data: bytes, fmt: str, *, trust_anchors_pem: str | None = None) -> C2paResult | None:
    """Read the C2PA manifest store embedded in ``data``. None when there is none. Never raises."""
    import c2pa as sdk
    mime = _MIME.get(fmt, fmt)
    try:
        reader = sdk.Reader.try_create(mime, io.BytesIO(data), None, _context(trust_anchors_pem))
    except Exception as exc:  # c2pa raises its own error types for malformed or remote-only manifests
        msg = str(exc)
        if "remote" in msg.lower():
            return C2paResult(state="Remote", notes=[f"c2pa: remote manifest not fetched ({msg[:120]})"])
        return C2paResult(state="Unreadable",
                          notes=[f"c2pa: manifest present but unreadable ({type(exc).__name__}: {msg[:160]})"])
    if reader is None:
        return None
    try:
        store = json.loads(reader.json())
        remote = None if reader.is_embedded() else reader.get_remote_url()
    except Exception as exc:
        return C2paResult(state="Unreadable", notes=[f"c2pa: manifest unreadable ({type(exc).__name__}: {str(exc)[:160]})"])
    finally:
        reader.close()
    result = summarise_store(store)
    result.remote_url = remote
    return result


def summarise_store(store: dict[str, Any]) -> C2paResult:
    """Turn the Reader's JSON into a :class:`C2paResult` (pure, so it is testable on hand-made JSON)."""
    active_label = store.get("active_manifest")
    manifests = store.get("manifests") or {}
    active = manifests.get(active_label) or {}
    result = C2paResult(state=str(store.get("validation_state") or "Unknown"), active_manifest=active_label)
    result.title = active.get("title")
    gens = active.get("claim_generator_info") or []
    if gens and isinstance(gens[0], dict):
        result.claim_generator = " ".join(str(gens[0].get(k)) for k in ("name", "version") if gens[0].get(k))
    else:
        result.claim_generator = active.get("claim_generator")
    sig = active.get("signature_info") or {}
    result.signer = {k: str(sig[k]) for k in ("issuer", "common_name", "time", "alg") if sig.get(k)}
    for ing in active.get("ingredients") or []:
        result.ingredients.append({k: str(ing[k]) for k in ("title", "format", "relationship", "active_manifest")
                                   if ing.get(k)})
    # AI declarations: the active manifest first, then any ingredient manifest in the store.
    ordered = [(active_label, active)] + [(k, v) for k, v in manifests.items() if k != active_label]
    for label, manifest in ordered:
        for action in _actions(manifest):
            dst = action.get("digitalSourceType")
            entry = {"action": str(action.get("action")), "manifest": str(label)}
            if dst:
                entry["digitalSourceType"] = source_type_name(str(dst))
                result.digital_source_types.append(source_type_name(str(dst)))
                if is_ai_source_type(str(dst)) and not result.ai_generated:
                    result.ai_generated = True
                    where = "active manifest" if label == active_label else f"ingredient manifest {label}"
                    result.ai_evidence = f"C2PA {where}: {entry['action']} with digitalSourceType {entry['digitalSourceType']}"
            result.actions.append(entry)
    validation = (store.get("validation_results") or {}).get("activeManifest") or {}
    result.failure_codes = [str(f.get("code")) for f in validation.get("failure") or [] if isinstance(f, dict)]
    if not validation:
        result.failure_codes = [str(s.get("code")) for s in store.get("validation_status") or [] if isinstance(s, dict)]
    return result


def _actions(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for assertion in manifest.get("assertions") or []:
        label = str(assertion.get("label", ""))
        if label.startswith("c2pa.actions"):
            data = assertion.get("data") or {}
            out.extend(a for a in data.get("actions") or [] if isinstance(a, dict))
    return out
