"""Fuzz target: every provenance parser (PNG chunks, EXIF, XMP, IPTC, WebP; A1111, ComfyUI, InvokeAI,
NovelAI, Fooocus, SwarmUI ...) on arbitrary bytes, metadata only (no pixel checks).

    .venv/bin/python fuzz/fuzz_provenance.py -max_total_time=600

inspect_bytes must never raise; its prompts then go through the text analyser as the scan does."""

import atheris

with atheris.instrument_imports():
    from bastion.media.provenance import ProvenanceSettings, inspect_bytes
    from bastion.text import analyze_item

from _common import provenance_seeds, run

META_ONLY = ProvenanceSettings(watermark=False, stealth=False, decode_pixels=False)


def test_one(data: bytes) -> None:
    report = inspect_bytes(data, filename=None, settings=META_ONLY)
    report.to_dict()
    prompts = report.positive_prompts()
    if prompts:
        analyze_item([("prompt", p) for p in prompts[:4]])


if __name__ == "__main__":
    run(test_one, provenance_seeds(), "provenance")
