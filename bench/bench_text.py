"""Benchmark: text signals throughput (texts/s on one core) with >= 1,000 lexicon terms, plus the dev-corpus
evaluation. Run by hand:

    .venv/bin/python bench/bench_text.py [--texts 50000] [--repeat 3]

Every text goes through the full pipeline of :func:`bastion.text.analyze`: NFKC/casefold/homoglyph
folding, invisible-character removal, leetspeak, separators, squeezing, the Aho-Corasick lexicon pass, the
detector guards and the detectors they let through, scoring. (Offset maps are built only for texts where
something matched; that is how the library always runs, not a benchmark shortcut.)

Rates are CPU seconds of this process (``time.process_time``), so other load on the machine does not
count against them. Baselines measured in the same run, reported as ratios: ``lower+AC`` = ``str.lower`` and one automaton
pass over the raw text (no normalisation, no detectors, no scoring).

The shipped lexicon (~370 terms) is padded with neutral synthetic terms (made-up syllable words) to
reach the requested term count. Ends by printing ONE JSON line of figures.

``--compare-rev REV`` also loads ``src/bastion`` as it was at git revision REV (``git archive`` into a
temporary directory, imported in this same process under the same module names) and times its
``analyze()`` on the same texts, interleaved with the current code in chunks of 500 texts so that load
from other jobs on the machine falls on both alike. It reports the ratio, and whether both versions return
identical results (``to_dict()``) for every distinct text of the stream.
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import random
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import ahocorasick
import yaml

SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "zi", "pe", "qu", "sa", "do", "fe", "gu", "hi", "jo", "bu", "wy"]

BENIGN = [
    "my son drew this", "baby dragon commission open", "new watercolor landscape, prints available",
    "thanks @inkfox for the feature!", "commission $30 per piece, dm me", "Check out my new OC sketch",
    "kid-friendly colouring page", "school art club meets on friday", "a red cube on a blue floor",
    "speedpaint of a forest at dusk", "WIP: still fixing the hands lol", "#watercolor #landscape #sketchbook",
    "livre pour enfants, aquarelle", "un paysage à l'aquarelle", "dibujo para niños", "Kinderbuch Illustration",
    "水彩の風景画を描きました", "子供向けのイラスト", "so cute!! love the colours", "stream tonight at 8pm",
    "nude colour palette for portraits", "which brush do you use?", "ko-fi.com/inkfox if you want to support",
    "teen titans redraw challenge", "trading cards fanart", "tier list of my favourite pens",
]
POSITIVE = [
    "12yo nsfw dm for price", "n.s.f.w k1d pack", "#NsfwTeen", "preteen nude t.me/placeholder_chan",
    "fillette nue vends", "niña desnuda vendo pack", "Mädchen nackt verkaufe", "幼女 エロ 販売", "pthc",
    "ｐｒｅｔｅｅｎ ｎｓｆｗ", "13 y/o lewd $20 per set",
]


def make_texts(n: int, rng: random.Random) -> list[str]:
    """~90 % benign, ~10 % positives; benign texts get a random suffix so they are not all identical."""
    out = []
    for i in range(n):
        base = rng.choice(POSITIVE) if rng.random() < 0.1 else rng.choice(BENIGN)
        out.append(f"{base} {rng.choice(['', '', ':)', 'part 2', str(i % 97), '✨'])}".strip())
    return out


def synthetic_terms(count: int, rng: random.Random) -> list[str]:
    words: set[str] = set()
    while len(words) < count:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(3, 5))))
    return sorted(words)


def padded_lexicon_file(target_terms: int, rng: random.Random, base_terms: int) -> Path:
    need = max(0, target_terms - base_terms)
    # An indicator category (lexicons accept only the known categories since b4b4d9a), so the padding terms
    # sit in the main automaton like real terms do; made-up words, they never occur in the stream.
    data = {"language": "en", "source": "bench-padding",
            "categories": {"coded": {"weight": 0.5, "terms": synthetic_terms(need, rng)}}}
    path = Path(tempfile.mkdtemp()) / "bench_padding.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


# CPU time of this process, not wall time: the machine is shared, and "per core" means CPU seconds.
clock = time.process_time


def best_rate(fn, texts: list[str], repeat: int) -> float:
    best = 0.0
    for _ in range(repeat):
        t = clock()
        for x in texts:
            fn(x)
        best = max(best, len(texts) / (clock() - t))
    return best


REPO = Path(__file__).resolve().parents[1]


def _drop_bastion_modules() -> None:
    for name in [m for m in sys.modules if m == "bastion" or m.startswith("bastion.")]:
        del sys.modules[name]


def load_text_package_at(rev: str):
    """``bastion.text`` as it was at git revision ``rev``, imported from a temporary extract.

    The modules are removed from ``sys.modules`` again afterwards, so the current code imports normally;
    the returned package keeps working through its own references."""
    if Path(rev).is_dir():
        # A checkout of another revision (``git worktree add DIR REV``), possibly with its text modules
        # compiled in place (``setup.py build_ext --inplace``): compare compiled against compiled.
        root = Path(rev).resolve()
    else:
        data = subprocess.run(["git", "-C", str(REPO), "archive", rev, "src/bastion"], check=True, capture_output=True).stdout
        root = Path(tempfile.mkdtemp(prefix="bench_text_rev_"))
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            tar.extractall(root)
    _drop_bastion_modules()
    sys.path.insert(0, str(root / "src"))
    try:
        import bastion.text as text_then

        # Load its shipped lists and scoring now: both are found through the package by name
        # (importlib.resources), which after the swap below would be the current code's files.
        text_then.default_lexicon()
        text_then.default_scoring_config()
        # Its memo of recent texts (if it has one) is off: the comparison is of texts analysed afresh.
        memo_then = getattr(sys.modules["bastion.text.analyze"], "configure_memo", None)
        if memo_then is not None:
            memo_then(0)
    finally:
        sys.path.remove(str(root / "src"))
        _drop_bastion_modules()
    assert text_then.__file__.startswith(str(root)), text_then.__file__
    return text_then


# --- equality of results across revisions ------------------------------------------------------------

# Disguise material for the random texts: separators, invisible characters, look-alikes, leetspeak,
# symbols, digits, currencies, contact and hashtag characters, other scripts, combining marks, emoji.
_DISGUISE = [" ", ".", "_", "-", "*", "·", "/", "|", "~", ",", "#", "@", "$", "!", "+", ":", "(", ")", "[", "]",
             "\u200b", "\u200d", "\u00ad", "\ufeff", "\u2060", "а", "е", "о", "р", "с", "ι", "ο", "ı", "ᴀ", "ø", "æ",
             "0", "1", "3", "4", "5", "7", "8", "9", "12", "13", "18", "€", "£", "¥", "円", "歳", "才", "十", "ー",
             "\u0301", "\u0308", "\u3099", "ß", "ﬁ", "Ⅻ", "²", "٣", "🇦", "🅰", "✨", "😀", "ｎ", "Ｓ", "\n", "\t"]
_FILLER = ["placeholder", "lorem", "ipsum", "dragon", "colour", "page", "t.me/", "dm", "per", "set", "pack", "pic",
           "yo", "y/o", "ans", "años", "jahre", "age", "usd", "eur", "btc", "cash", "app", "paypal", "telegram",
           "kik", "dot", "com", "onion", "05" + "ab" * 32, "bc1" + "q" * 30, "#", "##", "aaaa", "eee", "ll"]


def _corpus_texts() -> list[tuple[str, str, str | None]]:
    out = []
    for path in (REPO / "src" / "bastion" / "text" / "corpus" / "dev.jsonl", REPO / "tests" / "text" / "data" / "heldout.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                obj = json.loads(line)
                out.append((obj["text"], obj.get("field", "body"), obj.get("language")))
    return out


def identity_cases(stream: list[str], seed: int = 7, random_items: int = 3000, fuzz_texts: int = 6000):
    """Items whose full analysis must not change with a speed-only change of the code, as
    ``(kind, [(field, text), ...], language)``:

    * every dev-corpus and held-out text, in its own field and language and again in three other fields
      with no declared language;
    * every distinct text of the benchmark stream (body, and again as a tag);
    * random items: two to five texts drawn from the corpora and the stream, in random fields, some with
      a declared language;
    * fuzz texts: seeded recombinations of corpus words with disguise characters and random code points
      (the same kinds of input as ``fuzz/fuzz_text.py``).
    """
    from bastion.text import FIELDS

    rng = random.Random(seed)
    corpus = _corpus_texts()
    cases: list[tuple[str, list[tuple[str, str]], str | None]] = []
    for text, fld, lang in corpus:
        cases.append(("corpus", [(fld, text)], lang))
        for other in ("tag", "title", "negative_prompt"):
            if other != fld:
                cases.append(("corpus-field", [(other, text)], None))
    for text in sorted(set(stream)):
        cases.append(("stream", [("body", text)], None))
        cases.append(("stream-tag", [("tag", text)], None))
    pool = [t for t, _, _ in corpus] + sorted(set(stream))
    for _ in range(random_items):
        item = [(rng.choice(FIELDS), rng.choice(pool)) for _ in range(rng.randint(2, 5))]
        cases.append(("item", item, rng.choice([None, None, "en", "fr", "de", "es", "ja"])))
    words = [w for t in pool for w in t.split()] + _FILLER
    for _ in range(fuzz_texts):
        parts = []
        for _ in range(rng.randint(1, 8)):
            r = rng.random()
            if r < 0.5:
                w = rng.choice(words)
                if rng.random() < 0.3:  # disguise inside the word
                    k = rng.randint(0, len(w))
                    w = w[:k] + rng.choice(_DISGUISE) + w[k:]
                if rng.random() < 0.2:
                    w = w.upper() if rng.random() < 0.5 else w.title()
                parts.append(w)
            elif r < 0.85:
                parts.append(rng.choice(_DISGUISE))
            else:
                parts.append("".join(chr(rng.choice([rng.randint(32, 0x2FF), rng.randint(0x300, 0x33FF), rng.randint(0xFF00, 0xFFEF),
                                                        rng.randint(0x1F000, 0x1FAFF)])) for _ in range(rng.randint(1, 4))))
        sep = rng.choice([" ", "", " ", "_", "."])
        text = sep.join(parts)
        text = "".join(c for c in text if not 0xD800 <= ord(c) <= 0xDFFF)
        cases.append(("fuzz", [(rng.choice(FIELDS), text)], rng.choice([None, None, "en", "de"])))
    return cases


def compare_results(text_then, text_now, cases, lexicons: list[tuple[object, object]]) -> dict[str, object]:
    """Full ``to_dict()`` of both revisions for every case and lexicon (``analyze`` for one-text items,
    ``analyze_item`` for the others); counts and the first few differences."""
    checked = 0
    differ: list[str] = []
    by_kind: dict[str, int] = {}
    for lex_then, lex_now in lexicons:
        for kind, item, lang in cases:
            if len(item) == 1:
                fld, text = item[0]
                a = text_then.analyze(text, fld, lang, lexicon=lex_then).to_dict()
                b = text_now.analyze(text, fld, lang, lexicon=lex_now).to_dict()
            else:
                a = text_then.analyze_item(item, lexicon=lex_then, language=lang).to_dict()
                b = text_now.analyze_item(item, lexicon=lex_now, language=lang).to_dict()
            checked += 1
            by_kind[kind] = by_kind.get(kind, 0) + 1
            if a != b:
                if len(differ) < 5:
                    differ.append(f"{kind}: {item!r} lang={lang}")
                by_kind[kind + "_differ"] = by_kind.get(kind + "_differ", 0) + 1
    return {"identical": not any(k.endswith("_differ") for k in by_kind), "analyses_compared": checked,
            "by_kind": by_kind, "first_differences": differ}


def write_sample(text_pkg, cases, path: Path, per_kind: int = 40) -> int:
    """Write the full results of a representative sample of ``cases`` (shipped lexicon), as computed by
    ``text_pkg``, to ``path`` (JSON lines): ``tests/text/test_text_speed_paths.py`` locks them. Per kind,
    evenly spaced cases, preferring those with signals for the fuzz texts (most find nothing)."""

    def run(item, lang):
        if len(item) == 1:
            return text_pkg.analyze(item[0][1], item[0][0], lang).to_dict()
        return text_pkg.analyze_item(item, language=lang).to_dict()

    chosen = []
    for kind in dict.fromkeys(k for k, _, _ in cases):
        of_kind = [c for c in cases if c[0] == kind]
        if kind == "fuzz":
            found = [c for c in of_kind if run(c[1], c[2])["signals"]]
            of_kind = found[: per_kind * 2 // 3 * 10] + of_kind
        step = max(1, len(of_kind) // per_kind)
        picked = []
        for c in of_kind[::step]:
            if c not in picked:
                picked.append(c)
        chosen += picked[:per_kind]
    with path.open("w", encoding="utf-8") as out:
        for kind, item, lang in chosen:
            out.write(json.dumps({"kind": kind, "item": item, "language": lang, "result": run(item, lang)},
                                 ensure_ascii=False, sort_keys=True) + "\n")
    return len(chosen)


def interleaved_rates(*fns, texts: list[str], repeat: int, chunk: int = 500) -> list[float]:
    """CPU-time rates of several functions over the same texts, taking turns every ``chunk`` texts."""
    spent = [0.0] * len(fns)
    for _ in range(repeat):
        for k in range(0, len(texts), chunk):
            part = texts[k : k + chunk]
            for i, fn in enumerate(fns):
                t0 = clock()
                for x in part:
                    fn(x)
                spent[i] += clock() - t0
    n = repeat * len(texts)
    return [n / s for s in spent]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--texts", type=int, default=50_000)
    ap.add_argument("--terms", type=int, default=1_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--compare-rev", default=None,
                    help="git revision (or the folder of a checkout, e.g. a compiled `git worktree`) whose analyze() "
                         "to time alongside")
    ap.add_argument("--no-identity", action="store_true",
                    help="with --compare-rev: skip the identity check (for revisions whose lists differ on purpose)")
    ap.add_argument("--check-only", action="store_true",
                    help="with --compare-rev: only compare the results of both revisions, no timing")
    ap.add_argument("--write-sample", type=Path, default=None,
                    help="write the locked sample of tests/text/test_text_speed_paths.py, computed by the "
                         "--compare-rev revision (or the current code), and stop")
    args = ap.parse_args()
    rng = random.Random(4)
    text_then = load_text_package_at(args.compare_rev) if args.compare_rev else None

    t0 = time.perf_counter()
    from bastion.text import analyze, default_lexicon, load_lexicon
    from bastion.text.normalize import fold, plain_text_unsqueezed, squeeze_text
    import_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    default = default_lexicon()
    first_load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    default_lexicon()
    cached_load_us = (time.perf_counter() - t0) * 1e6

    if args.write_sample is not None:
        import bastion.text as text_now

        sample_cases = identity_cases(make_texts(args.texts, random.Random(4)), random_items=600, fuzz_texts=3000)
        n = write_sample(text_then or text_now, sample_cases, args.write_sample)
        print(json.dumps({"bench": "text-sample", "written": n, "path": str(args.write_sample),
                          "rev": args.compare_rev or "current"}))
        return 0

    pad_path = padded_lexicon_file(args.terms, rng, len(default))
    lex = load_lexicon([pad_path]).prepare()
    texts = make_texts(args.texts, rng)
    mean_chars = sum(map(len, texts)) / len(texts)

    # Baseline: lower-case and one automaton pass over the raw text with the same keys.
    base = ahocorasick.Automaton()
    for e in lex.entries:
        base.add_word(e.key, e.key)
    base.make_automaton()

    def baseline(x: str) -> None:
        for _ in base.iter(x.lower()):
            pass

    def normalise_only(x: str) -> None:
        squeeze_text(plain_text_unsqueezed(fold(x)))

    def full(x: str) -> None:
        analyze(x, lexicon=lex)

    memo = getattr(sys.modules["bastion.text.analyze"], "configure_memo", None)
    identity: dict[str, object] = {}
    if text_then is not None:
        import bastion.text as text_now

        lex_then = text_then.load_lexicon([pad_path]).prepare()
    if text_then is not None and not args.no_identity:
        t0 = time.perf_counter()
        cases = identity_cases(texts)
        pairs = [(text_then.default_lexicon(), default), (lex_then, lex)]
        # With the memo of recent texts (the library's default: the cases repeat texts, so many answers
        # come from it) and again with every text analysed afresh.
        identity = compare_results(text_then, text_now, cases, pairs)
        if memo is not None:
            memo(0)
            fresh = compare_results(text_then, text_now, cases, pairs)
            memo()
            identity = {"identical": identity["identical"] and fresh["identical"],
                        "with_memo": identity, "memo_off": fresh}
        identity["check_s"] = round(time.perf_counter() - t0, 1)
        if args.check_only:
            print(json.dumps({"bench": "text-identity", "compare_rev": args.compare_rev, **identity}))
            return 0 if identity["identical"] else 1

    # Every text is analysed afresh unless said otherwise: the memo of recent texts (configure_memo) is
    # off, so the figures are the cost of analysing a text, comparable with every earlier run. The memo's
    # figures are reported apart ("..._memo").

    def memo_off() -> None:
        if memo is not None:
            memo(0)
            lex._memo.clear()

    def memo_on() -> None:
        if memo is not None:
            memo()

    def full_memo(x: str) -> None:  # the same call; named apart so the memo's figures read apart
        analyze(x, lexicon=lex)

    memo_off()
    for x in texts[:2000]:  # warm caches (per-character fold cache, automata, stem tables)
        full(x)
    rate_baseline = best_rate(baseline, texts, args.repeat)
    rate_norm = best_rate(normalise_only, texts, args.repeat)
    rate_full = best_rate(full, texts, args.repeat)
    flagged = sum(analyze(x, lexicon=lex).level in ("high", "critical") for x in texts)

    # Split: texts where nothing was found (the common case on a real platform) vs texts with signals,
    # each group timed as its own batch.
    quiet, noisy = [], []
    for x in texts:
        r = analyze(x, lexicon=lex)
        (noisy if r.signals or r.suppressed else quiet).append(x)
    rate_quiet = best_rate(full, quiet, args.repeat) if quiet else None
    rate_noisy = best_rate(full, noisy, args.repeat) if noisy else None

    memo_figures: dict[str, object] = {}
    if memo is not None:
        # With the memo, on this stream (which repeats its texts) and on one where every text is new
        # (the stream's texts each with a serial number), where the memo can only cost.
        unique = [f"{x} n{i}" for i, x in enumerate(texts[: min(len(texts), 20_000)])]
        memo_on()
        lex._memo.clear()
        rate_memo = best_rate(full_memo, texts, args.repeat)
        rate_unique_off, rate_unique_on = 0.0, 0.0
        spent_off = spent_on = 0.0
        for k in range(0, len(unique), 500):  # interleaved, memo off then on, over the same new texts
            part = unique[k : k + 500]
            memo_off()
            t0 = clock()
            for x in part:
                full(x)
            spent_off += clock() - t0
            memo_on()
            t0 = clock()
            for x in part:
                full_memo(x)
            spent_on += clock() - t0
        rate_unique_off, rate_unique_on = len(unique) / spent_off, len(unique) / spent_on
        memo_off()
        memo_figures = {
            "texts_per_s_full_memo": round(rate_memo),
            "distinct_texts_in_stream": len(set(texts)),
            "texts_per_s_unique_texts_memo_off": round(rate_unique_off),
            "texts_per_s_unique_texts_memo_on": round(rate_unique_on),
            "memo_on_unique_texts_ratio": round(rate_unique_on / rate_unique_off, 3),
        }

    compare: dict[str, object] = {}
    if text_then is not None:
        analyze_then = text_then.analyze

        def full_then(x: str) -> None:
            analyze_then(x, lexicon=lex_then)

        for x in texts[:2000]:
            full_then(x)
        if memo is not None:
            # Three take turns: the old revision, the current code analysing every text afresh, and the
            # current code with its memo. The memo is switched at each turn.
            def fresh(x: str) -> None:
                analyze(x, lexicon=lex)

            memo_on()
            lex._memo.clear()
            state = {"on": True}

            def now_off(x: str) -> None:
                if state["on"]:
                    memo(0)
                    state["on"] = False
                fresh(x)

            def now_on(x: str) -> None:
                if not state["on"]:
                    memo()
                    state["on"] = True
                fresh(x)

            rate_then, rate_now, rate_now_memo = interleaved_rates(full_then, now_off, now_on, texts=texts, repeat=args.repeat)
            memo_off()
        else:
            rate_then, rate_now = interleaved_rates(full_then, full, texts=texts, repeat=args.repeat)
            rate_now_memo = None
        compare = {
            "compare_rev": args.compare_rev,
            "text_modules_then": getattr(sys.modules.get(text_then.__name__ + "._compiled")
                                         or getattr(text_then, "_compiled", None), "STATE", "unknown"),
            "texts_per_s_full_then_interleaved": round(rate_then),
            "texts_per_s_full_now_interleaved": round(rate_now),
            "speedup_vs_rev": round(rate_now / rate_then, 2),
            "texts_per_s_full_now_memo_interleaved": round(rate_now_memo) if rate_now_memo else None,
            "speedup_vs_rev_with_memo": round(rate_now_memo / rate_then, 2) if rate_now_memo else None,
            # Full to_dict() of both revisions over the corpora, the stream, random items and fuzz texts,
            # with the shipped lexicon and with the padded one (see identity_cases).
            "results_identical_to_rev": identity.get("identical"),
            "identity_check": identity,
        }

    # Dev-corpus evaluation with the shipped lexicon.
    from bastion.text.evaluate import evaluate, read_corpus

    corpus = Path(__file__).resolve().parents[1] / "src" / "bastion" / "text" / "corpus" / "dev.jsonl"
    rep = evaluate(read_corpus(corpus))

    figures = {
        "bench": "text",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "texts": len(texts),
        "mean_chars": round(mean_chars, 1),
        "terms": len(lex),
        "texts_per_s_full": round(rate_full),
        "texts_per_s_normalise_only": round(rate_norm),
        "texts_per_s_baseline_lower_ac": round(rate_baseline),
        "full_vs_baseline": round(rate_full / rate_baseline, 3),
        "share_texts_with_signals": round(len(noisy) / len(texts), 3),
        "texts_per_s_without_signals": round(rate_quiet) if rate_quiet else None,
        "texts_per_s_with_signals": round(rate_noisy) if rate_noisy else None,
        "target_texts_per_s": 50_000,
        # Judged on texts analysed afresh (memo off); the memo's figures are below.
        "target_met": rate_full >= 50_000,
        # How the current code's text modules ran: compiled by Cython at install, or the Python sources.
        "text_modules": getattr(sys.modules.get("bastion.text._compiled"), "STATE", "pure: no compiled build"),
        **memo_figures,
        "cpu_load_1min_at_start": round(__import__("os").getloadavg()[0], 2),
        "flagged_high_or_critical": flagged,
        # With --compare-rev the older copy was imported first (shared dependencies already loaded).
        "import_s": round(import_s, 3) if text_then is None else None,
        "default_lexicon_first_load_s": round(first_load_s, 3),
        "default_lexicon_cached_load_us": round(cached_load_us, 2),
        **compare,
        "eval_texts": rep.total,
        "eval_overall": rep.overall.to_dict(),
        "eval_harmful": rep.per_category["harmful"].to_dict(),
        "eval_categories": {c: {"p": s.to_dict()["precision"], "r": s.to_dict()["recall"], "f1": s.to_dict()["f1"]}
                            for c, s in rep.per_category.items()},
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
