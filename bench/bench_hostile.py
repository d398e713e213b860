"""Issue 12 figures, all in one run on this machine: the old and the new detector patterns on the
adversarial runs that stalled scans (same-run ratio), and the peak memory of examining the high-bit-depth
probe files in a fresh child process.

    .venv/bin/python bench/bench_hostile.py [--runs 5000 20000]
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "scan"))

_MESSENGERS_OLD = r"(?:whatsapp|threema|wickr(?:\s*me)?|kik|snapchat|snap|signal|telegram|tg|skype)"
OLD = {
    "messenger": (re.compile(rf"\b{_MESSENGERS_OLD}\s*(?:id|me|user(?:name)?|handle)?\s*[:=\-]+\s*@?[\w.\-]{{3,}}"), "telegram", " "),
    "cashapp": (re.compile(r"\b(?:cash\.app/\$?[a-z][\w-]{0,19}|cash\s?app\s*[:=\-]?\s*\$[a-z][\w-]{0,19})"), "cash app", " "),
    "venmo": (re.compile(r"\b(?:venmo\.com/(?:u/)?[\w-]{2,}|venmo\s*[:=\-]?\s*@[\w-]{2,})"), "venmo", " "),
    "price": (re.compile(r"(?<![\w$€£¥])(?:\d{1,7}(?:[.,' ]\d{3})*(?:[.,]\d{1,2})?\s?(?:usd|eur)(?![a-z]))"), "", "121 "),
}


def new_patterns():
    from bastion.text.detectors import commerce, contacts

    return {
        "messenger": contacts._PATTERNS[7][3],
        "cashapp": commerce._PAYMENT_PATTERNS[1][2],
        "venmo": commerce._PAYMENT_PATTERNS[2][2],
        "price": commerce._PRICE_RE,
    }


def timed(pattern, text: str) -> float:
    t0 = time.perf_counter()
    for _ in pattern.finditer(text):
        pass
    return time.perf_counter() - t0


CHILD = r"""
import json, sys
from bastion.scan import examine_file
r = examine_file(sys.argv[1])
# VmHWM, not ru_maxrss: ru_maxrss survives fork+exec and would report the parent's peak.
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"errors": [e["code"] for e in r.errors], "pdq": bool(r.pdq), "peak_mb": hwm / 1024}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, nargs="+", default=[5000, 20000])
    args = ap.parse_args()
    print(f"# {platform.node()} {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    new = new_patterns()
    print("| pattern | run | old s | new s | old/new |\n|---|---|---|---|---|")
    for name, (old, head, unit) in OLD.items():
        for n in args.runs:
            text = head + (unit * (n // len(unit) + 1))[:n] + "!"
            t_old, t_new = timed(old, text), min(timed(new[name], text) for _ in range(3))
            print(f"| {name} | {head!r} + {n:,} x {unit!r} | {t_old:.3f} | {t_new:.5f} | {t_old / max(t_new, 1e-9):,.0f}x |")

    import probes

    print("\n| probe | size on disk | result | peak RSS of a fresh process (MB) |\n|---|---|---|---|")
    with tempfile.TemporaryDirectory() as d:
        for name, data in (("float32 TIFF 9999²", probes.float_tiff(9999)), ("16-bit PNG 9999²", probes.sixteen_bit_png(9999)),
                           ("8-bit PNG 640x480 (baseline)", probes.png_bytes(probes.pattern(1)))):
            path = Path(d) / "probe"
            path.write_bytes(data)
            out = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, check=True)
            r = json.loads(out.stdout)
            what = ", ".join(r["errors"]) or ("hashed" if r["pdq"] else "no hash")
            print(f"| {name} | {len(data) / 1024:,.0f} KB | {what} | {r['peak_mb']:,.0f} |")


if __name__ == "__main__":
    main()
