"""The text pipeline compiled by Cython at install (docs/decisions/0007-compiled-text.md) against its own
Python sources, and the guard that keeps an edited source from being shadowed by a stale build.

* a built install runs the compiled modules (unless ``BASTION_TEXT_PURE=1`` asks for the sources);
* the sources and the compiled modules give identical full results on the corpora, the locked speed
  sample and random items (the sources run in a subprocess with ``BASTION_TEXT_PURE=1``);
* a copy of the package whose sources changed after the build runs the sources (every compiled text
  module, so versions never mix) and warns; an unchanged copy runs compiled.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import bastion
from bastion.text import FIELDS, _compiled, analyze_item

PACKAGE = Path(bastion.__file__).resolve().parent
MANIFEST = PACKAGE / "text" / "_compiled.json"
DATA = Path(__file__).parent / "data"
CORPUS = PACKAGE / "text" / "corpus" / "dev.jsonl"

built = pytest.mark.skipif(not MANIFEST.is_file(), reason="this install was built without compiled text modules "
                                                            "(BASTION_TEXT_COMPILE=0)")


def _cases() -> list[tuple[list[tuple[str, str]], str | None]]:
    """Items whose full results must not depend on how the modules run: every dev and held-out corpus
    text in its field and language, the locked speed sample, and seeded random multi-text items."""
    cases: list[tuple[list[tuple[str, str]], str | None]] = []
    texts = []
    for path in (CORPUS, DATA / "heldout.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                obj = json.loads(line)
                cases.append(([(obj.get("field", "body"), obj["text"])], obj.get("language")))
                texts.append(obj["text"])
    for line in (DATA / "speed_sample.jsonl").read_text(encoding="utf-8").splitlines():
        obj = json.loads(line)
        cases.append(([tuple(p) for p in obj["item"]], obj["language"]))
    rng = random.Random(14)
    for _ in range(300):
        cases.append(([(rng.choice(FIELDS), rng.choice(texts)) for _ in range(rng.randint(2, 4))],
                      rng.choice([None, "en", "de", "fr"])))
    return cases


_PURE_SCRIPT = """
import json, sys
from bastion.text import _compiled, analyze_item
cases = json.loads(sys.stdin.read())
out = [analyze_item([tuple(p) for p in item], language=lang).to_dict() for item, lang in cases]
print(json.dumps({"state": _compiled.STATE, "file": sys.modules["bastion.text.analyze"].__file__, "results": out}))
"""


@built
def test_a_built_install_runs_the_compiled_modules() -> None:
    if os.environ.get("BASTION_TEXT_PURE") == "1":
        pytest.skip("BASTION_TEXT_PURE=1 asks for the sources")
    assert _compiled.STATE == "compiled"
    assert _compiled.is_compiled()
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    assert "bastion.text.analyze" in manifest["modules"] and "bastion.text.normalize" in manifest["modules"]
    for name in manifest["modules"]:
        __import__(name)
        assert not sys.modules[name].__file__.endswith(".py"), name


@built
def test_sources_and_compiled_modules_give_identical_results() -> None:
    cases = _cases()
    assert len(cases) > 1000
    env = {**os.environ, "BASTION_TEXT_PURE": "1"}
    proc = subprocess.run([sys.executable, "-c", _PURE_SCRIPT], input=json.dumps(cases), env=env,
                          capture_output=True, text=True, timeout=300, check=True)
    pure = json.loads(proc.stdout)
    assert pure["state"] == "pure: BASTION_TEXT_PURE=1"
    assert pure["file"].endswith("analyze.py")
    here = [analyze_item(item, language=lang).to_dict() for item, lang in cases]
    flagged = sum(r["level"] in ("high", "critical") for r in here)
    assert flagged > 50  # the comparison covers real findings, not only empty results
    for case, a, b in zip(cases, here, pure["results"]):
        assert a == b, case


def _copy_package(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    shutil.copytree(PACKAGE, root / "bastion", ignore=shutil.ignore_patterns("__pycache__"))
    return root


_STATE_SCRIPT = """
import sys, warnings
warnings.simplefilter("always")
import bastion.text
from bastion.text import _compiled
print(_compiled.STATE)
print(sys.modules["bastion.text.analyze"].__file__)
print(sys.modules["bastion.text.detectors.ages"].__file__)
print(bastion.text.analyze("a red cube").level)
"""


def _run_copy(root: Path) -> tuple[list[str], str]:
    env = {k: v for k, v in os.environ.items() if k != "BASTION_TEXT_PURE"}
    env["PYTHONPATH"] = str(root)
    proc = subprocess.run([sys.executable, "-c", _STATE_SCRIPT], cwd=root, env=env, capture_output=True, text=True,
                          timeout=120, check=True)
    return proc.stdout.splitlines(), proc.stderr


@built
def test_an_unchanged_copy_runs_compiled_and_an_edited_source_runs_from_source(tmp_path: Path) -> None:
    root = _copy_package(tmp_path)
    lines, err = _run_copy(root)
    assert lines[0] == "compiled", err
    assert str(root) in lines[1] and not lines[1].endswith(".py")
    assert lines[3] == "none"

    # Edit one source after the build: every compiled text module now loads from its source, with a warning.
    score = root / "bastion" / "text" / "score.py"
    score.write_text(score.read_text(encoding="utf-8") + "\n# edited after the build\n", encoding="utf-8")
    lines, err = _run_copy(root)
    assert lines[0].startswith("pure: sources changed since the build") and "bastion.text.score" in lines[0]
    assert lines[1] == str(root / "bastion" / "text" / "analyze.py")
    assert lines[2] == str(root / "bastion" / "text" / "detectors" / "ages.py")
    assert lines[3] == "none"
    assert "RuntimeWarning" in err and "rebuilt" in err


@built
def test_compiled_files_without_a_manifest_are_not_trusted(tmp_path: Path) -> None:
    root = _copy_package(tmp_path)
    (root / "bastion" / "text" / "_compiled.json").unlink()
    lines, err = _run_copy(root)
    assert lines[0] == "pure: compiled files without a build manifest"
    assert lines[1].endswith("analyze.py") and lines[3] == "none"
    assert "RuntimeWarning" in err
