"""Scan throughput on a ~1 GB torch checkpoint, side by side with picklescan and modelscan.

    .venv/bin/python bench/scan_speed.py [--size-mb 1024] [--repeat 3]

The checkpoint is generated in a temporary folder (``torch.save`` of random tensors) and deleted
afterwards; nothing lands in git. Each tool is timed end to end as a CLI (start-up included,
best of ``--repeat``), and pipeshield also in-process (``scan_file``). picklescan and modelscan
are benchmark-only: ``.venv/bin/pip install picklescan modelscan``; a tool that is not installed
is reported as skipped. Ratios are pipeshield's time over each tool's time (lower is faster).
The machine's speed drifts between runs: compare ratios from one run, not absolute times.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def _checkpoint(folder: Path, size_mb: int) -> Path:
    import torch

    torch.manual_seed(0)
    per = 64 << 20  # 64 MiB tensors, like a few large layers
    n = max(1, (size_mb << 20) // per)
    state = {f"layer{i}.weight": torch.randn(per // 4) for i in range(n)}
    path = folder / "checkpoint.pt"
    torch.save(state, path)
    return path


def _best(cmd: list[str], repeat: int) -> tuple[float, str]:
    best, tail = float("inf"), ""
    for _ in range(repeat):
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        best = min(best, time.perf_counter() - start)
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-1:] and (proc.stdout + proc.stderr).strip().splitlines()[-1]
    return best, tail


def _in_process_tools() -> list[tuple[str, object]]:
    """The reference tools' library entry points, where they can be imported."""
    tools: list[tuple[str, object]] = []
    try:
        from picklescan.scanner import scan_file_path

        tools.append(("picklescan (in-process)", lambda p: scan_file_path(str(p))))
    except ImportError:
        print("picklescan (in-process)      skipped (not installed)")
    try:
        from modelscan.modelscan import ModelScan

        tools.append(("modelscan (in-process)", lambda p: ModelScan().scan(str(p))))
    except ImportError:
        print("modelscan (in-process)       skipped (not installed)")
    return tools


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.size_mb > 1024:
        parser.error("this benchmark stays at or below 1 GB")
    folder = Path(tempfile.mkdtemp(prefix="pipeshield-bench-"))
    try:
        path = _checkpoint(folder, args.size_mb)
        size = path.stat().st_size
        subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
        print(f"checkpoint: {size / 1e9:.2f} GB torch zip, {args.size_mb // 64 or 1} tensors")

        from pipeshield.supplychain import scan_file

        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            result = scan_file(path)
            times.append(time.perf_counter() - start)
        inproc = min(times)
        print(f"{'pipeshield (in-process)':28} {inproc * 1000:8.2f} ms verdict={result.verdict.value}")

        for label, fn in _in_process_tools():
            best = float("inf")
            for _ in range(args.repeat):
                start = time.perf_counter()
                fn(path)
                best = min(best, time.perf_counter() - start)
            print(f"{label:28} {best * 1000:8.2f} ms ratio pipeshield/{label.split()[0]}: {inproc / best:.2f}")

        rows: dict[str, float] = {}
        tools = {
            "pipeshield (CLI)": [str(BIN / "pipeshield"), "scan", "--format", "json", str(path)],
            "picklescan (CLI)": [str(BIN / "picklescan"), "--path", str(path)],
            "modelscan (CLI)": [str(BIN / "modelscan"), "-p", str(path)],
        }
        for name, cmd in tools.items():
            if not Path(cmd[0]).exists():
                print(f"{name:28} skipped (not installed)")
                continue
            rows[name], tail = _best(cmd, args.repeat)
            print(f"{name:28} {rows[name]:8.3f} s  {tail[:70]}")
        ours = rows.get("pipeshield (CLI)")
        if ours:
            for name, value in rows.items():
                if name != "pipeshield (CLI)":
                    print(f"ratio pipeshield/{name.split()[0]} (CLI, lower is faster): {ours / value:.2f}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
