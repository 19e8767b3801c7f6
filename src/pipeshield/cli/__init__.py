"""The ``pipeshield`` command: parsing and rendering only; the work is in the library.

Exit codes, everywhere: 0 nothing at or above the threshold, 1 findings at or above it (or a failed
verification), 2 a usage or configuration error (one line on stderr; ``--debug`` for the traceback),
3 an internal error (a pipeshield bug: the traceback is printed).

Commands load lazily. :data:`COMMANDS` maps each command to the module that defines it and the help
line ``pipeshield --help`` shows, so ``pipeshield scan FILE`` imports the scanner and not ``audit``
or ``sign``; a new command module needs one entry here (a test checks). ``scan`` also has a
standard-library fast path for its plain invocations, so a CI step scanning one file does not pay
for typer at all (see :mod:`pipeshield.cli._lazy`). The typer app itself is
:data:`pipeshield.cli._app.app`, also reachable as ``pipeshield.cli.app``.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from pipeshield.cli._lazy import LazyCommand

if TYPE_CHECKING:
    import typer

__all__ = ["COMMANDS", "app", "main"]

#: Command name -> defining module and its help line (the first paragraph of its docstring; a test
#: keeps them equal). The order is the order of ``pipeshield --help``. An entry whose module is not
#: installed is not listed.
COMMANDS: dict[str, LazyCommand] = {
    "keygen": LazyCommand("pipeshield.cli.keys", "Write a new signing key pair."),
    "log": LazyCommand("pipeshield.cli.log", "The gateway's tamper-evident audit log: verify it, tail it, export it, sign checkpoints."),
    "keys": LazyCommand("pipeshield.cli.apikeys", "The gateway's API keys: create (shown once), list, revoke."),
    "serve": LazyCommand("pipeshield.cli.serve", "Serve the pipeline's verified models behind the guarded "
                         "inference gateway."),
    "attest": LazyCommand("pipeshield.cli.attest",
                          "Write a signed in-toto statement (SLSA provenance v1) of how MODEL was trained."),
    "attack": LazyCommand("pipeshield.cli.poison", "Red-team attacks against your own data and models (poisoning, "
                          "evasion, extraction, ...)."),
    "train": LazyCommand("pipeshield.cli.train", "Hardened training: differential privacy, adversarial, "
                         "poisoning-resistant and federated, each measured."),
    "audit": LazyCommand("pipeshield.cli.audit", "Audit a pipeline: exit 0 if nothing at or above the "
                         "threshold, 1 if something is, 2 on error."),
    "checks": LazyCommand("pipeshield.cli.audit", "List every check: id, stage, threat and what it measures."),
    "data": LazyCommand("pipeshield.cli.data", "Data defences: profile, validate, detect poisoning and leakage, "
                        "sanitize."),
    "deps": LazyCommand("pipeshield.cli.deps", "Audit Python dependencies for known vulnerabilities (OSV) and "
                        "risky requirements: exit 0 clean, 1 findings at or above --fail-on."),
    "demo": LazyCommand("pipeshield.cli.demo", "Build a small pipeline with planted weaknesses, audit it, "
                        "and say where the report is."),
    "gate": LazyCommand("pipeshield.cli.gate", "Exit 1 if the report holds problems at or above --fail-on, "
                        "0 if not, 2 if it can't be read."),
    "init": LazyCommand("pipeshield.cli.init", "Look at the files in DIRECTORY and write "
                        "DIRECTORY/pipeshield.toml to start from."),
    "scan": LazyCommand("pipeshield.cli.scan", "Scan model files for code execution: exit 0 clean, "
                        "1 malicious (or inconclusive with --strict).", fast="pipeshield.cli._scan:fast"),
    "sbom": LazyCommand("pipeshield.cli.sbom", "Write a CycloneDX 1.6 ML-BOM of the pipeline: its models, "
                        "datasets and Python environment."),
    "sign": LazyCommand("pipeshield.cli.sign", "Sign PATH with an OpenSSF Model Signing (OMS v1.0) signature.",
                        fast="pipeshield.cli._sign:fast"),
    "verify": LazyCommand("pipeshield.cli.sign", "Verify PATH: exit 0 if it verifies, 1 if not (naming each "
                          "file concerned), 2 on usage errors."),
}


def __getattr__(name: str) -> Any:
    if name == "app":  # command modules do `from pipeshield.cli import app`
        from pipeshield.cli._app import app

        return app
    raise AttributeError(f"module 'pipeshield.cli' has no attribute {name!r}")


if TYPE_CHECKING:
    app: typer.Typer


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app and turn PipeshieldError into exit code 2 with one clear line."""
    from pipeshield.errors import PipeshieldError

    args = list(argv if argv is not None else sys.argv[1:])
    debug = "--debug" in args or os.environ.get("PIPESHIELD_DEBUG", "").lower() in ("1", "true", "yes", "on")
    try:
        entry = COMMANDS.get(args[0]) if args else None
        code = entry.run_fast(args[1:]) if entry is not None else None
        if code is not None:
            sys.exit(code)
        from pipeshield.cli._app import app

        app(args=args, standalone_mode=True)
    except PipeshieldError as err:
        if debug:
            raise
        sys.stderr.write(f"error: {err.diagnostics()}\n")
        sys.exit(2)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    except Exception:  # a bug, not a user error: say so, and never exit 0/1/2 for it
        import traceback

        traceback.print_exc()
        sys.stderr.write("internal error: this is a pipeshield bug; please report it with the traceback above\n")
        sys.exit(3)
