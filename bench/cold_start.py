"""Cold start of the CLI: wall time of `pipeshield --help` and the import-time breakdown.

Run: .venv/bin/python bench/cold_start.py [--runs 15]
Prints the median and spread of wall times, the cumulative import time of `pipeshield.cli`
(from `python -X importtime`), and whether any heavy module (torch, numpy, pandas, ...) was imported.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

HEAVY = ("torch", "numpy", "pandas", "sklearn", "onnxruntime", "jinja2", "pydantic")


def wall_times(runs: int) -> list[float]:
    exe = Path(sys.executable).parent / "pipeshield"
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([str(exe), "--help"], capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return times


def import_profile() -> tuple[float, list[str]]:
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "pipeshield", "--help"], capture_output=True, text=True, check=True
    )
    total_us = 0
    modules = []
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|")
        if cumulative.strip().isdigit():
            modules.append(name.strip())
            if name.strip() in ("pipeshield.cli", "pipeshield.__main__"):
                total_us = max(total_us, int(cumulative))
    heavy = sorted({m.split(".")[0] for m in modules if m.split(".")[0] in HEAVY})
    return total_us / 1e6, heavy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    times = wall_times(args.runs)
    cli_import_s, heavy = import_profile()
    print(f"pipeshield --help wall time over {args.runs} runs: median {statistics.median(times):.3f} s, "
          f"min {min(times):.3f} s, max {max(times):.3f} s (target < 0.300 s)")
    print(f"import of pipeshield.cli (cumulative, -X importtime): {cli_import_s:.3f} s")
    print(f"heavy modules imported by --help: {', '.join(heavy) or 'none'}")


if __name__ == "__main__":
    main()
