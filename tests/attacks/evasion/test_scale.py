"""Scale: the assessment streams 50,000 inputs in batches; peak memory does not grow with the set.

The inputs come from a lazy sequence that makes each batch on demand, so the only per-input state
the engine may keep is a few bytes of verdicts. Each size runs in a fresh interpreter, where the
peak resident size (``ru_maxrss``) is that run's own.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import json, resource, sys
    import numpy as np
    import torch
    from pipeshield.attacks.evasion.assess import assess_evasion

    torch.manual_seed(0)
    torch.set_num_threads(1)
    n = int(sys.argv[1])
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    seen = []

    class Lazy:
        # rows made on demand from their index, like a dataset read from disk
        def __init__(self, labels):
            self.labels = labels
        def __len__(self):
            return n
        def __getitem__(self, s):
            seen.append(s.stop - s.start)
            idx = np.arange(s.start, min(s.stop, n))
            x = np.random.default_rng(idx[0]).random((len(idx), 64), dtype=np.float32)
            if self.labels:  # the model's own predictions: every input is attacked
                with torch.no_grad():
                    return model(torch.from_numpy(x)).argmax(1).numpy()
            return x

    a = assess_evasion(model, Lazy(False), Lazy(True), eps_grid=[0.05], clip=(0.0, 1.0),
                       budget="quick", batch_size=500)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert a.clean_accuracy == 1.0
    print(json.dumps({"n": a.n_inputs, "peak_mb": peak_mb, "max_batch": max(seen)}))
    """
)


def _run(n: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(n)], capture_output=True, text=True, check=True, timeout=600
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_memory_stays_flat_from_5000_to_50000_inputs() -> None:
    small, large = _run(5_000), _run(50_000)
    assert large["n"] == 50_000 and large["max_batch"] == 500
    # 45,000 more inputs would be 11.5 MB as float32 rows alone; verdicts are a few bytes each
    assert large["peak_mb"] - small["peak_mb"] < 8.0, (small, large)
