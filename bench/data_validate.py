"""Profiling + validating a 1,000,000-row x 50-column numeric table: pipeshield vs pandera.

Both tools learn from a trusted file and check a second batch of the same shape:

* pipeshield: ``learn_profile(trusted)`` then ``validate(batch, profile)``, streamed in chunks:
  schema, dtypes, ranges, nullability, *plus* histograms, duplicate count, KS/PSI per column and an
  MMD test, which pandera does not do;
* pandera: ``pd.read_parquet(trusted)``, ``pandera.infer_schema`` (dtype, nullability and an
  ``in_range`` check per column: the equivalent checks), ``pd.read_parquet(batch)`` and
  ``schema.validate(batch, lazy=True)``.

Each tool runs in a fresh subprocess that reports its wall time and peak resident memory
(``ru_maxrss``, which includes the interpreter and imported libraries; the import-only baseline
is measured too). The files are generated (seeded), written as Parquet into a temp folder and
deleted afterwards.

    .venv/bin/python bench/data_validate.py [--rows 1000000] [--cols 50] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

PIPESHIELD = """
import json, resource, sys, time
from pipeshield.data.profile import ProfileSettings, learn_profile
from pipeshield.data.validate import ValidationSettings, validate
trusted, batch, chunk = sys.argv[1], sys.argv[2], int(sys.argv[3])
t = time.perf_counter()
profile = learn_profile(trusted, settings=ProfileSettings(chunk_rows=chunk))
t1 = time.perf_counter()
result = validate(batch, profile, ValidationSettings(chunk_rows=chunk))
t2 = time.perf_counter()
print(json.dumps({"profile_s": t1 - t, "validate_s": t2 - t1, "total_s": t2 - t, "conforms": result.conforms,
                  "violations": len(result.violations),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

PANDERA = """
import json, resource, sys, time, warnings
warnings.filterwarnings("ignore")
import pandas as pd
import pandera.pandas as pa
trusted, batch = sys.argv[1], sys.argv[2]
t = time.perf_counter()
schema = pa.infer_schema(pd.read_parquet(trusted))
t1 = time.perf_counter()
try:
    schema.validate(pd.read_parquet(batch), lazy=True)
    ok, failures = True, 0
except pa.errors.SchemaErrors as err:
    ok, failures = False, len(err.failure_cases)
t2 = time.perf_counter()
checks = sum(len(c.checks) for c in schema.columns.values())
print(json.dumps({"profile_s": t1 - t, "validate_s": t2 - t1, "total_s": t2 - t, "conforms": ok,
                  "violations": failures, "range_checks": checks,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

BASELINE = {
    "pipeshield": "import pipeshield.data.profile, pipeshield.data.validate, pandas, pyarrow.parquet, scipy.stats",
    "pandera": "import pandas, pandera.pandas, pyarrow.parquet",
}


def _write(path: Path, rows: int, cols: int, seed: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    names = [f"f{i:02d}" for i in range(cols)]
    scale = np.linspace(0.5, 5.0, cols)
    writer = None
    step = 100_000
    for start in range(0, rows, step):
        n = min(step, rows - start)
        block = rng.normal(size=(n, cols)) * scale + np.arange(cols)
        table = pa.table({name: block[:, i] for i, name in enumerate(names)})
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    assert writer is not None
    writer.close()


def _run(code: str, *args: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _baseline(imports: str) -> float:
    code = f"import resource; {imports}; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--cols", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import pandera

    import pipeshield

    with tempfile.TemporaryDirectory(prefix="pipeshield-bench-") as tmp:
        trusted, batch = Path(tmp) / "trusted.parquet", Path(tmp) / "batch.parquet"
        _write(trusted, args.rows, args.cols, seed=1)
        _write(batch, args.rows, args.cols, seed=2)
        mb = (trusted.stat().st_size + batch.stat().st_size) / 2**20
        print(f"{args.rows:,} rows x {args.cols} float64 columns, two Parquet files ({mb:.0f} MiB together); "
              f"pipeshield {pipeshield.__version__}, pandera {pandera.__version__}; median of {args.repeats} runs")
        runs: dict[str, list[dict[str, float]]] = {"pandera": [], "pipeshield (chunk 65,536)": [],
                                                   "pipeshield (chunk 16,384)": []}
        for _ in range(args.repeats):  # alternate the tools so machine noise hits both
            runs["pandera"].append(_run(PANDERA, str(trusted), str(batch)))
            runs["pipeshield (chunk 65,536)"].append(_run(PIPESHIELD, str(trusted), str(batch), "65536"))
            runs["pipeshield (chunk 16,384)"].append(_run(PIPESHIELD, str(trusted), str(batch), "16384"))
    base = {name: _baseline(code) for name, code in BASELINE.items()}
    print(f"{'tool':28} {'learn s':>8} {'check s':>8} {'total s':>8} {'peak RSS MiB':>13} {'over imports':>13}  result")
    med: dict[str, dict[str, float]] = {}
    for name, rs in runs.items():
        m = {k: statistics.median(r[k] for r in rs) for k in ("profile_s", "validate_s", "total_s", "peak_rss_mb")}
        med[name] = m
        b = base["pandera" if name == "pandera" else "pipeshield"]
        verdict = "conforms" if rs[-1]["conforms"] else f"{int(rs[-1]['violations'])} violations"
        print(f"{name:28} {m['profile_s']:8.2f} {m['validate_s']:8.2f} {m['total_s']:8.2f} {m['peak_rss_mb']:13.0f} "
              f"{m['peak_rss_mb'] - b:13.0f}  {verdict}")
    print(f"import-only RSS: pipeshield {base['pipeshield']:.0f} MiB, pandera {base['pandera']:.0f} MiB")
    ps, pd_ = med["pipeshield (chunk 65,536)"], med["pandera"]
    print(f"ratio pipeshield/pandera: time {ps['total_s'] / pd_['total_s']:.2f}, peak RSS {ps['peak_rss_mb'] / pd_['peak_rss_mb']:.2f}")


if __name__ == "__main__":
    main()
