"""Detection table: pipeshield, picklescan, modelscan and fickling on the same hostile and benign files.

    .venv/bin/python bench/scan_detection.py [--size-mb 1024] [--skip-speed]

Builds, in a temporary folder, one file per technique family of the scanner bypasses we know
(non-denylisted callables, name tricks, parser tricks, container tricks, other formats) plus
benign files made by torch, numpy, joblib/scikit-learn, skops, safetensors and ONNX, and runs
every tool in-process on each. Cells: ``detected`` (called malicious/unsafe), ``flagged``
(pipeshield: inconclusive -- not clean, not malicious), ``missed`` (reported clean), ``error``
(the tool raised, reported a scan error, or skipped the file without scanning it); on benign files ``ok`` or ``FP`` (false positive; an
inconclusive pipeshield verdict is ``FP?``). Then throughput on a ~1 GB torch checkpoint (the
generator of bench/scan_speed.py), deleted afterwards. Nothing is ever unpickled: hostile bytes
are built opcode by opcode (tests/supplychain/builders.py) and only scanned. The reference tools
are benchmark-only: ``.venv/bin/pip install picklescan modelscan fickling``.
"""

from __future__ import annotations

import argparse
import bz2
import contextlib
import gzip
import importlib.metadata
import io
import json
import lzma
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from tests.supplychain.builders import call, patch_zip, torch_like_zip, zip_bytes
from tests.supplychain.test_pickle_techniques import frame_trick
from tests.supplychain.test_tensorflow import _graph, _node, _saved_model


def hostile() -> dict[str, tuple[str, str, bytes]]:
    """name -> (family, file name, bytes)."""
    sys_call = call("posix", "system", "id", proto=2)
    out: dict[str, tuple[str, str, bytes]] = {
        "os.system (baseline)": ("callables", "a.pkl", call("os", "system", "id")),
        "builtins.eval": ("callables", "a.pkl", call("builtins", "eval", "1")),
        "pip.main": ("callables", "a.pkl", call("pip", "main", "install")),
        "pkgutil.resolve_name": ("callables", "a.pkl", call("pkgutil", "resolve_name", "os:system")),
        "pydoc.locate": ("callables", "a.pkl", call("pydoc", "locate", "os.system")),
        "importlib.import_module": ("callables", "a.pkl", call("importlib", "import_module", "os")),
        "operator.attrgetter": ("callables", "a.pkl", call("operator", "attrgetter", "system")),
        "functools.partial": ("callables", "a.pkl", call("functools", "partial", "x")),
        "types.CodeType": ("callables", "a.pkl", call("types", "CodeType", "x")),
        "cProfile.run": ("callables", "a.pkl", call("cProfile", "run", "print(1)")),
        "timeit.timeit": ("callables", "a.pkl", call("timeit", "timeit", "print(1)")),
        "doctest.debug_script": ("callables", "a.pkl", call("doctest", "debug_script", "print(1)")),
        "uuid._get_command_stdout": ("callables", "a.pkl", call("uuid", "_get_command_stdout", "id")),
        "imaplib.IMAP4_stream": ("callables", "a.pkl", call("imaplib", "IMAP4_stream", "id")),
        "pty.spawn": ("callables", "a.pkl", call("pty", "spawn", "id")),
        "ctypes.CDLL": ("callables", "a.pkl", call("ctypes", "CDLL", "libc.so.6")),
        "logging.FileHandler": ("callables", "a.pkl", call("logging", "FileHandler", "/tmp/x")),
        "_io.FileIO": ("callables", "a.pkl", call("_io", "FileIO", "/tmp/x")),
        "urllib.request.urlopen": ("callables", "a.pkl", call("urllib.request", "urlopen", "http://x")),
        "ssl.get_server_certificate": ("callables", "a.pkl", call("ssl", "get_server_certificate", "x")),
        "torch.load (nested)": ("callables", "a.pkl", call("torch", "load", "x")),
        "numpy.load (nested)": ("callables", "a.pkl", call("numpy", "load", "x")),
        "pickle.loads (nested)": ("callables", "a.pkl", call("pickle", "loads", "x")),
        "dotted STACK_GLOBAL pathlib+os.system": ("names", "a.pkl", call("pathlib", "os.system", "id")),
        "submodule asyncio.unix_events": ("names", "a.pkl", call("asyncio.unix_events",
                                                                 "_UnixSubprocessTransport", "x")),
        "C alias _operator.attrgetter": ("names", "a.pkl", call("_operator", "attrgetter", "system")),
        "C alias posix.system": ("names", "a.pkl", call("posix", "system", "id")),
        "no PROTO, STRING operands": ("parser", "a.pkl", b"cos\nsystem\n(S'id'\ntR."),
        "memo decoy (reused PUT index)": ("parser", "a.pkl", (b"\x80\x02ccollections\nOrderedDict\nq\x000"
                                          b"cposix\nsystem\nq\x000h\x00(X\x02\x00\x00\x00idtR.")),
        "OBJ followed by POP": ("parser", "a.pkl", b"\x80\x02(cposix\nsystem\nX\x02\x00\x00\x00ido0N."),
        "FRAME-boundary trick": ("parser", "a.pkl", frame_trick()),
        "payload + broken tail (nullifAI)": ("parser", "a.pkl", sys_call[:-1] + b"\x00\xff\xfe garbage"),
        "payload in 3rd concatenated pickle": ("parser", "a.pkl", b"\x80\x02K\x01.\x80\x02K\x02." + sys_call),
        "torch zip, pickle under non-pickle name": ("containers", "model.pt",
                                                    torch_like_zip(sys_call, "archive/weights.bin")),
        "torch zip, local/central name mismatch": ("containers", "model.pt", patch_zip(
            torch_like_zip(sys_call), local_name=(b"archive/data.pkl", b"archive/data.pkX"))),
        "torch zip, flag bit 0x1": ("containers", "model.pt", patch_zip(torch_like_zip(sys_call), flags=0x1)),
        "torch zip, bad CRC": ("containers", "model.pt", patch_zip(torch_like_zip(sys_call), crc=0)),
        "gzip-wrapped pickle": ("containers", "model.pkl.gz", gzip.compress(sys_call)),
        "bz2-wrapped pickle": ("containers", "model.bin", bz2.compress(sys_call)),
        "xz-wrapped pickle": ("containers", "model.bin", lzma.compress(sys_call)),
        "pickle named .safetensors": ("containers", "model.safetensors", sys_call),
        "pickle with no extension": ("containers", "model", sys_call),
        "object .npy inside .npz": ("containers", "arrays.npz", zip_bytes({"x.npy": _object_npy(sys_call)})),
        "Keras .keras Lambda layer": ("formats", "model.keras", zip_bytes({"config.json": json.dumps(
            {"class_name": "Sequential", "config": {"layers": [{"class_name": "Lambda", "config": {
                "name": "l", "function": {"class_name": "__lambda__", "config": {"code": "4wEAAA=="}}}}]}}
        ).encode(), "metadata.json": b"{}"})),
        "ONNX external data ../../etc/passwd": ("formats", "model.onnx", _onnx_external()),
        "TF SavedModel PyFunc": ("formats", "saved_model.pb", _saved_model(_graph(
            _node("x", "Placeholder"), _node("f", "PyFunc", "x", token="pyfunc_0")))),
        "TF SavedModel WriteFile": ("formats", "saved_model.pb", _saved_model(_graph(
            _node("p", "Const"), _node("w", "WriteFile", "p")))),
        "GGUF chat template (CVE-2024-34359)": ("formats", "model.gguf", _gguf_template(
            "{{ ''.__class__.__mro__[1].__subclasses__() }}")),
    }
    return out


def _object_npy(payload: bytes) -> bytes:
    header = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + payload


def _onnx_external() -> bytes:
    from onnx import TensorProto, helper

    tensor = helper.make_tensor("w", TensorProto.FLOAT, [1], [0.0])
    tensor.ClearField("float_data")
    tensor.data_location = TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", "../../etc/passwd"
    graph = helper.make_graph([helper.make_node("Identity", ["w"], ["y"])], "g", [],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])], [tensor])
    return helper.make_model(graph, producer_name="onnx-bench").SerializeToString()


def _gguf_template(template: str) -> bytes:
    def text(value: str) -> bytes:
        raw = value.encode()
        return struct.pack("<Q", len(raw)) + raw

    kv = text("tokenizer.chat_template") + struct.pack("<I", 8) + text(template)
    return b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + kv


def benign(folder: Path) -> dict[str, Path]:
    import random

    import joblib
    import numpy as np
    import onnx  # noqa: F401
    import skops.io
    import torch
    from safetensors.numpy import save_file
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 4)).astype(np.float32), np.arange(40) % 2
    model = LogisticRegression().fit(x, y)
    out = {
        "torch state_dict (.pt)": folder / "state.pt",
        "torch legacy (_use_new_zipfile_serialization=False)": folder / "legacy.pt",
        "HF Trainer rng_state.pth": folder / "rng_state.pth",
        "numpy .npy": folder / "a.npy",
        "numpy .npz": folder / "a.npz",
        "joblib scikit-learn": folder / "model.joblib",
        "skops scikit-learn": folder / "model.skops",
        "safetensors": folder / "model.safetensors",
        "ONNX (skl2onnx)": folder / "model.onnx",
        "TF SavedModel MatMul/Add": folder / "saved_model.pb",
    }
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    torch.save(net.state_dict(), out["torch state_dict (.pt)"])
    torch.save(net.state_dict(), out["torch legacy (_use_new_zipfile_serialization=False)"],
               _use_new_zipfile_serialization=False)
    torch.save({"python": random.getstate(), "numpy": np.random.get_state(),
                "cpu": torch.random.get_rng_state()}, out["HF Trainer rng_state.pth"])
    np.save(out["numpy .npy"], x)
    np.savez(out["numpy .npz"], x=x, y=y)
    joblib.dump(model, out["joblib scikit-learn"])
    skops.io.dump(model, out["skops scikit-learn"])
    save_file({"w": x}, str(out["safetensors"]))
    out["ONNX (skl2onnx)"].write_bytes(to_onnx(model, x[:1]).SerializeToString())
    out["TF SavedModel MatMul/Add"].write_bytes(_saved_model(_graph(
        _node("x", "Placeholder"), _node("w", "Const"), _node("mm", "MatMul", "x", "w"), _node("o", "Add", "mm", "w"))))
    return out


# --- the tools: each returns "detected", "missed", "flagged" or "error" -------------------------

def _pipeshield(path: Path) -> str:
    from pipeshield.supplychain import scan_file

    verdict = scan_file(path).verdict.value
    return {"malicious": "detected", "inconclusive": "flagged", "clean": "missed"}[verdict]


def _picklescan(path: Path) -> str:
    from picklescan.scanner import scan_file_path

    result = scan_file_path(str(path))
    if result.infected_files:
        return "detected"
    return "error" if result.scan_err or not result.scanned_files else "missed"


def _modelscan(path: Path) -> str:
    from modelscan.modelscan import ModelScan

    with contextlib.redirect_stdout(io.StringIO()):
        report = ModelScan().scan(str(path))
    if report["issues"]:
        return "detected"
    # members it skips inside a scanned archive (tensor data, version files) are normal
    return "error" if report["errors"] or not report["summary"]["scanned"]["total_scanned"] else "missed"


def _fickling(path: Path) -> str:
    import fickling

    result = fickling.scan_file(str(path), graceful=True)
    if result.severity.name != "LIKELY_SAFE":
        return "error" if result.errors and not result.results else "detected"
    return "missed"


def tools() -> dict[str, Callable[[Path], str]]:
    found: dict[str, Callable[[Path], str]] = {"pipeshield": _pipeshield}
    for name, fn in (("picklescan", _picklescan), ("modelscan", _modelscan), ("fickling", _fickling)):
        try:
            importlib.import_module(name)
            found[name] = fn
        except ImportError:
            print(f"{name}: not installed, skipped")
    return found


def _run(fn: Callable[[Path], str], path: Path) -> str:
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            return fn(path)
    except Exception:  # noqa: BLE001  (a tool that raises on a file is an error cell)
        return "error"


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def detection(folder: Path) -> None:
    runners = tools()
    names = list(runners)
    print("versions: " + ", ".join(f"{n} {_version(n)}" for n in names))
    header = f"| technique | family | {' | '.join(names)} |"
    print("\n" + header + "\n|" + "---|" * (len(names) + 2))
    totals = {n: 0 for n in names}
    cases = hostile()
    for i, (label, (family, filename, data)) in enumerate(cases.items()):
        path = folder / f"h{i:02d}" / filename
        path.parent.mkdir()
        path.write_bytes(data)
        cells = [_run(runners[n], path) for n in names]
        for n, cell in zip(names, cells, strict=True):
            totals[n] += cell == "detected"
        print(f"| {label} | {family} | {' | '.join(cells)} |")
    print(f"| **detected (of {len(cases)})** | | {' | '.join(str(totals[n]) for n in names)} |")
    benign_dir = folder / "benign"
    benign_dir.mkdir()
    files = benign(benign_dir)
    fps = {n: 0 for n in names}
    print("\n| benign file | " + " | ".join(names) + " |\n|" + "---|" * (len(names) + 1))
    for label, path in files.items():
        cells = []
        for n in names:
            raw = _run(runners[n], path)
            cell = {"missed": "ok", "detected": "FP", "flagged": "FP?"}.get(raw, raw)
            fps[n] += cell.startswith("FP")
            cells.append(cell)
        print(f"| {label} | {' | '.join(cells)} |")
    print(f"| **false positives (of {len(files)})** | {' | '.join(str(fps[n]) for n in names)} |")


def speed(folder: Path, size_mb: int, repeat: int) -> None:
    from scan_speed import _checkpoint

    path = _checkpoint(folder, size_mb)
    subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
    print(f"\nthroughput: {path.stat().st_size / 1e9:.2f} GB torch checkpoint, in-process, best of {repeat}")
    rows, ok = {}, set()
    for name, fn in tools().items():
        best, cell = float("inf"), ""
        for _ in range(repeat):
            start = time.perf_counter()
            cell = _run(fn, path)
            best = min(best, time.perf_counter() - start)
        rows[name] = best
        if cell != "error":
            ok.add(name)
        shown = {"missed": "clean", "detected": "FALSE POSITIVE", "flagged": "inconclusive"}.get(cell, cell)
        print(f"  {name:12} {best * 1000:9.1f} ms  ({path.stat().st_size / best / 1e9:7.1f} GB/s) result={shown}")
    fastest = min(v for k, v in rows.items() if k != "pipeshield" and k in ok)
    print(f"  pipeshield / fastest other tool: {rows['pipeshield'] / fastest:.2f} (lower is faster)")
    bin_dir = Path(sys.executable).parent
    commands = {
        "pipeshield": [str(bin_dir / "pipeshield"), "scan", "--format", "json", str(path)],
        "picklescan": [str(bin_dir / "picklescan"), "--path", str(path)],
        "modelscan": [str(bin_dir / "modelscan"), "-p", str(path)],
        "fickling": [str(bin_dir / "fickling"), "--check-safety", str(path)],
    }
    print(f"CLI end to end (start-up included), best of {repeat}:")
    cli = {}
    for name, cmd in commands.items():
        if not Path(cmd[0]).exists():
            continue
        best, code = float("inf"), 0
        for _ in range(repeat):
            start = time.perf_counter()
            code = subprocess.run(cmd, capture_output=True, check=False, timeout=600).returncode
            best = min(best, time.perf_counter() - start)
        if code in (0, 1):  # a tool that failed on the file is not a speed reference
            cli[name] = best
        print(f"  {name:12} {best:7.3f} s  exit {code}" + ("" if code in (0, 1) else " (failed; not compared)"))
    others = [v for k, v in cli.items() if k != "pipeshield"]
    if others and "pipeshield" in cli:
        print(f"  pipeshield / fastest other tool: {cli['pipeshield'] / min(others):.2f} (lower is faster)")
    os.remove(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--skip-speed", action="store_true")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="pipeshield-detect-"))
    try:
        detection(folder)
        if not args.skip_speed:
            speed(folder, min(args.size_mb, 1024), args.repeat)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
