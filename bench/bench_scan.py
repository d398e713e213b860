"""Whole-scan throughput: files/s of `bastion scan`'s pipeline against the naive reference loop.

    python bench/bench_scan.py [--files 120] [--bank 100000]

Corpus: N benign JPEGs (1024x768 by default, `--size`) (scikit-image sample photos and generated patterns, quality 90) and N/4
PNGs with generator metadata, in a temp folder. A bank of B random PDQ hashes plus the corpus' own hashes
for 10 % of the files. Measured in the same run:

* reference: one process, full decode + `pdqhash.compute` + MD5/SHA-256, no matching (what a simple
  python-threatexchange-style script does);
* Bastion `Scanner` with 1 and 2 worker processes: reduced decode, PDQ + 8 variants, provenance, text of
  prompts, matching against the bank, recording in SQLite.

Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pdqhash
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from bastion.banks.matcher import Matcher
from bastion.banks.repo import BankRepository
from bastion.demo import DISTRACTORS, KNOWN, _sample, generated_pattern
from bastion.media.hashing import pdq_from_image
from bastion.model import Bank, HashEntry
from bastion.scan import Scanner, iter_files
from bastion.store.db import open_store
from bastion.store.media import MediaRecorder


def make_corpus(root: Path, n: int, size: tuple[int, int] = (1024, 768)) -> list[Path]:
    w, h = size
    photos = [_sample(name).resize(size) for name in KNOWN + DISTRACTORS]
    paths = []
    for i in range(n):
        img = photos[i % len(photos)] if i % 2 else generated_pattern(i, size)
        arr = np.asarray(img).astype(np.int16) + np.random.default_rng(i).integers(-6, 7, (h, w, 3))
        p = root / f"img-{i:04d}.jpg"
        Image.fromarray(arr.clip(0, 255).astype(np.uint8)).save(p, "JPEG", quality=90)
        paths.append(p)
    for i in range(n // 4):
        info = PngInfo()
        info.add_text("parameters", f"a watercolor landscape {i}\nNegative prompt: blurry\nSteps: 20, Seed: {i}")
        p = root / f"gen-{i:04d}.png"
        generated_pattern(1000 + i, (768, 512)).save(p, pnginfo=info)
        paths.append(p)
    return paths


def reference(paths: list[Path]) -> float:
    t = time.perf_counter()
    for p in paths:
        data = p.read_bytes()
        hashlib.md5(data).hexdigest()
        hashlib.sha256(data).hexdigest()
        with Image.open(p) as im:
            pdqhash.compute(np.asarray(im.convert("RGB")))
    return len(paths) / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=120)
    ap.add_argument("--bank", type=int, default=100_000)
    ap.add_argument("--size", default="1024x768", help="JPEG size, e.g. 3000x2000 for 6 MP")
    args = ap.parse_args()
    size = tuple(int(x) for x in args.size.split("x"))
    tmp = Path(tempfile.mkdtemp())
    (tmp / "corpus").mkdir()
    paths = make_corpus(tmp / "corpus", args.files, size)

    store = open_store(f"sqlite:///{tmp / 'b.db'}")
    repo = BankRepository(store)
    repo.create(Bank("bench", "test"))
    rng = np.random.default_rng(0)
    entries = [HashEntry("pdq", h.tobytes().hex()) for h in rng.integers(0, 256, (args.bank, 32), dtype=np.uint8)]
    for p in paths[::10]:  # 10 % of the corpus is "known"
        with Image.open(p) as im:
            entries.append(HashEntry("pdq", pdq_from_image(im.convert("RGB"))[0]))
    repo.add_entries("bench", entries)
    matcher = Matcher.from_store(store)

    ref = reference(paths)
    figures = {"bench": "scan", "date": time.strftime("%Y-%m-%d"),
               "machine": f"{platform.machine()} {os.cpu_count()} cores", "files": len(paths), "jpeg_size": args.size,
               "bank_pdq_entries": matcher.pdq_entries, "reference_files_per_s": round(ref, 1)}
    for jobs in (1, 2):
        matched = []
        with MediaRecorder(store) as rec:
            s = Scanner(matcher, rec, jobs=jobs).run(iter_files([tmp / "corpus"]), lambda r: matched.append(r.matched))
        figures[f"bastion_{jobs}p_files_per_s"] = round(s.files / s.seconds, 1)
        figures[f"bastion_{jobs}p_vs_reference"] = round(s.files / s.seconds / ref, 2)
        figures[f"bastion_{jobs}p_matched"] = sum(matched)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
