"""The scanner hands provenance and embedded prompts to the right places (issue 3 wiring)."""

import json

from PIL.PngImagePlugin import PngInfo
from typer.testing import CliRunner

from bastion.cli import app
from bastion.demo import generated_pattern

PARAMS = (
    "a watercolor landscape, telegram t.me/example_shop\n"
    "Negative prompt: blurry, nsfw\n"
    "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 512x512, Model: placeholder-model"
)


def test_scan_jsonl_carries_provenance_and_prompt_text_signals(tmp_path):
    info = PngInfo()
    info.add_text("parameters", PARAMS)
    up = tmp_path / "uploads"  # the store's files are not in the scanned folder (they are not images)
    up.mkdir()
    generated_pattern(3).save(up / "gen.png", pnginfo=info)
    generated_pattern(4).save(up / "plain.png")
    db = f"sqlite:///{tmp_path / 'b.db'}"
    assert CliRunner().invoke(app, ["--database-url", db, "bank", "create", "k"]).exit_code == 0
    r = CliRunner().invoke(app, ["--database-url", db, "scan", str(up), "--jsonl", "-j", "1"])
    assert r.exit_code == 0, r.output
    rows = {json.loads(x)["path"].rsplit("/", 1)[1]: json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")}

    gen = rows["gen.png"]
    prov = gen["provenance"]["provenances"][0]
    assert prov["generator"] == "AUTOMATIC1111" and prov["seed"] == 42
    assert prov["positive_prompts"] == ["a watercolor landscape, telegram t.me/example_shop"]
    categories = {s["category"] for s in gen["signals"] if s["source"] == "provenance"}
    assert {"generator", "ai_generated", "prompt"} <= categories
    # the positive prompt went to the text detectors as field "prompt" ...
    text_signals = gen["text"]["signals"]
    assert any(s["category"] == "contact" and s["field"] == "prompt" for s in text_signals)
    # ... and the negative prompt did not: its word is never read as what the image depicts
    assert not any(s.get("term") == "nsfw" for s in text_signals)

    plain = rows["plain.png"]
    assert "text" not in plain  # no prompt, nothing to analyse; absence does not lower anything
    assert not any(s["category"] == "ai_generated" for s in plain.get("signals", []))

    r = CliRunner().invoke(app, ["--database-url", db, "scan", str(up / "gen.png"), "--jsonl", "-j", "1",
                                 "--no-provenance"])
    assert "provenance" not in json.loads(r.stdout.splitlines()[0])
