"""Artifact digests: pipeshield's sha256_file side by side with coreutils' sha256sum.

Run: .venv/bin/python bench/hashing.py [--mib 256] [--repeats 5]
Writes a random file of --mib MiB to a temp folder, warms the page cache, then times each tool
`--repeats` times in alternation and prints medians and the ratio (pipeshield / sha256sum).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from pipeshield.core.files import sha256_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if shutil.which("sha256sum") is None:
        raise SystemExit("sha256sum not found")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "blob.bin"
        with open(path, "wb") as fh:
            for _ in range(args.mib):
                fh.write(os.urandom(1 << 20))
        expected = hashlib.sha256(path.read_bytes()).hexdigest()
        ours, theirs = [], []
        for _ in range(args.repeats + 1):  # the first round warms the cache and is dropped
            t = time.perf_counter()
            digest, _ = sha256_file(path)
            ours.append(time.perf_counter() - t)
            t = time.perf_counter()
            out = subprocess.run(["sha256sum", str(path)], capture_output=True, text=True, check=True)
            theirs.append(time.perf_counter() - t)
            assert digest == expected == out.stdout.split()[0]
        ours, theirs = ours[1:], theirs[1:]
        gb = args.mib / 1024
        mo, mt = statistics.median(ours), statistics.median(theirs)
        print(f"{args.mib} MiB, {args.repeats} runs each, warm cache")
        print(f"pipeshield sha256_file: median {mo:.3f} s ({gb / mo:.2f} GiB/s)")
        print(f"sha256sum:              median {mt:.3f} s ({gb / mt:.2f} GiB/s)")
        print(f"ratio pipeshield / sha256sum: {mo / mt:.2f}")


if __name__ == "__main__":
    main()
