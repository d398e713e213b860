"""Whether the text pipeline runs compiled, and the guard that keeps it from running stale code.

The per-text modules of :mod:`bastion.text` are compiled by Cython at install time from their unchanged
``.py`` sources (``setup.py``, docs/decisions/0007-compiled-text.md); Python imports an extension module
in preference to a source file of the same name. So a source edited after the build (a developer's
working copy, a patched install) would silently not run. The build writes ``_compiled.json`` with the
SHA-256 of every source it compiled; :func:`install` compares them with the sources on disk before any
of those modules is imported, and when one differs it makes every compiled text module load from its
source instead (all or none, so the modules never mix versions) and warns once.

``BASTION_TEXT_PURE=1`` asks for the sources on purpose (the tests compare both ways); it acts on import,
before any settings exist, so it is a switch the settings module reads (:func:`bastion.config.text_pure_requested`)
rather than a setting passed down. This module itself is never compiled.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import sys
import warnings
from pathlib import Path

from bastion.config import text_pure_requested

__all__ = ["STATE", "install", "is_compiled"]

_PACKAGE = "bastion.text"
_HERE = Path(__file__).resolve().parent

#: How the text pipeline runs, set by :func:`install`: ``"compiled"``, ``"pure: not built"``,
#: ``"pure: BASTION_TEXT_PURE=1"`` or ``"pure: sources changed since the build (...)"``.
STATE = "pure: not checked"


def _source_of(name: str) -> Path:
    return _HERE.joinpath(*name.split(".")[2:]).with_suffix(".py")


def _compiled_files() -> list[Path]:
    # One walk: the suffixes overlap (".cpython-311-x86_64-linux-gnu.so", ".abi3.so", ".so").
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    return [p for p in _HERE.rglob("*") if p.name.endswith(suffixes)]


class _SourceFinder:
    """Finds the listed modules at their ``.py`` sources, ahead of the compiled files beside them."""

    def __init__(self, names: set[str]):
        self.names = names

    def find_spec(self, fullname: str, path: object = None, target: object = None):  # noqa: ARG002
        if fullname not in self.names:
            return None
        return importlib.util.spec_from_file_location(fullname, _source_of(fullname))


def install() -> str:
    """Decide how the text modules load (before any of them is imported); returns :data:`STATE`."""
    global STATE
    manifest_path = _HERE / "_compiled.json"
    try:
        modules: dict[str, str] = json.loads(manifest_path.read_text(encoding="utf-8"))["modules"]
    except (OSError, ValueError, KeyError, TypeError):
        modules = {}
    if not modules:
        # Not built (or a manifest lost): any compiled file lying here is of unknown origin.
        strays = _compiled_files()
        if strays:
            _prefer_sources({_module_of(p) for p in strays})
            STATE = "pure: compiled files without a build manifest"
            warnings.warn(f"bastion.text: {STATE}; running the Python sources", RuntimeWarning, stacklevel=2)
        else:
            STATE = "pure: not built"
        return STATE
    if text_pure_requested():  # BASTION_TEXT_PURE=1, read by the settings module
        _prefer_sources(set(modules))
        STATE = "pure: BASTION_TEXT_PURE=1"
        return STATE
    changed = []
    for name, digest in modules.items():
        try:
            if hashlib.sha256(_source_of(name).read_bytes()).hexdigest() != digest:
                changed.append(name)
        except OSError:
            changed.append(name)
    if changed:
        _prefer_sources(set(modules))
        STATE = f"pure: sources changed since the build ({', '.join(sorted(changed))})"
        warnings.warn(f"bastion.text: {STATE}; running the Python sources until the package is rebuilt "
                      "(pip install -e . again)", RuntimeWarning, stacklevel=2)
        return STATE
    STATE = "compiled"
    return STATE


def _module_of(path: Path) -> str:
    rel = path.relative_to(_HERE)
    return ".".join([_PACKAGE, *rel.parts[:-1], rel.name.split(".")[0]])


def _prefer_sources(names: set[str]) -> None:
    names = {n for n in names if _source_of(n).is_file()}
    if not any(isinstance(f, _SourceFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _SourceFinder(names))


def is_compiled() -> bool:
    """Whether the text pipeline's modules run compiled (what :func:`install` decided and imports did)."""
    mod = sys.modules.get(_PACKAGE + ".analyze")
    return STATE == "compiled" and mod is not None and not str(getattr(mod, "__file__", "")).endswith(".py")
