"""``pipeshield init``: a commented starter ``pipeshield.toml`` from what a folder holds.

It reads only names and headers (CSV first line, Parquet schema, NPZ array names, the first bytes of
key files); it never loads a model. What it cannot know (a torch builder, which column is the
label) it writes as a commented line with a note, so the file it writes always validates.
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from pipeshield.core.files import atomic_write_text
from pipeshield.core.formats import detect_format
from pipeshield.core.pipeline import DATASET_FORMATS, MODEL_FORMATS, parse_pipeline
from pipeshield.errors import ConfigError

__all__ = ["StarterResult", "write_starter"]

_SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", "pipeshield-report", ".private", ".mypy_cache"}
_LABEL_NAMES = ("label", "labels", "target", "y", "class", "diagnosis", "outcome")
_OTHER_MODEL_SUFFIXES = {".pkl", ".pickle", ".joblib", ".bin", ".h5", ".keras", ".gguf", ".ckpt", ".npy", ".msgpack"}
_ROLE_WORDS = (("test", "test"), ("eval", "test"), ("val", "test"), ("ref", "reference"), ("incoming", "incoming"),
               ("new", "incoming"), ("batch", "incoming"), ("train", "train"))


@dataclass
class StarterResult:
    path: Path
    n_datasets: int = 0
    n_models: int = 0
    n_keys: int = 0
    n_artifacts: int = 0
    notes: list[str] = field(default_factory=list)


def _q(text: str) -> str:
    return json.dumps(text)


def _key(stem: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_") or "item"
    name, i = base, 2
    while name in taken:
        name, i = f"{base}_{i}", i + 1
    taken.add(name)
    return name


def _files(root: Path, notes: list[str], max_depth: int = 4) -> list[Path]:
    """Files under ``root``, pruning tool folders before descending into them."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        depth = len(Path(dirpath).relative_to(root).parts)
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and depth < max_depth - 1)
        for name in sorted(filenames):
            path = Path(dirpath) / name
            try:
                path.relative_to(root).as_posix().encode("utf-8")
            except UnicodeEncodeError:
                notes.append(f"skipped {path!s}: its name is not valid UTF-8")
                continue
            if name != "pipeshield.toml" and path.is_file():
                out.append(path)
    return out


def _columns(path: Path, fmt: str) -> list[str]:
    try:
        if fmt == "csv":
            with open(path, encoding="utf-8", errors="replace") as fh:
                return [c.strip().strip('"') for c in fh.readline().rstrip("\n").split(",")]
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names)
        if fmt == "npz":
            with zipfile.ZipFile(path) as zf:
                return [n.removesuffix(".npy") for n in zf.namelist()]
    except (OSError, ValueError, zipfile.BadZipFile):
        return []
    return []


def _role(stem: str) -> str:
    low = stem.lower()
    for word, role in _ROLE_WORDS:
        if word in low:
            return role
    return "train"


def _dataset_block(name: str, rel: str, fmt: str, path: Path, result: StarterResult) -> list[str]:
    role = _role(path.stem)
    cols = _columns(path, fmt)
    label = next((c for c in cols if c.lower() in _LABEL_NAMES), None)
    block = [f"[datasets.{name}]", f"path = {_q(rel)}", f"role = {_q(role)}"]
    if fmt == "npz":
        x_key = next((c for c in cols if c.lower() in ("x", "features", "inputs", "data")), None)
        if x_key and x_key != "x":
            block.append(f"x_key = {_q(x_key)}")
        elif not x_key:
            result.notes.append(f"datasets.{name}: set x_key to the array holding features ({', '.join(cols)})")
    if label:
        block.append(f"label = {_q(label)}")
    elif role != "incoming":
        block.append('# label = "..."   # the label column; none was recognised')
        result.notes.append(f"datasets.{name}: no label column recognised; set label = '...'")
    return block


def write_starter(directory: Path | str, *, force: bool = False) -> StarterResult:
    root = Path(directory)
    if not root.is_dir():
        raise ConfigError(f"{root}: not a folder")
    target = root / "pipeshield.toml"
    if target.exists() and not force:
        raise ConfigError(f"{target}: already exists", hint="pass --force to overwrite it")
    result = StarterResult(target)
    taken: set[str] = set()
    lines = [
        f"# pipeshield pipeline file, written by `pipeshield init` for {root.resolve().name}/.",
        "# Reference: docs/guide.md (pipeline file). Paths are relative to this file.",
        "",
        "[pipeline]",
        f"name = {_q(root.resolve().name)}",
        "",
    ]
    datasets: dict[str, str] = {}
    model_blocks: list[tuple[str, list[str]]] = []  # (name, lines); name "" for commented blocks
    artifact_blocks: list[list[str]] = []
    keys: list[str] = []
    for path in _files(root, result.notes):
        rel = path.relative_to(root).as_posix()
        suffix = path.suffix.lower()
        if suffix in DATASET_FORMATS:
            name = _key(path.stem, taken)
            lines += _dataset_block(name, rel, DATASET_FORMATS[suffix], path, result) + [""]
            datasets[name] = _role(path.stem)
        elif suffix in MODEL_FORMATS:
            fmt = MODEL_FORMATS[suffix]
            name = _key(path.stem, taken)
            detected = detect_format(path)
            if detected.can_execute_code and fmt == "safetensors":
                artifact_blocks.append([f"[artifacts.{name}]", f"path = {_q(rel)}", 'kind = "model"',
                                        f'description = "named .safetensors but its bytes are {detected.name}"'])
                result.notes.append(f"{rel}: named .safetensors but is {detected.name}; listed as an artifact, not loaded")
            elif fmt in ("safetensors", "torch"):
                model_blocks.append(("", [
                    f"# [models.{name}]   # a {fmt} state_dict: uncomment and name the builder that returns its nn.Module",
                    f"# path = {_q(rel)}",
                    '# builder = "your_package.models:build_model"',
                ]))
                result.notes.append(f"models.{name}: a {fmt} state_dict needs builder = 'module:function'; left commented")
            else:
                model_blocks.append((name, [f"[models.{name}]", f"path = {_q(rel)}"]))
        elif suffix in _OTHER_MODEL_SUFFIXES:
            name = _key(path.stem, taken)
            artifact_blocks.append([f"[artifacts.{name}]", f"path = {_q(rel)}", 'kind = "model"'])
        elif suffix in (".pub", ".pem"):
            head = path.read_bytes()[:200]
            if b"PUBLIC KEY" in head or head.startswith((b"ssh-", b"ecdsa-")):
                keys.append(rel)
            elif b"PRIVATE KEY" in head:
                result.notes.append(f"{rel} is a PRIVATE key: keep it out of the repository")
    trains = [n for n, r in datasets.items() if r == "train"]
    tests = [n for n, r in datasets.items() if r == "test"]
    active = [name for name, _ in model_blocks if name]
    if active and not (len(trains) == 1 and len(tests) == 1):
        result.notes.append("set train_data and test_data on each model (which datasets it was trained and tested on)")
    for name, block in model_blocks:
        if name and len(trains) == 1 and len(tests) == 1:
            block = [*block, f"train_data = {_q(trains[0])}", f"test_data = {_q(tests[0])}"]
        lines += [*block, ""]
    for block in artifact_blocks:
        lines += [*block, ""]
    result.n_datasets, result.n_models, result.n_artifacts = len(datasets), len(active), len(artifact_blocks)
    lines += ["[keys]", f"trusted = [{', '.join(_q(k) for k in keys)}]   # public keys whose signatures you trust", ""]
    result.n_keys = len(keys)
    lines += [
        "[policy]",
        "fail_on = \"high\"   # lowest severity that makes `pipeshield audit` exit 1",
        "seed = 0",
        "",
        "# [policy.checks.\"validation.clean-accuracy\"]",
        "# min_accuracy = 0.9",
        "",
    ]
    text = "\n".join(lines)
    import tomllib

    parse_pipeline(tomllib.loads(text), target)  # the starter must always validate
    atomic_write_text(target, text)
    return result
