"""Console costs: making a safe derivative (downscale + grayscale + blur) and a revealed view, against the
scanner's own decode + PDQ hash of the same bytes in the same run (the work the service already did on each
image). Benign generated patterns as JPEG.

    .venv/bin/python bench/bench_console.py [--images 20] [--repeat 3]

Prints a JSON line for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import time
from datetime import date

from bastion.console.safemedia import SafeView, revealed_view, safe_derivative
from bastion.demo import generated_pattern
from bastion.media.decode import decode_rgb
from bastion.media.hashing import pdq_from_image


def jpeg(seed: int, size: tuple[int, int]) -> bytes:
    buf = io.BytesIO()
    generated_pattern(seed, size=size).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def cpu(fn, items, repeat) -> float:
    """CPU seconds per call (process time: the machine is shared)."""
    best = float("inf")
    for _ in range(repeat):
        t = time.process_time()
        for x in items:
            fn(x)
        best = min(best, (time.process_time() - t) / len(items))
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    out = {"bench": "console", "date": date.today().isoformat(), "machine": f"{platform.machine()} 2 cores",
           "python": platform.python_version(), "images": a.images}
    for name, size in (("1024x768", (1024, 768)), ("3000x2000", (3000, 2000))):
        data = [jpeg(i, size) for i in range(a.images)]
        base = cpu(lambda d: pdq_from_image(decode_rgb(d, min_side=512).image), data, a.repeat)
        safe = cpu(lambda d: safe_derivative(d, SafeView()), data, a.repeat)
        reveal = cpu(revealed_view, data, a.repeat)
        out[name] = {"decode_pdq_ms": round(base * 1000, 1), "safe_derivative_ms": round(safe * 1000, 1),
                     "revealed_view_ms": round(reveal * 1000, 1),
                     "safe_vs_decode_pdq": round(safe / base, 2), "reveal_vs_decode_pdq": round(reveal / base, 2)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
