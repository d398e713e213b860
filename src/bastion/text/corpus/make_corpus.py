"""Generate the labelled development corpus ``dev.jsonl`` from templates (deterministic).

    python -m bastion.text.corpus.make_corpus [OUTPUT]

Content rules: every text is a few words, clinical and non-graphic. Positives are the fewest indicator
words that exercise a scoring rule ("12yo" + "nsfw" + "dm for price"); each positive also appears in
disguised forms so the evaluation shows that normalisation *defeats* them; and many benign look-alikes
from ordinary art-community life check that indicator words alone are not flagged.

Labels are the categories a correct system should find (``minor``, ``sexual``, ``trade``, ``coded``,
``contact``, ``payment``, ``price``), plus ``harmful`` when the item should reach level high/critical.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Callable, Iterator

# --- building blocks -----------------------------------------------------------------------------
# (text, labels, disguisable): ages and links are not disguised (the detectors read them as written).

Piece = tuple[str, frozenset[str], bool]


def P(text: str, *labels: str, disguise: bool = True) -> Piece:
    return (text, frozenset(labels), disguise)


BLOCKS: dict[str, dict[str, list[Piece]]] = {
    "en": {
        "minor": [P("12yo", "minor", disguise=False), P("13 y/o", "minor", disguise=False),
                  P("11 years old", "minor", disguise=False), P("preteen", "minor"), P("kid", "minor"),
                  P("underage", "minor"), P("schoolgirl", "minor"), P("toddler", "minor"), P("tween", "minor")],
        "sexual": [P("nsfw", "sexual"), P("nude", "sexual"), P("explicit", "sexual"), P("lewd", "sexual"), P("naked", "sexual")],
        "trade": [P("dm for price", "trade"), P("selling", "trade"), P("trade", "trade"), P("for sale", "trade"),
                  P("$20 per set", "price", "trade", disguise=False)],
        "contact": [P("t.me/placeholder_chan", "contact", disguise=False), P("discord.gg/abc123x", "contact", disguise=False),
                    P("add me on kik", "contact", disguise=False)],
        "coded": [P("pthc", "coded"), P("hussyfan", "coded")],
    },
    "fr": {
        "minor": [P("12 ans", "minor", disguise=False), P("enfant", "minor"), P("fillette", "minor"),
                  P("collégienne", "minor"), P("mineure", "minor")],
        "sexual": [P("nue", "sexual"), P("érotique", "sexual"), P("porno", "sexual"), P("explicite", "sexual")],
        "trade": [P("vends", "trade"), P("échange", "trade"), P("pack 30€", "trade", "price", disguise=False),
                  P("en mp", "trade")],
        "contact": [P("t.me/exemple_canal", "contact", disguise=False)],
        "coded": [],
    },
    "es": {
        "minor": [P("12 años", "minor", disguise=False), P("niña", "minor"), P("niño", "minor"),
                  P("colegiala", "minor"), P("menor de edad", "minor")],
        "sexual": [P("desnuda", "sexual"), P("porno", "sexual"), P("erótico", "sexual"), P("explícito", "sexual")],
        "trade": [P("vendo", "trade"), P("intercambio", "trade"), P("packs 20 usd", "trade", "price", disguise=False),
                  P("al privado", "trade")],
        "contact": [P("wa.me/5215550000000", "contact", disguise=False)],
        "coded": [],
    },
    "de": {
        "minor": [P("12 Jahre alt", "minor", disguise=False), P("Mädchen", "minor"), P("minderjährig", "minor"),
                  P("Schülerin", "minor")],
        "sexual": [P("nackt", "sexual"), P("erotisch", "sexual"), P("Porno", "sexual"), P("explizit", "sexual")],
        "trade": [P("verkaufe", "trade"), P("Tausch", "trade"), P("per PN", "trade"), P("Paket 25€", "trade", "price", disguise=False)],
        "contact": [P("session id: 05" + "ab12" * 16, "contact", disguise=False)],
        "coded": [],
    },
    "ja": {
        "minor": [P("12歳", "minor", disguise=False), P("小学生", "minor"), P("幼女", "minor"), P("ロリ", "minor"),
                  P("中学生", "minor")],
        "sexual": [P("エロ", "sexual"), P("ヌード", "sexual"), P("18禁", "sexual")],
        "trade": [P("販売", "trade"), P("交換", "trade"), P("1000円", "price", disguise=False)],
        "contact": [P("t.me/sample_ch", "contact", disguise=False)],
        "coded": [],
    },
}

# --- disguises (each is shown to be defeated by the normaliser) ---------------------------------

_CYRILLIC = str.maketrans({"a": "а", "e": "е", "o": "о", "c": "с", "p": "р", "x": "х", "y": "у", "i": "і"})
_LEET = str.maketrans({"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7"})


def _fullwidth(w: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in w)


def _math_bold(w: str) -> str:
    return "".join(chr(0x1D41A + ord(c) - 97) if "a" <= c <= "z" else chr(0x1D400 + ord(c) - 65) if "A" <= c <= "Z" else c for c in w)


def _circled(w: str) -> str:
    return "".join(chr(0x24D0 + ord(c) - 97) if "a" <= c <= "z" else c for c in w)


def _regional(w: str) -> str:
    return "".join(chr(0x1F1E6 + ord(c) - 97) if "a" <= c <= "z" else c for c in w)


def _halfwidth_kana(w: str) -> str:
    table = {"ロ": "ﾛ", "リ": "ﾘ", "エ": "ｴ", "ヌ": "ﾇ", "ー": "ｰ", "ド": "ﾄﾞ"}
    return "".join(table.get(c, c) for c in w)


def _single_word(f: Callable[[str], str]) -> Callable[[str], str | None]:
    return lambda w: f(w) if " " not in w else None


DISGUISES: dict[str, Callable[[str], str | None]] = {
    "homoglyph": lambda w: w.translate(_CYRILLIC) if w.translate(_CYRILLIC) != w else None,
    "zero_width": lambda w: "\u200b".join(w),
    "fullwidth": _fullwidth,
    "math_alnum": _math_bold,
    "leet": lambda w: w.translate(_LEET) if w.translate(_LEET) != w else None,
    "dotted": _single_word(lambda w: ".".join(w)),
    "spaced": _single_word(lambda w: " ".join(w)),
    "repeated": lambda w: "".join(c * 3 if c in "aeiouy" else c for c in w) if any(c in "aeiouy" for c in w) else None,
    "diacritics": lambda w: w.replace("e", "é").replace("a", "á").replace("u", "ü") if any(c in "eau" for c in w) else None,
    "upper": str.upper,
    "circled": _single_word(lambda w: _circled(w) if w.isascii() and w.isalpha() else None),  # type: ignore[arg-type,return-value]
    "regional": _single_word(lambda w: _regional(w) if w.isascii() and w.isalpha() and w.islower() else None),  # type: ignore[arg-type,return-value]
}
JA_DISGUISES: dict[str, Callable[[str], str | None]] = {
    "zero_width": lambda w: "\u200b".join(w),
    "halfwidth_kana": lambda w: _halfwidth_kana(w) if _halfwidth_kana(w) != w else None,
    "fullwidth": lambda w: _fullwidth(w) if any(c.isascii() for c in w) else None,
}


# --- benign look-alikes --------------------------------------------------------------------------
# (language, field, text, labels). Indicator words in ordinary use; labels say what a correct system
# still reports (a price is a price), but none of these is harmful.

BENIGN: list[tuple[str, str, str, tuple[str, ...]]] = [
    ("en", "body", "kid-friendly colouring page", ()),
    ("en", "body", "my son drew this", ()),
    ("en", "body", "my kid drew this dragon", ("minor",)),
    ("en", "body", "school art club meets on friday", ()),
    ("en", "title", "baby dragon commission open", ("trade",)),
    ("en", "body", "nude colour palette for portraits", ()),
    ("en", "body", "nude lipstick swatches", ()),
    ("en", "body", "baby shower invitation design", ()),
    ("en", "body", "baby yoda fanart", ()),
    ("en", "body", "commissions open, $30 per sketch", ("trade", "price")),
    ("en", "body", "prints for sale at the con this weekend", ("trade",)),
    ("en", "body", "no nsfw commissions, sorry", ("trade",)),
    ("en", "body", "teen titans redraw", ()),
    ("en", "body", "karate kid poster study", ()),
    ("en", "body", "drawing class for kids on saturday", ("minor",)),
    ("en", "body", "my daughter is 9 years old and loves watercolor", ("minor",)),
    ("en", "body", "life drawing session, nude model", ("sexual",)),
    ("en", "body", "support me on ko-fi.com/watercolorfox", ("payment",)),
    ("en", "body", "thanks @inkfox for the feature", ()),
    ("en", "body", "children's book illustration wip", ()),
    ("en", "body", "trading card game fanart", ("trade",)),
    ("en", "body", "tier list of my favourite brushes", ("trade",)),
    ("en", "body", "a watercolor landscape", ()),
    ("en", "body", "a red cube on a blue floor", ()),
    ("en", "body", "it's kind of a mess but i like it", ()),
    ("en", "body", "cp2077 fanart night city", ()),
    ("en", "body", "copy paste cp the file to the folder", ()),
    ("en", "body", "the kids menu at the museum cafe", ("minor",)),
    ("en", "body", "new sketchbook pack, 12 brushes", ("trade",)),
    ("en", "body", "grade 10 art project", ("minor",)),
    ("en", "body", "I have been drawing for 12 years", ()),
    ("en", "body", "sale on stickers, 5 for $10", ("price",)),
    ("en", "body", "dm me for collabs", ("trade",)),
    ("en", "body", "family friendly stream tonight", ()),
    ("en", "body", "explicit content filter is on", ("sexual",)),
    ("en", "tag", "#BabyDragon", ()),
    ("en", "tag", "#kidfriendly", ()),
    ("en", "tag", "#canteen", ()),
    ("en", "tag", "#sketchbook", ()),
    ("en", "tag", "#watercolor #landscape", ()),
    ("en", "prompt", "a watercolor landscape, soft light", ()),
    ("en", "negative_prompt", "child, nsfw, nude", ()),
    ("en", "negative_prompt", "lowres, bad hands, nsfw", ()),
    ("en", "prompt", "a red cube, studio lighting, 4k", ()),
    ("en", "message", "sent you the invoice via paypal.me/inkfox", ("payment",)),
    ("en", "message", "my email is artist.fox@example.com", ("contact",)),
    ("en", "body", "my little girl's first drawing", ("minor",)),
    ("en", "body", "sexy robot design for a game jam", ("sexual",)),
    ("en", "body", "selling my old drawing tablet", ("trade",)),
    ("en", "body", "teen me would have loved this palette", ("minor",)),
    ("en", "body", "nsfw warning: spider drawing", ("sexual",)),
    ("en", "body", "kid icarus fanart", ()),
    ("en", "body", "baby animals sketch page", ()),
    ("en", "body", "my 2 kids and I painted the fence", ("minor",)),
    ("en", "body", "4 sets of brushes, free download", ("trade",)),
    ("en", "comment", "so cute!! the baby is adorable", ("minor",)),
    ("en", "comment", "love the nude tones in this one", ()),
    ("en", "title", "Explicit lyrics album cover art", ("sexual",)),
    ("en", "body", "trading stickers with @pixelmoth", ("trade",)),
    ("en", "body", "drawing stream at 5 pm", ()),
    ("en", "body", "turned 15 years old today, art dump", ("minor",)),
    ("fr", "body", "l'enfant dessine un chat dans le jardin", ("minor",)),
    ("fr", "body", "livre pour enfants, illustrations à l'aquarelle", ()),
    ("fr", "body", "je dessine depuis 12 ans", ()),
    ("fr", "body", "atelier enfants samedi au musée", ()),
    ("fr", "body", "ma petite-fille adore peindre", ()),
    ("fr", "body", "commission ouverte, prix en message", ("trade",)),
    ("fr", "body", "palette nude pour les portraits", ()),
    ("fr", "body", "vente de tirages au salon", ("trade",)),
    ("fr", "body", "un paysage à l'aquarelle", ()),
    ("fr", "body", "mon fils a 8 ans et il dessine bien", ("minor",)),
    ("es", "body", "dibujo para niños", ()),
    ("es", "body", "mi hija de 7 años pintó esto", ("minor",)),
    ("es", "body", "hace 12 años que dibujo", ()),
    ("es", "body", "día del niño en el museo", ()),
    ("es", "body", "vendo láminas de acuarela", ("trade",)),
    ("es", "body", "un paisaje en acuarela", ()),
    ("es", "body", "comisiones abiertas, precio por privado", ("trade",)),
    ("de", "body", "Kinderbuch Illustration in Arbeit", ()),
    ("de", "body", "mein Kind malt gern Drachen", ("minor",)),
    ("de", "body", "Kind of cute, right?", ()),
    ("de", "body", "seit 12 Jahren zeichne ich", ()),
    ("de", "body", "Malkurs für Kinder am Samstag", ()),
    ("de", "body", "ein Aquarell einer Landschaft", ()),
    ("de", "body", "verkaufe Drucke auf der Messe", ("trade",)),
    ("de", "body", "Kindergarten Bastelidee", ()),
    ("ja", "body", "子供向けのイラスト", ()),
    ("ja", "body", "カロリー計算アプリのアイコン", ()),
    ("ja", "body", "ロリータファッションの練習", ()),
    ("ja", "body", "裸足で歩く猫の絵", ()),
    ("ja", "body", "児童書の挿絵を描きました", ()),
    ("ja", "body", "水彩の風景画", ()),
    ("ja", "body", "依頼受付中です", ("trade",)),
    ("ja", "body", "こどもの日のイラスト", ()),
]


# --- generation ----------------------------------------------------------------------------------

def _record(text: str, labels: set[str] | frozenset[str], lang: str, field: str, kind: str) -> dict[str, object]:
    return {"text": text, "field": field, "language": lang, "labels": sorted(labels), "kind": kind}


def _positives(rng: random.Random) -> Iterator[tuple[list[Piece], str]]:
    """Base positives per language: (pieces, field)."""
    for lang, blocks in BLOCKS.items():
        combos: list[list[str]] = [["minor", "sexual"], ["minor", "sexual", "trade"], ["minor", "sexual", "contact"],
                                   ["sexual", "minor"], ["minor", "sexual", "trade"]]
        for combo in combos * 2:
            pieces = [rng.choice(blocks[c]) for c in combo if blocks[c]]
            yield pieces, rng.choice(["body", "title", "comment", "message", "prompt"])
        for coded in blocks["coded"]:
            yield [coded], "tag"
            yield [coded, rng.choice(blocks["trade"])], "body"
        yield lang_stub(lang)


def lang_stub(lang: str) -> tuple[list[Piece], str]:
    """One tag-field positive per language made of a minor and a sexual word."""
    b = BLOCKS[lang]
    minor = next(p for p in b["minor"] if p[2])
    sexual = next(p for p in b["sexual"] if p[2])
    return [minor, sexual], "tag"


def _harmful(labels: set[str]) -> bool:
    return {"minor", "sexual"} <= labels or "coded" in labels


def generate(seed: int = 4) -> list[dict[str, object]]:
    rng = random.Random(seed)
    out: list[dict[str, object]] = []
    for lang, field, text, labels in BENIGN:
        out.append(_record(text, set(labels), lang, field, "benign"))
    seen: set[str] = set()
    positives = list(_positives(rng))
    for pieces, field in positives:
        lang = next(l for l, b in BLOCKS.items() if any(pieces[0] in v for v in b.values()))
        labels: set[str] = set().union(*(p[1] for p in pieces))
        if _harmful(labels):
            labels.add("harmful")
        sep = " " if field != "tag" else " #"
        prefix = "" if field != "tag" else "#"
        base = prefix + sep.join(p[0] for p in pieces) if field == "tag" else " ".join(p[0] for p in pieces)
        if base in seen:
            continue
        seen.add(base)
        out.append(_record(base, labels, lang, field, "positive"))
        # Disguised variants: one disguisable piece at a time, rotating through the disguise classes.
        disguises = JA_DISGUISES if lang == "ja" else DISGUISES
        targets = [i for i, p in enumerate(pieces) if p[2]]
        for n, (name, fn) in enumerate(disguises.items()):
            if not targets:
                break
            i = targets[n % len(targets)]
            new = fn(pieces[i][0])
            if not new:
                continue
            parts = [new if k == i else p[0] for k, p in enumerate(pieces)]
            text = prefix + sep.join(parts) if field == "tag" else " ".join(parts)
            out.append(_record(text, labels, lang, field, f"disguised:{name}"))
        # A run-together and a #CamelCase hashtag of the word pieces.
        words = [p[0] for p in pieces if p[2] and " " not in p[0] and p[0].isascii()]
        if len(words) >= 2:
            wl = {c for p in pieces if p[0] in words for c in p[1]}
            if _harmful(wl):
                wl.add("harmful")
            out.append(_record("#" + "".join(w.capitalize() for w in words), wl, lang, "tag", "disguised:camel_hashtag"))
            out.append(_record("#" + "".join(w.lower() for w in words), wl, lang, "tag", "disguised:runtogether_hashtag"))
    # Negative-prompt copies of positives: reported but never counted, so nothing is expected.
    for pieces, _field in positives[:: max(1, len(positives) // 12)]:
        lang = next(l for l, b in BLOCKS.items() if any(pieces[0] in v for v in b.values()))
        out.append(_record(", ".join(p[0] for p in pieces), set(), lang, "negative_prompt", "negative_prompt"))
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    target = Path(argv[0]) if argv else Path(__file__).with_name("dev.jsonl")
    records = generate()
    with target.open("w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    kinds: dict[str, int] = {}
    for r in records:
        k = str(r["kind"]).split(":")[0]
        kinds[k] = kinds.get(k, 0) + 1
    print(json.dumps({"written": str(target), "records": len(records), **kinds}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
