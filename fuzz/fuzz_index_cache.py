"""Fuzz target: the PDQ index cache loader. A valid saved index is taken apart and its arrays perturbed by
the fuzzer (offsets, rows, ids, counts); loading must either refuse (IndexFileError) or give an index
whose searches run. A crash of the C kernel is the finding this guards against.

    .venv/bin/python fuzz/fuzz_index_cache.py -max_total_time=600
"""

import atheris
import numpy as np

with atheris.instrument_imports():
    from bastion.banks.index import IndexFileError, PdqIndex

from _common import run

_rng = np.random.default_rng(0)
_HASHES = _rng.integers(0, 256, (300, 32), dtype=np.uint8)
_BASE = PdqIndex.from_arrays(np.arange(300, dtype=np.int64), _HASHES, min_table_rows=16)


def _arrays() -> dict:
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "index.npz")
        _BASE.save(path)
        with np.load(path) as data:
            return {k: data[k].copy() for k in data.files}


_SAVED = None


def test_one(data: bytes) -> None:
    global _SAVED
    if _SAVED is None:
        _SAVED = _arrays()
    fdp = atheris.FuzzedDataProvider(data)
    a = {k: v.copy() for k, v in _SAVED.items()}
    for _ in range(fdp.ConsumeIntInRange(1, 8)):
        name = ("offsets", "rows", "main_ids", "main_tomb", "bits", "delta_ids")[fdp.ConsumeIntInRange(0, 5)]
        arr = a[name]
        if arr.size == 0:
            continue
        flat = arr.reshape(-1)
        i = fdp.ConsumeIntInRange(0, flat.size - 1)
        flat[i] = fdp.ConsumeIntInRange(0, 2**32 - 1) % (2 ** (8 * flat.dtype.itemsize) if flat.dtype.kind == "u" else 2**31)
        a[name] = flat.reshape(arr.shape)
    try:
        index = PdqIndex._from_saved(a, "fuzz")
    except (IndexFileError, ValueError):
        return
    for h in _HASHES[:8]:
        index.search(h, 31)


if __name__ == "__main__":
    run(test_one, {"zero": b"\x00" * 32, "ones": b"\xff" * 32}, "index")
