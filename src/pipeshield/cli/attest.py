"""``pipeshield attest``: signed SLSA provenance for a training run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from pipeshield.cli import app
from pipeshield.cli.keys import PASSPHRASE_ENV


def _params(values: list[str]) -> dict[str, Any]:
    from pipeshield.errors import ConfigError

    out: dict[str, Any] = {}
    for item in values:
        name, sep, raw = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"--param: expected NAME=VALUE (got {item!r})")
        try:
            out[name.strip()] = json.loads(raw)  # numbers, booleans, lists stay typed
        except json.JSONDecodeError:
            out[name.strip()] = raw
    return out


@app.command()
def attest(
    model: Annotated[Path, typer.Argument(help="The trained model (file or folder).")],
    key: Annotated[Path, typer.Option("--key", "-k", help="The private key that signs the attestation.")],
    dataset: Annotated[list[Path] | None, typer.Option("--dataset", "-d", help="A training dataset (repeatable).")] = None,
    base_model: Annotated[list[Path] | None, typer.Option("--base-model", help="A model it was fine-tuned from.")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", help="A hyperparameter NAME=VALUE (repeatable).")] = None,
    lock: Annotated[Path | None, typer.Option("--lock", help="A lock/requirements file whose digest is recorded.")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Default: MODEL.provenance.sig.")] = None,
    passphrase: Annotated[
        str | None, typer.Option("--passphrase", envvar=PASSPHRASE_ENV, help="For an encrypted key.", show_default=False)
    ] = None,
) -> None:
    """Write a signed in-toto statement (SLSA provenance v1) of how MODEL was trained."""
    from pipeshield.cli.render import console
    from pipeshield.integrity.provenance import attest as do_attest

    result = do_attest(
        model, key=key, datasets=dataset or [], base_models=base_model or [], params=_params(param or []),
        lock=lock, out=out, passphrase=passphrase,
    )
    deps = result.statement["predicate"]["buildDefinition"]["resolvedDependencies"]
    console.print(f"attested {model} ({len(deps)} input(s)) -> [bold]{result.path}[/]")
