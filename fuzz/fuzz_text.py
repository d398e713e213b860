"""Fuzz target: the text analyser (normalising, lexicon, contacts, commerce, ages, scoring).

    .venv/bin/python fuzz/fuzz_text.py -max_total_time=600
"""

import os

import atheris

# Coverage guidance needs Python bytecode: run the text modules from their sources, not the compiled build
# (docs/decisions/0007-compiled-text.md; tests/text/test_text_compiled.py checks both give the same results).
os.environ.setdefault("BASTION_TEXT_PURE", "1")

with atheris.instrument_imports():
    from bastion.text import FIELDS, analyze

from _common import run


def test_one(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    field = FIELDS[fdp.ConsumeIntInRange(0, len(FIELDS) - 1)]
    text = fdp.ConsumeUnicodeNoSurrogates(fdp.remaining_bytes())
    analyze(text, field).to_dict()


SEEDS = {
    "contact": b"\x00telegram: placeholder_name t[.]me/placeholder",
    "commerce": b"\x01$10 per set, cash app $placeholder, venmo @placeholder",
    "ages": b"\x02age 12, 12yo, 12 ans, 12 Jahre alt",
    "hashtag": b"\x03#placeholder #cp2077",
    "spaces": b"\x00telegram" + b" " * 200 + b"x",
}

if __name__ == "__main__":
    run(test_one, SEEDS, "text")
