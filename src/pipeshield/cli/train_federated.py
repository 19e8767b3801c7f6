"""``pipeshield train federated``: retrain a pipeline model with simulated Flower clients and a
poisoning-resistant aggregation rule, measured; or ``--compare`` every rule under one attack.

Exit codes: 0 the model and its signed provenance are written (or the comparison printed); 2 a
usage error (too few clients for the rule, a malicious fraction of 0.5 or more, no rounds, no
signing key, Flower not installed), one line on stderr and no model left behind. ``--format json``
prints one JSON object on stdout. The work is :mod:`pipeshield.training.federated.recipe`.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from pipeshield.cli._attack import OutputFormat
from pipeshield.cli.train import (
    FormatOption,
    KeyOption,
    ModelOption,
    OutOption,
    PassphraseOption,
    PipelineOption,
    SeedOption,
    train_app,
)


class _Strategy(enum.StrEnum):
    fedavg = "fedavg"
    krum = "krum"
    multi_krum = "multi-krum"
    median = "median"
    trimmed_mean = "trimmed-mean"
    bulyan = "bulyan"


class _Attack(enum.StrEnum):
    scaled = "scaled"
    label_flip = "label-flip"
    backdoor = "backdoor"


class _Partition(enum.StrEnum):
    iid = "iid"
    dirichlet = "dirichlet"


class _Side(enum.StrEnum):
    server = "server"
    client = "client"


class _Engine(enum.StrEnum):
    ray = "ray"
    inprocess = "inprocess"


@train_app.command("federated")
def federated_command(
    model: ModelOption,
    key: KeyOption = None,
    pipeline: PipelineOption = Path("pipeshield.toml"),
    clients: Annotated[int, typer.Option("--clients", help="Simulated clients, all sampled every round.")] = 10,
    rounds: Annotated[int, typer.Option("--rounds", help="Federated rounds.")] = 5,
    strategy: Annotated[_Strategy, typer.Option("--strategy", help="Aggregation rule.")] = _Strategy.fedavg,
    attack: Annotated[_Attack | None, typer.Option("--attack", help="Simulate malicious clients: scaled, label-flip or backdoor (default: none; --compare: scaled).")] = None,
    malicious: Annotated[float | None, typer.Option("--malicious", help="Fraction of malicious clients with --attack, in [0, 0.5) (default 0.2).", show_default=False)] = None,
    assumed_malicious: Annotated[int | None, typer.Option("--assumed-malicious", help="f the robust rule is built for (default: the malicious count, or 20% of --clients).")] = None,
    boost: Annotated[float | None, typer.Option("--boost", help="Malicious update scale (default: scaled 10, backdoor 3, label-flip 1).")] = None,
    target: Annotated[int, typer.Option("--target", help="Backdoor target class index.")] = 0,
    partition: Annotated[_Partition, typer.Option("--partition", help="iid, or dirichlet label skew.")] = _Partition.iid,
    alpha: Annotated[float, typer.Option("--alpha", help="Dirichlet concentration (small: more skew).")] = 0.5,
    client_dp_noise: Annotated[float | None, typer.Option("--client-dp-noise", help="Client-level DP noise multiplier (needs --clip).")] = None,
    clip: Annotated[float | None, typer.Option("--clip", help="Client-level DP: L2 bound on each client's update.")] = None,
    client_dp_side: Annotated[_Side, typer.Option("--client-dp-side", help="Who clips: server (holds against malicious clients) or client.")] = _Side.server,
    delta: Annotated[float, typer.Option("--delta", help="Client-level DP delta.")] = 1e-5,
    local_epochs: Annotated[int, typer.Option("--local-epochs", help="Local epochs per round.")] = 2,
    lr: Annotated[float, typer.Option("--lr", help="Local SGD learning rate.")] = 0.05,
    engine: Annotated[_Engine, typer.Option("--engine", help="ray (Flower's Simulation Engine) or inprocess (same apps, no Ray).")] = _Engine.ray,
    ray_cpus: Annotated[int, typer.Option("--ray-cpus", help="CPUs Ray may use (one client actor each).")] = 2,
    compare: Annotated[bool, typer.Option("--compare", help="Run every rule, honest and attacked, same seed; print a table; write no model.")] = False,
    out: OutOption = None,
    passphrase: PassphraseOption = None,
    seed: SeedOption = 0,
    format: FormatOption = OutputFormat.text,
) -> None:
    """Federated training with Flower (robust aggregation, client DP, simulated attackers); signed model."""
    from pipeshield.errors import ConfigError
    from pipeshield.training.federated import ClientDP, LocalTraining
    from pipeshield.training.federated.recipe import compare_pipeline, train_federated

    if (client_dp_noise is None) != (clip is None):
        raise ConfigError("--client-dp-noise and --clip: client-level DP needs both "
                          "(e.g. --client-dp-noise 1.0 --clip 1.0)")
    dp = None
    if clip is not None and client_dp_noise is not None:
        dp = ClientDP(client_dp_noise, clip, client_dp_side.value, delta)
    attack_name = attack.value if attack else ("scaled" if compare else None)
    if malicious is not None and attack_name is None:
        raise ConfigError("--malicious: simulating malicious clients needs --attack scaled, label-flip or backdoor")
    options: dict[str, Any] = {
        "clients": clients, "rounds": rounds, "attack": attack_name,
        "malicious": (0.2 if malicious is None else malicious) if attack_name else 0.0,
        "assumed_malicious": assumed_malicious, "boost": boost, "target": target,
        "partition_scheme": partition.value, "alpha": alpha, "local": LocalTraining(epochs=local_epochs, lr=lr),
        "engine": engine.value, "ray_cpus": ray_cpus, "seed": seed,
    }
    if compare:
        with _progress(format is OutputFormat.text, "comparing rules") as update:
            comparison = compare_pipeline(pipeline, model, client_dp=dp, progress=update, **options)
        data = comparison.to_dict()
        if format is OutputFormat.json:
            typer.echo(json.dumps({"model": model, **data}))
        else:
            _print_comparison(model, data)
        return
    with _progress(format is OutputFormat.text, "federated training") as update:
        run = train_federated(pipeline, model, key=key, out=out, passphrase=passphrase, strategy=strategy.value,
                              client_dp=dp, progress=update, **options)
    result = run.to_dict()
    if format is OutputFormat.json:
        typer.echo(json.dumps(result))
    else:
        _print_run(result)


@contextmanager
def _progress(enabled: bool, label: str) -> Iterator[Callable[[int, int], None]]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from pipeshield.cli.render import console

    if not enabled:
        yield lambda done, total: None
        return
    with Progress(TextColumn(f"[bold]{label}[/] rounds"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task("", total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _print_run(r: dict[str, Any]) -> None:
    from pipeshield.cli.render import console

    attack = r["attack"]
    who = (f"{attack['attack']} by clients {attack['malicious_clients']}" if attack["attack"] else "none")
    console.print(f"{r['model']}: {r['strategy']} over {r['clients']} clients, {r['rounds']} rounds "
                  f"(f={r['assumed_malicious']}, {r['partition']}, engine {r['engine']}): test accuracy "
                  f"{_pct(r['accuracy'])}; simulated attack: {who}"
                  + (f", attack success {_pct(r['attack_success'])}" if r["attack_success"] is not None else ""),
                  soft_wrap=True, highlight=False)
    if r["client_dp"]:
        dp = r["client_dp"]
        eps = "-" if dp["epsilon"] is None else f"{dp['epsilon']:.3g}"
        console.print(f"  client DP: noise {dp['noise_multiplier']:g}, clip {dp['clip']:g} ({dp['side']} side); "
                      f"epsilon {eps} at delta {dp['delta']:g} ({dp['accounting']})", soft_wrap=True, highlight=False)
    console.print("  accuracy per round: " + " ".join(_pct(a) for a in r["accuracy_per_round"]), highlight=False)
    console.print(f"  model      {r['out']}\n  provenance {r['provenance']}", highlight=False)


def _print_comparison(model: str, data: dict[str, Any]) -> None:
    from rich.table import Column, Table

    from pipeshield.cli.render import console

    attack = data["attack"]
    table = Table(Column("strategy", no_wrap=True), "honest accuracy", "attacked accuracy", "drop",
                  "attack success", "(if honest)",
                  title=f"{model}: {attack['attack']} by clients {attack['malicious_clients']} of {data['clients']}, "
                        f"f={data['assumed_malicious']}, {data['rounds']} rounds", title_justify="left")
    skipped = []
    for row in data["rows"]:
        if row["skipped"]:
            table.add_row(row["strategy"], "[dim]n/a[/]", "[dim]n/a[/]", "", "", "")
            skipped.append(f"{row['strategy']} {row['skipped']}")
            continue
        table.add_row(row["strategy"], _pct(row["honest_accuracy"]), _pct(row["attacked_accuracy"]),
                      _pct(row["accuracy_drop"]), _pct(row["attack_success"]), _pct(row["attack_success_if_honest"]))
    console.print(table)
    for line in skipped:
        console.print(f"  n/a: {line}", highlight=False)
    console.print("[dim]attack success: backdoor = triggered test rows sent to the target; label-flip = rows predicted "
                  "as their flipped label; scaled is untargeted (read the drop). Secure aggregation (SecAgg+) cannot "
                  "be combined with these robust rules: the server would see only the masked sum.[/]")
