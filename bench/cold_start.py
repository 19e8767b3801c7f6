"""Cold start of the CLI: wall time of `pipeshield --help` and `pipeshield scan`, and imports.

Run: .venv/bin/python bench/cold_start.py [--runs 15]
Prints the median and spread of wall times for `pipeshield --help`, `pipeshield scan SMALL.pkl`
(text and `--format json`) and, when installed, `picklescan -p SMALL.pkl` for comparison; the
total import time (top-level cumulative times from `python -X importtime`, interpreter
start-up modules included), and whether any heavy
module (torch, numpy, pandas, pydantic, ...) was imported by `--help` or by `scan`.
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAVY = ("torch", "numpy", "pandas", "sklearn", "onnxruntime", "jinja2", "pydantic", "typer")
BIN = Path(sys.executable).parent


def wall_times(cmd: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return times


def import_profile(args: list[str]) -> tuple[float, list[str]]:
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "pipeshield", *args],
                         capture_output=True, text=True, check=False)
    total_us = 0
    modules = []
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|")
        if cumulative.strip().isdigit():
            modules.append(name.strip())
            if not name[1:].startswith(" "):  # top level: its cumulative time includes its imports
                total_us += int(cumulative)
    heavy = sorted({m.split(".")[0] for m in modules if m.split(".")[0] in HEAVY})
    return total_us / 1e6, heavy


def _line(label: str, times: list[float]) -> str:
    return (f"{label:44} median {statistics.median(times):.3f} s, min {min(times):.3f} s, "
            f"max {max(times):.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        small = Path(tmp) / "small.pkl"
        small.write_bytes(pickle.dumps({"weights": [0.5] * 16, "step": 3}))  # safe: dumping only
        cases = {
            "pipeshield --help": [str(BIN / "pipeshield"), "--help"],
            "pipeshield scan small.pkl": [str(BIN / "pipeshield"), "scan", str(small)],
            "pipeshield scan --format json small.pkl": [str(BIN / "pipeshield"), "scan", "--format", "json", str(small)],
        }
        if (BIN / "picklescan").exists():
            cases["picklescan -p small.pkl (reference)"] = [str(BIN / "picklescan"), "-p", str(small)]
        print(f"wall time over {args.runs} runs (target for --help < 0.300 s):")
        for label, cmd in cases.items():
            print("  " + _line(label, wall_times(cmd, args.runs)))
        for label, argv in (("--help", ["--help"]), ("scan", ["scan", str(small)]),
                            ("scan --format json", ["scan", "--format", "json", str(small)])):
            cli_import_s, heavy = import_profile(argv)
            print(f"{label:20} imports (-X importtime, all top-level): {cli_import_s:.3f} s; "
                  f"heavy modules: {', '.join(heavy) or 'none'}")


if __name__ == "__main__":
    main()
