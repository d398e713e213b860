"""Turn the service's case dict into what the case page shows: texts with their matched spans highlighted,
bank matches per media, provenance with positive and negative prompts kept apart, C2PA and watermark facts,
image classifier scores with the model that gave them.

Pure functions over plain dicts (no database), so they are tested without a server.
"""

from __future__ import annotations

import html
import re
from typing import Any, Iterable

from bastion.console.safemedia import SAFE_MAX_SIDE

#: Bidirectional-text controls: marks, embeddings, overrides and isolates. Shown, never obeyed, in the console.
BIDI_CONTROLS = ("\u061c", "\u200e", "\u200f", *map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A)))
_VISIBLE = {ord(ch): f"<U+{ord(ch):04X}>" for ch in BIDI_CONTROLS}
_VISIBLE_HTML = {ord(ch): f"&lt;U+{ord(ch):04X}&gt;" for ch in BIDI_CONTROLS}


def visible_controls(text: str, *, html: bool = False) -> str:
    """``text`` with each bidirectional control replaced by its code point in sight, as ``<U+202E>``
    (escaped as ``&lt;U+202E&gt;`` when ``html`` says the text is markup already)."""
    return text.translate(_VISIBLE_HTML if html else _VISIBLE)


def highlight_spans(text: str | None, spans: Iterable[tuple[int, int, str]]) -> str:
    """HTML of ``text`` with each (start, end, label) span wrapped in ``<mark>``; overlapping spans merge.

    Everything is escaped; spans outside the text are clipped or ignored rather than trusted."""
    if not text:
        return ""
    n = len(text)
    clean = sorted((max(0, s), min(n, e), label) for s, e, label in spans
                   if isinstance(s, int) and isinstance(e, int) and s < e and s < n and e > 0)
    merged: list[list[Any]] = []
    for s, e, label in clean:
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
            if label not in merged[-1][2]:
                merged[-1][2].append(label)
        else:
            merged.append([s, e, [label]])
    out, pos = [], 0
    for s, e, labels in merged:
        out.append(html.escape(text[pos:s]))
        title = html.escape(", ".join(labels), quote=True)
        out.append(f'<mark title="{title}">{html.escape(text[s:e])}</mark>')
        pos = e
    out.append(html.escape(text[pos:]))
    return "".join(out)


def highlight_terms(text: str | None, terms: Iterable[str], label: str = "term") -> str:
    """Highlight every case-insensitive occurrence of ``terms`` (for texts whose signals carry no span)."""
    if not text:
        return ""
    spans = []
    for t in {t for t in terms if t and t.strip()}:
        for m in re.finditer(re.escape(t), text, flags=re.IGNORECASE):
            spans.append((m.start(), m.end(), label))
    return highlight_spans(text, spans)


def _label(s: dict) -> str:
    rule = (s.get("evidence") or {}).get("rule")
    return f"{s.get('category', '')}" + (f" ({rule})" if rule else "")


def _signals(item: dict) -> list[dict]:
    facts = item.get("facts") or {}
    sig = item.get("signals")
    if sig is None:
        sig = facts.get("signals") or []
    return [s for s in sig if isinstance(s, dict)]


def _box(width: Any, height: Any) -> tuple[int, int]:
    """Display size of the derivative, so the page does not jump while it loads."""
    try:
        w, h = int(width), int(height)
    except (TypeError, ValueError):
        return SAFE_MAX_SIDE, SAFE_MAX_SIDE * 3 // 4
    if w <= 0 or h <= 0:
        return SAFE_MAX_SIDE, SAFE_MAX_SIDE * 3 // 4
    scale = min(1.0, SAFE_MAX_SIDE / max(w, h))
    return max(1, round(w * scale)), max(1, round(h * scale))


def _provenance(result: dict, prompt_terms: list[str]) -> dict | None:
    prov = result.get("provenance") or {}
    if not prov:
        return None
    generators, positive, negative, traces = [], [], [], []
    for p in prov.get("provenances") or []:
        if p.get("generator"):
            generators.append(str(p["generator"]) + (f" · model {p['model']}" if p.get("model") else ""))
        if p.get("positive_prompt") or p.get("prompt"):
            positive.append(p.get("positive_prompt") or p.get("prompt"))
        if p.get("negative_prompt"):
            negative.append(p["negative_prompt"])
        for pp in p.get("positive_prompts") or []:
            positive.append(pp)
        for npp in p.get("negative_prompts") or []:
            negative.append(npp)
        if p.get("ai_generated"):
            traces.append({"trace": "metadata", "reason": p.get("evidence") or p.get("generator")})
    for pp in prov.get("positive_prompts") or []:
        positive.append(pp)
    for npp in prov.get("negative_prompts") or []:
        negative.append(npp)
    c2pa = prov.get("c2pa") or None
    if isinstance(c2pa, dict) and c2pa.get("ai_generated"):
        traces.append({"trace": "c2pa", "reason": c2pa.get("ai_evidence") or "C2PA says AI-generated"})
    wm_raw = prov.get("watermark") or {}
    if isinstance(wm_raw, dict):
        for hit in wm_raw.get("hits") or []:
            if isinstance(hit, dict):
                traces.append({"trace": "watermark", "reason": f"{hit.get('scheme', '')} invisible watermark "
                                                               f"({hit.get('matched')}/{hit.get('total')} bits)"})
    if isinstance(c2pa, dict):
        c2pa = {k: v for k, v in c2pa.items() if v not in (None, "", [], {}) and not isinstance(v, (dict, list))}
    wm = prov.get("watermark") or None
    if isinstance(wm, dict):
        wm = {k: v for k, v in wm.items() if v not in (None, "", [], {}) and not isinstance(v, (dict, list))}
    dedup = lambda xs: list(dict.fromkeys(str(x) for x in xs if x))  # noqa: E731
    return {
        "generators": dedup(generators),
        "positive": [highlight_terms(p, prompt_terms, "prompt signal") for p in dedup(positive)],
        "negative": dedup(negative),
        "traces": traces,
        "c2pa": c2pa or None,
        "watermark": wm or None,
    }


def _classifiers(signals: list[dict], index: int) -> list[dict]:
    """The image classifiers' results for media ``index``: name, scores, model and version, or why none."""
    out = []
    for s in signals:
        ev = s.get("evidence") or {}
        if s.get("source") != "classifier" or not isinstance(ev, dict) or ev.get("media") != index:
            continue
        scores = ev.get("scores") if isinstance(ev.get("scores"), dict) else {}
        out.append({
            "name": str(ev.get("classifier") or s.get("category") or "?"),
            "status": str(ev.get("status") or "ok"),
            "scores": [(str(k), _score(v)) for k, v in scores.items()],
            "model": str(ev.get("model") or ""),
            "version": str(ev.get("version") or ""),
            "ms": ev.get("ms"),
            "error": str(ev.get("error") or ""),
        })
    return out


def _score(v: Any) -> str:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    return str(int(v)) if float(v).is_integer() else f"{v:.2f}"


def _matched(item: dict, s: dict) -> str | None:
    """The text a signal's span covers in its field (title or body), if it has one."""
    text, span = item.get(s.get("field") or ""), s.get("span")
    if s.get("field") in ("title", "body") and isinstance(text, str) and isinstance(span, (list, tuple)) \
            and len(span) == 2 and all(isinstance(x, int) for x in span) and 0 <= span[0] < span[1] <= len(text):
        return text[span[0]:span[1]]
    return None


_RELATION = {"same": "the same account", "linked": "an account linked to it", "other": "an unrelated account"}


def _similar(evidence: list[dict], position: Any) -> list[dict]:
    """The similar-to-confirmed evidence of one media (nearest first), with the account relation in words."""
    rows = [{**e, "account_text": _RELATION.get(str(e.get("account")), str(e.get("account") or "?"))}
            for e in evidence if e.get("media") == position and isinstance(e.get("case_id"), int)]
    return sorted(rows, key=lambda e: (e.get("distance") if isinstance(e.get("distance"), int) else 999))


def case_view(case: dict) -> dict:
    items = []
    for item in case.get("items") or []:
        signals = _signals(item)
        text = [s for s in signals if s.get("source") == "text"]
        by_field: dict[str, list[tuple[int, int, str]]] = {}
        for s in text:
            span = s.get("span")
            if isinstance(span, (list, tuple)) and len(span) == 2:
                by_field.setdefault(s.get("field") or "body", []).append((span[0], span[1], _label(s)))
        tag_terms = {str(s.get("term") or "").lower().lstrip("#") for s in text if s.get("field") == "tag"}
        tag_terms |= {str(s.get("normalized") or "").lower() for s in text if s.get("field") == "tag"}
        prompt_terms = [str(s.get("term")) for s in text if s.get("field") == "prompt" and s.get("term")]
        similar = [s.get("evidence") or {} for s in signals if s.get("source") == "similarity"]
        media = []
        for index, m in enumerate(item.get("media") or []):
            result = m.get("result") or m  # the service spreads the scan result into the media dict
            media.append({
                **m,
                "classifiers": _classifiers(signals, index),
                "matches": [x for x in (result.get("matches") or []) if isinstance(x, dict)],
                "provenance": _provenance(result, prompt_terms),
                "similar": _similar(similar, m.get("position")),
                "errors": [e for e in (result.get("errors") or []) if isinstance(e, dict)],
                "box_w": _box(m.get("width"), m.get("height"))[0],
                "box_h": _box(m.get("width"), m.get("height"))[1],
            })
        verdict = item.get("verdict") or {}
        tags = item.get("tags") or []
        items.append({
            "external_id": item.get("item_id") or item.get("external_id"),
            "kind": item.get("kind", "item"),
            "action": item.get("action") or verdict.get("action") or "",
            "parent": item.get("parent_id") or item.get("parent_external_id"),
            "price": item.get("price"),
            "title_html": highlight_spans(item.get("title"), by_field.get("title", [])),
            "body_html": highlight_spans(item.get("body"), by_field.get("body", [])),
            "tags": [{"text": str(t).lstrip("#"), "hit": str(t).lower().lstrip("#") in tag_terms} for t in tags],
            "media": media,
            "text_signals": [{"field": s.get("field"), "category": s.get("category"), "term": s.get("term"),
                              "matched": _matched(item, s),
                              "language": s.get("language"), "rule": (s.get("evidence") or {}).get("rule")}
                             for s in text],
            "reasons": [r for r in (verdict.get("reasons") or []) if isinstance(r, dict)],
        })
    return {"items": items}
