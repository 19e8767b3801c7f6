"""``pipeshield sign`` and ``pipeshield verify``: OMS v1.0 signatures over a file or a folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeshield.cli import app
from pipeshield.cli.keys import PASSPHRASE_ENV


@app.command()
def sign(
    path: Annotated[Path, typer.Argument(help="A file or a folder (a model, a dataset).")],
    key: Annotated[Path, typer.Option("--key", "-k", help="The private key (PEM).")],
    signature: Annotated[
        Path | None, typer.Option("--signature", "-s", help="Where to write it (default: FILE.sig or FOLDER/model.sig).")
    ] = None,
    passphrase: Annotated[
        str | None, typer.Option("--passphrase", envvar=PASSPHRASE_ENV, help="For an encrypted key.", show_default=False)
    ] = None,
    hash_type: Annotated[str, typer.Option("--hash", help="sha256 (interoperable) or blake3 (faster).")] = "sha256",
    shard_size: Annotated[
        int | None, typer.Option("--shard-size", min=1, help="Hash files in shards of this many bytes (parallel).")
    ] = None,
    ignore: Annotated[list[str] | None, typer.Option("--ignore", help="A path inside the folder to leave out.")] = None,
    allow_symlinks: Annotated[bool, typer.Option("--allow-symlinks", help="Follow symlinks instead of refusing.")] = False,
) -> None:
    """Sign PATH with an OpenSSF Model Signing (OMS v1.0) signature."""
    from pipeshield.cli.render import console
    from pipeshield.integrity.signing import sign as do_sign

    result = do_sign(
        path,
        key,
        signature=signature,
        passphrase=passphrase,
        hash_type=hash_type,
        method="shards" if shard_size else "files",
        shard_size=shard_size,
        allow_symlinks=allow_symlinks,
        ignore_paths=ignore or (),
    )
    console.print(f"signed {len(result.manifest.resources)} resource(s) of {path} -> [bold]{result.signature}[/]")


@app.command()
def verify(
    path: Annotated[Path, typer.Argument(help="The signed file or folder.")],
    key: Annotated[
        list[Path] | None, typer.Option("--key", "-k", help="A trusted public key (repeatable). Default: the pipeline's [keys].")
    ] = None,
    signature: Annotated[Path | None, typer.Option("--signature", "-s", help="Default: FILE.sig or FOLDER/model.sig.")] = None,
    pipeline: Annotated[
        Path, typer.Option("--pipeline", "-p", help="Pipeline file whose [keys] trusted are used when --key is not given.")
    ] = Path("pipeshield.toml"),
    ignore_unsigned_files: Annotated[
        bool, typer.Option("--ignore-unsigned-files", help="Do not fail on files the signature does not cover.")
    ] = False,
    provenance: Annotated[
        bool, typer.Option("--provenance", help="Also check the training provenance chain (MODEL.provenance.sig).")
    ] = False,
    attestation: Annotated[Path | None, typer.Option("--attestation", help="The provenance file, if not the default.")] = None,
) -> None:
    """Verify PATH: exit 0 if it verifies, 1 if not (naming each file concerned), 2 on usage errors."""
    from pipeshield.cli.render import console
    from pipeshield.errors import VerificationError
    from pipeshield.integrity.signing import verify as do_verify

    keys = list(key or [])
    if not keys:
        from pipeshield.core.pipeline import load_pipeline

        loaded = load_pipeline(pipeline, check_files=False)
        keys = [loaded.resolve(k) for k in loaded.keys.trusted]
    try:
        if provenance or attestation:
            from pipeshield.integrity.provenance import verify_provenance

            chain = verify_provenance(path, attestation, keys, model_signature=signature)
            console.print(
                f"[green]verified chain of custody[/]: {path} (model signature, attestation {chain.attestation}, "
                f"{len(chain.dependencies)} signed input(s) unchanged)",
                soft_wrap=True,
            )
            return
        result = do_verify(path, keys, signature=signature, ignore_unsigned_files=ignore_unsigned_files)
    except VerificationError as err:
        console.print(f"[bold red]verification failed[/]: {path}", soft_wrap=True)
        for problem in err.problems:  # soft_wrap: a path is never broken across lines
            console.print(f"  - {problem}", soft_wrap=True, markup=False, highlight=False)
        if err.hint:
            console.print(f"  hint: {err.hint}", soft_wrap=True, markup=False)
        raise typer.Exit(1) from None
    console.print(
        f"[green]verified[/]: {path} ({len(result.manifest.resources)} resource(s), signature {result.signature}, "
        f"key {result.key_path})"
    )
