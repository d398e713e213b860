"""Test modules are imported by basename (pytest's default rootdir import mode, no packages), so two test files
with one basename in different folders stop a whole-suite run at collection, while each folder alone passes."""

from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def _basenames() -> dict[str, list[str]]:
    seen: dict[str, list[str]] = defaultdict(list)
    for path in TESTS.rglob("*.py"):
        if path.name.startswith("test_") or path.name == "conftest.py":
            if (path.parent / "__init__.py").exists() or path.name == "conftest.py":
                continue
            seen[path.stem].append(str(path.relative_to(TESTS)))
    return seen


def test_test_module_basenames_are_unique():
    clashes = {name: paths for name, paths in _basenames().items() if len(paths) > 1}
    assert not clashes, f"test modules sharing a basename (rename one): {clashes}"


def test_the_check_sees_the_suite():
    names = _basenames()
    assert "test_layers_test_names" in names and len(names) > 50


def test_no_test_imports_a_conftest_by_name():
    """Every folder's conftest is a module named `conftest`: `from conftest import x` gets whichever folder's
    was imported last (tests/stream's, in a run of tests/service tests/stream). Shared helpers live in a
    module of their own name (tests/service/svc_helpers.py)."""
    import re

    pattern = re.compile(r"^\s*(from\s+conftest\s+import|import\s+conftest\b)", re.M)
    offenders = sorted(str(p.relative_to(TESTS)) for p in TESTS.rglob("*.py")
                       if p.name != "conftest.py" and pattern.search(p.read_text(encoding="utf-8")))
    assert not offenders, f"tests importing a conftest by name: {offenders}"
