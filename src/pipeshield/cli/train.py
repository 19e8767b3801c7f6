"""``pipeshield train ...``: hardened training recipes, each writing a model and its signed provenance.

The group lives here; each recipe's command is in its own module (``train_dp``, ``train_adversarial``,
``train_robust``, ``train_federated``), imported at the bottom so ``pipeshield train --help`` lists
them all. Options every recipe shares are defined once below.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeshield.cli import app
from pipeshield.cli._attack import OutputFormat
from pipeshield.cli.keys import PASSPHRASE_ENV

__all__ = ["FormatOption", "KeyOption", "ModelOption", "OutOption", "PassphraseOption", "PipelineOption",
           "SIGNING_KEY_ENV", "SeedOption", "train_app"]

SIGNING_KEY_ENV = "PIPESHIELD_SIGNING_KEY"

train_app = typer.Typer(
    help="Hardened training: differential privacy, adversarial, poisoning-resistant and federated, each measured.",
    no_args_is_help=True,
)
app.add_typer(train_app, name="train")

PipelineOption = Annotated[Path, typer.Option("--pipeline", "-p", help="The pipeline file.")]
ModelOption = Annotated[str, typer.Option("--model", "-m", help="The pipeline model to retrain (its builder and train_data).")]
OutOption = Annotated[Path | None, typer.Option("--out", "-o", help="Default: models/NAME.RECIPE.safetensors beside the model.")]
KeyOption = Annotated[
    Path | None,
    typer.Option("--key", "-k", envvar=SIGNING_KEY_ENV, help="Private key that signs the provenance attestation (required)."),
]
PassphraseOption = Annotated[
    str | None, typer.Option("--passphrase", envvar=PASSPHRASE_ENV, help="For an encrypted key.", show_default=False)
]
SeedOption = Annotated[int, typer.Option("--seed", help="Seed of every randomised step (initialisation, sampling, noise).")]
FormatOption = Annotated[OutputFormat, typer.Option("--format", "-f", help="text (tables) or json (one object on stdout).")]


import pipeshield.cli.train_adversarial  # noqa: E402,F401  (`pipeshield train adversarial`)
import pipeshield.cli.train_dp  # noqa: E402,F401  (`pipeshield train dp`)
import pipeshield.cli.train_federated  # noqa: E402,F401  (`pipeshield train federated`)
import pipeshield.cli.train_robust  # noqa: E402,F401  (`pipeshield train robust`)
