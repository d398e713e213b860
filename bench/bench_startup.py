"""Start-up of the command line: wall and CPU time of whole `bastion` processes, against the interpreter alone.

    python bench/bench_startup.py [--runs 15] [--old /path/to/other/checkout/.venv/bin/bastion]

Commands (each a fresh process, bytecode caches written as on an installed machine, repetitions interleaved):
``python -c pass`` (the floor), ``bastion --help``, ``bastion --version``, ``bastion text "…"`` (one benign text,
the shipped lexicons), ``bastion bank --help``, ``bastion hash FILE`` (one small PNG). Reports the median wall
and CPU (user + system) of each, the load average before and after, and one JSON line. With ``--old`` the same
commands of another installation (an earlier revision in its own venv) are interleaved with these, and each
command's ratio old / new is reported from the same run. On a loaded machine wall
time includes waiting for a core: CPU time is then the better estimate of a quiet machine's wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scan import timed  # noqa: E402  (wall and CPU of one whole process)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--old", help="the bastion executable of another installation, timed interleaved")
    args = ap.parse_args()
    bastion = str(Path(sys.executable).with_name("bastion"))
    tmp = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    from PIL import Image

    png = tmp / "a.png"
    Image.new("RGB", (64, 48), (10, 120, 200)).save(png)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["BASTION_HOME"] = str(tmp / "home")
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "bastion --help": [bastion, "--help"],
        "bastion --version": [bastion, "--version"],
        "bastion text": [bastion, "text", "a watercolor landscape at dusk"],
        "bastion bank --help": [bastion, "bank", "--help"],
        "bastion hash": [bastion, "hash", str(png)],
    }
    if args.old:
        for name in [n for n in commands if n.startswith("bastion")]:
            commands["old " + name] = [args.old, *commands[name][1:]]
    for cmd in commands.values():  # warm: bytecode caches, page cache
        timed(cmd, env)
    load_before = os.getloadavg()
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, cmd in commands.items():
            runs[name].append(timed(cmd, env))
    load_after = os.getloadavg()
    figures = {"bench": "startup", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "machine": f"{platform.machine()} {os.cpu_count()} cores", "python": platform.python_version(),
               "runs": args.runs, "load_before": [round(x, 2) for x in load_before],
               "load_after": [round(x, 2) for x in load_after], "commands": {}}
    floor = statistics.median(c for _, c in runs["python -c pass"])
    for name, rs in runs.items():
        wall = statistics.median(w for w, _ in rs)
        cpu = statistics.median(c for _, c in rs)
        figures["commands"][name] = {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
                                     "cpu_over_interpreter_s": round(cpu - floor, 3)}
        print(f"{name:26s} wall {wall:.3f} s  cpu {cpu:.3f} s", file=sys.stderr)
    for name in [n for n in figures["commands"] if n.startswith("old ")]:
        new, old = figures["commands"][name[4:]], figures["commands"][name]
        figures["commands"][name[4:]]["old_over_new_wall"] = round(old["wall_s"] / new["wall_s"], 2)
        figures["commands"][name[4:]]["old_over_new_cpu"] = round(old["cpu_s"] / new["cpu_s"], 2)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
