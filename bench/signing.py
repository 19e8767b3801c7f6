"""Signing speed: pipeshield vs OpenSSF model_signing, end to end through both CLIs.

Run: .venv/bin/python bench/signing.py [--gib 1] [--repeats 3]
Inputs (written to a temp folder, warm cache): one file of --gib GiB, and 200 files of 100 KiB.
Prints median wall times of `pipeshield sign` and `model_signing sign key` (CLI start-up
included) run alternately, their ratio, and the library's one-file throughput against a bare
hashlib SHA-256 stream over the same file.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - start


def hashlib_stream(path: Path) -> float:
    start = time.perf_counter()
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as fh:
        buf = bytearray(4 << 20)
        view = memoryview(buf)
        while n := fh.readinto(buf):
            h.update(view[:n])
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        subprocess.run([str(BIN / "pipeshield"), "keygen", "--out", str(root / "k")], check=True, capture_output=True)
        big = root / "big"
        big.mkdir()
        with open(big / "weights.bin", "wb") as fh:
            for _ in range(int(args.gib * 1024)):
                fh.write(os.urandom(1 << 20))
        small = root / "small"
        small.mkdir()
        for i in range(200):
            (small / f"shard-{i:03d}.bin").write_bytes(os.urandom(100 * 1024))
        hashlib_stream(big / "weights.bin")  # warm the cache
        for name, folder in (("one large file", big), ("200 x 100 KiB", small)):
            ours, theirs = [], []
            for _ in range(args.repeats):
                ours.append(timed([str(BIN / "pipeshield"), "sign", str(folder), "--key", str(root / "k.key"),
                                   "--signature", str(root / "ps.sig")]))
                theirs.append(timed([str(BIN / "model_signing"), "sign", "key", str(folder), "--private_key",
                                     str(root / "k.key"), "--signature", str(root / "ms.sig")]))
            mo, mt = statistics.median(ours), statistics.median(theirs)
            print(f"{name}: pipeshield sign {mo:.3f} s, model_signing sign key {mt:.3f} s, "
                  f"speed-up {mt / mo:.2f}x (target >= 1.4x)")
        from pipeshield.integrity.digests import digest_file

        bare = statistics.median(hashlib_stream(big / "weights.bin") for _ in range(args.repeats))
        lib = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            digest_file(big / "weights.bin")
            lib.append(time.perf_counter() - start)
        gib = args.gib
        print(f"one file, library: digest_file {statistics.median(lib):.3f} s ({gib / statistics.median(lib):.2f} GiB/s) vs "
              f"bare hashlib {bare:.3f} s ({gib / bare:.2f} GiB/s): {bare / statistics.median(lib):.2f}x of hashlib (target >= 0.9x)")


if __name__ == "__main__":
    main()
