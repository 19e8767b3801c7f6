"""Lazy command loading: the table is complete, --help needs no command module, scan starts light."""

from __future__ import annotations

import importlib
import inspect
import json
import pickle
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipeshield.cli import COMMANDS, main
from pipeshield.cli._scan import fast

CLI_DIR = Path(__file__).parents[2] / "src" / "pipeshield" / "cli"
BIN = Path(sys.executable).parent / "pipeshield"


def _registered() -> dict[str, str]:
    """Command name -> first paragraph of its docstring, for everything the modules register."""
    from typer.main import get_command_name

    from pipeshield.cli._app import app

    for entry in COMMANDS.values():
        importlib.import_module(entry.module)
    out = {}
    for info in app.registered_commands:
        name = info.name or get_command_name(info.callback.__name__)
        doc = inspect.getdoc(info.callback) or ""
        out[name] = " ".join(doc.split("\n\n")[0].split())
    for group in app.registered_groups:  # `pipeshield data ...`: a sub-app, its help on the group
        help_text = group.typer_instance.info.help if group.typer_instance else group.help
        if isinstance(group.name, str) and isinstance(help_text, str):
            out[group.name] = " ".join(help_text.split())
    return out


def test_every_entry_names_its_module_and_docstring() -> None:
    registered = _registered()
    for name, entry in COMMANDS.items():
        assert name in registered, f"{entry.module} registers no command {name!r}"
        assert entry.help == registered[name], f"COMMANDS[{name!r}].help differs from the docstring"


def test_every_command_module_is_in_the_table() -> None:
    modules = {entry.module for entry in COMMANDS.values()}
    for path in CLI_DIR.glob("*.py"):
        if re.search(r"^@app\.command", path.read_text(), re.MULTILINE):
            assert f"pipeshield.cli.{path.stem}" in modules, f"{path.name} registers commands but is not in COMMANDS"


def test_help_lists_every_command_without_importing_them() -> None:
    code = (
        "import sys\nfrom pipeshield.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('LOADED=' + ','.join(m for m in sys.modules if m.startswith('pipeshield.cli.') and "
        "not m.split('.')[-1].startswith('_')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    for name in COMMANDS:
        assert re.search(rf"^│ {name} ", out.stdout, re.MULTILINE), name
    assert out.stdout.rstrip().endswith("LOADED="), out.stdout[-300:]


def test_scan_imports_nothing_heavy(tmp_path: Path) -> None:
    target = tmp_path / "small.pkl"
    target.write_bytes(pickle.dumps({"weights": [1.0, 2.0], "step": 3}))
    for extra in ([], ["--format", "json"]):
        code = (
            "import sys\nfrom pipeshield.cli import main\n"
            f"try:\n    main(['scan', *{extra!r}, {str(target)!r}])\nexcept SystemExit as e:\n    code = e.code\n"
            "heavy = [m for m in ('numpy', 'torch', 'pandas', 'pydantic', 'typer', 'sklearn') if m in sys.modules]\n"
            "print('CODE=%s HEAVY=%s' % (code, ','.join(heavy)))"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
        assert "CODE=0 HEAVY=\n" in out.stdout, out.stdout[-300:] + out.stderr[-300:]


@pytest.mark.parametrize("args", [["--help"], ["--bogus", "x"], ["-f", "xml", "x"], [], ["--format"], ["-fjson", "x"]])
def test_fast_path_leaves_the_rest_to_typer(args: list[str]) -> None:
    assert fast(args) is None


def test_fast_path_and_typer_agree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pipeshield.cli._app import app

    good = tmp_path / "good.pkl"
    good.write_bytes(pickle.dumps([1, 2]))
    odd = tmp_path / "odd.pkl"
    odd.write_bytes(b"\x80\x04\x8c\tmypackage\x8c\x05Model\x93)R.")
    cases = [["--format", "json", str(good)], ["-f", "json", "--strict", str(odd)], ["--format=json", "--", str(odd)]]
    for args in cases:
        results = []
        for runner in (lambda a: main(["scan", *a]), lambda a: app(["scan", *a], standalone_mode=True)):
            with pytest.raises(SystemExit) as exit_info:
                runner(args)
            out, _ = capsys.readouterr()
            results.append((exit_info.value.code or 0, json.loads(out)))
        assert results[0] == results[1], args
    assert results[0][0] == 0 or "--strict" in args


def test_unknown_command_still_suggests(tmp_path: Path) -> None:
    out = subprocess.run([str(BIN), "scna", "x"], capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 2 and "scan" in out.stderr
