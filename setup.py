"""Declares the one compiled extension; all metadata lives in pyproject.toml (setuptools merges both).

The kernel is plain C against the CPython API and the buffer protocol (no numpy headers), so it builds
wherever a C compiler does. It is compiled for the baseline CPU of the target (no ``-march=native``):
wheels and CI machines may run on other processors. Hot loops pick a POPCNT variant at load time
through function multi-versioning inside the C file instead.
"""

import sys

from setuptools import Extension, setup

if sys.platform == "win32":
    extra_compile_args = ["/O2"]
else:
    extra_compile_args = ["-O3", "-std=c99", "-fno-strict-aliasing"]

setup(
    ext_modules=[
        Extension(
            "bastion.banks._pdqindex",
            sources=["src/bastion/banks/_pdqindex.c"],
            extra_compile_args=extra_compile_args,
        )
    ]
)
