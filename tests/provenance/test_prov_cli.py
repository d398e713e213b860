"""`bastion inspect`: readable and JSON output, exit statuses."""

from __future__ import annotations

import json

from prov_builders import NEGATIVE, POSITIVE, a1111_infotext, png_with_text
from typer.testing import CliRunner

import bastion.cli  # noqa: F401  (registers every command)
from bastion.cli.app import app

runner = CliRunner()


def test_inspect_json_lines(tmp_path):
    gen = tmp_path / "gen.png"
    gen.write_bytes(png_with_text({"parameters": a1111_infotext()}))
    plain = tmp_path / "plain.png"
    plain.write_bytes(png_with_text({}))
    res = runner.invoke(app, ["inspect", "--json", str(gen), str(plain)])
    assert res.exit_code == 1, res.output
    lines = [json.loads(line) for line in res.output.splitlines()]
    assert [d["file"] for d in lines] == [str(gen), str(plain)]
    assert lines[0]["ai_generated"] is True
    assert lines[0]["provenances"][0]["positive_prompts"] == [POSITIVE]
    assert lines[0]["provenances"][0]["negative_prompts"] == [NEGATIVE]
    assert lines[1]["ai_generated"] is False and lines[1]["provenances"] == []


def test_inspect_readable_and_exit_codes(tmp_path):
    gen = tmp_path / "gen.png"
    gen.write_bytes(png_with_text({"parameters": a1111_infotext()}))
    res = runner.invoke(app, ["inspect", "--no-pixels", str(gen)])
    assert res.exit_code == 1
    assert "AUTOMATIC1111" in res.output and POSITIVE in res.output and "seed" in res.output
    plain = tmp_path / "plain.png"
    plain.write_bytes(png_with_text({}))
    res = runner.invoke(app, ["inspect", str(plain)])
    assert res.exit_code == 0 and "no AI-generation trace found" in res.output
    res = runner.invoke(app, ["inspect", str(tmp_path / "missing.png")])
    assert res.exit_code == 2
