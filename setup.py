"""Declares the compiled extensions; all metadata lives in pyproject.toml (setuptools merges both).

Two kinds:

* ``bastion.banks._pdqindex``: plain C against the CPython API and the buffer protocol (no numpy headers),
  so it builds wherever a C compiler does. It is compiled for the baseline CPU of the target (no
  ``-march=native``): wheels and CI machines may run on other processors. Hot loops pick a POPCNT variant
  at load time through function multi-versioning inside the C file instead.
* the per-text pipeline of ``bastion.text`` (:data:`TEXT_MODULES`), compiled from its unchanged Python
  sources by Cython (docs/decisions/0007-compiled-text.md). The ``.py`` files stay the reference and ship
  beside the compiled modules; a manifest of their SHA-256 (``bastion/text/_compiled.json``) lets
  ``bastion.text._compiled`` fall back to the sources when they changed after the build.
  ``BASTION_TEXT_COMPILE=0`` at build time skips them (the package then runs as pure Python).
"""

import hashlib
import json
import os
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent

if sys.platform == "win32":
    extra_compile_args = ["/O2"]
else:
    extra_compile_args = ["-O3", "-std=c99", "-fno-strict-aliasing"]

#: Modules of bastion.text compiled by Cython, relative to src/bastion/text (without ".py").
TEXT_MODULES = (
    "analyze",
    "lexicon",
    "normalize",
    "score",
    "stems",
    "detectors/_needs",
    "detectors/_spans",
    "detectors/ages",
    "detectors/commerce",
    "detectors/contacts",
    "detectors/crypto",
)
# Python semantics first: annotations are documentation, not C types (a wrong type must still raise the
# package's own errors, e.g. InvalidText for bytes), and functions keep their Python introspection.
CYTHON_DIRECTIVES = {"language_level": 3, "annotation_typing": False, "binding": True, "always_allow_keywords": True}


def _text_sources() -> dict[str, Path]:
    return {"bastion.text." + m.replace("/", "."): HERE / "src" / "bastion" / "text" / f"{m}.py" for m in TEXT_MODULES}


def text_extensions() -> list[Extension]:
    if os.environ.get("BASTION_TEXT_COMPILE", "1") == "0":
        return []
    from Cython.Build import cythonize

    exts = [Extension(name, [str(path.relative_to(HERE))]) for name, path in _text_sources().items()]
    return cythonize(exts, compiler_directives=CYTHON_DIRECTIVES, build_dir="build/cython", quiet=True)


class BuildExt(build_ext):
    """build_ext that also writes the manifest of the text sources the compiled modules were built from."""

    def finalize_options(self) -> None:
        super().finalize_options()
        if self.parallel is None:  # the text modules are independent C files: compile them side by side
            self.parallel = os.cpu_count() or 1

    def run(self) -> None:
        super().run()
        names = {e.name for e in self.extensions}
        sources = {n: p for n, p in _text_sources().items() if n in names}
        if not sources:
            return
        out = Path(self.get_ext_fullpath("bastion.text.analyze")).parent / "_compiled.json"
        manifest = {
            "modules": {n: hashlib.sha256(p.read_bytes()).hexdigest() for n, p in sorted(sources.items())},
            "cython_directives": CYTHON_DIRECTIVES,
        }
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")


setup(
    ext_modules=[
        Extension(
            "bastion.banks._pdqindex",
            sources=["src/bastion/banks/_pdqindex.c"],
            extra_compile_args=extra_compile_args,
        ),
        *text_extensions(),
    ],
    cmdclass={"build_ext": BuildExt},
)
