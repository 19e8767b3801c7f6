"""``pipeshield keygen``: an ECDSA key pair for signing models and datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeshield.cli import app

PASSPHRASE_ENV = "PIPESHIELD_KEY_PASSPHRASE"


@app.command()
def keygen(
    out: Annotated[Path, typer.Option("--out", "-o", help="Prefix: writes PREFIX.key (0600) and PREFIX.pub.")],
    curve: Annotated[str, typer.Option("--curve", help="P-256 or P-384.")] = "P-256",
    passphrase: Annotated[
        str | None, typer.Option("--passphrase", envvar=PASSPHRASE_ENV, help="Encrypt the private key.", show_default=False)
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing key files.")] = False,
) -> None:
    """Write a new signing key pair."""
    from pipeshield.cli.render import console
    from pipeshield.integrity.keys import generate_keypair

    paths = generate_keypair(out, curve=curve, passphrase=passphrase, force=force)
    console.print(f"private key: [bold]{paths.private}[/] (mode 0600{', encrypted' if passphrase else ''}; keep it secret)")
    console.print(f"public key:  [bold]{paths.public}[/] (list it under [keys] trusted in pipeshield.toml)")
