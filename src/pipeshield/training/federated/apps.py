"""The same server and clients on separate hosts: a Flower ``ServerApp`` and ``ClientApp`` for
Flower's Deployment Engine (a SuperLink on the server host, a SuperNode on each client host,
``flwr run`` to start a run). See the federated guide for the commands; in short::

    # server host: the SuperLink (TLS: --ssl-ca-certfile, --ssl-certfile, --ssl-keyfile)
    flower-superlink --ssl-ca-certfile ca.crt --ssl-certfile server.pem --ssl-keyfile server.key
    # each client host: a SuperNode that knows where its own data is
    flower-supernode --root-certificates ca.crt --superlink SERVER:9092 \\
        --node-config 'pipeline="/data/pipeshield.toml" model="digits_cnn"'
    # anywhere with the app folder (its pyproject.toml from flower_app_toml()):
    flwr run . my-federation --stream

Components (``[tool.flwr.app.components]``)::

    serverapp = "pipeshield.training.federated.apps:server_app"
    clientapp = "pipeshield.training.federated.apps:client_app"

Configuration. The run config (``[tool.flwr.app.config]``, ``flwr run -c``) is read by both
sides: ``pipeline`` and ``model`` (on the server: the builder and the *test* data), ``strategy``,
``rounds``, ``clients`` (SuperNodes per round), ``assumed-malicious``, ``client-dp-noise``
(0 = off), ``clip``, ``client-dp-side``, ``local-epochs``, ``batch-size``, ``lr``, ``seed``,
``out`` and ``key`` (write the global model and its signed provenance on the server host; empty =
do not write). Each SuperNode's node config gives ``pipeline`` and ``model`` on *its* host (its
``train_data`` is its private data) and, only to split one dataset for a demonstration,
``partition-id`` and ``num-partitions``.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np

from pipeshield.errors import ConfigError
from pipeshield.training.federated._flower import require_flwr

require_flwr()

from flwr.app import Context, Message, MetricRecord, RecordDict  # noqa: E402
from flwr.clientapp import ClientApp  # noqa: E402
from flwr.clientapp.typing import ClientAppCallable  # noqa: E402
from flwr.serverapp import Grid, ServerApp  # noqa: E402

__all__ = ["DEFAULT_RUN_CONFIG", "client_app", "flower_app_toml", "server_app"]

#: Every run-config key the apps read, with its default.
DEFAULT_RUN_CONFIG: dict[str, bool | int | float | str] = {
    "pipeline": "pipeshield.toml", "model": "", "strategy": "fedavg", "rounds": 5, "clients": 2,
    "assumed-malicious": 0, "client-dp-noise": 0.0, "clip": 0.0, "client-dp-side": "server",
    "local-epochs": 2, "batch-size": 16, "lr": 0.05, "seed": 0, "out": "", "key": "",
}


def _config(context: Context) -> dict[str, Any]:
    return {**DEFAULT_RUN_CONFIG, **dict(context.run_config)}


@functools.lru_cache(maxsize=4)
def _client_setup(pipeline: str, model: str, part: int, parts: int, seed: int, local: tuple[int, int, float]) -> Any:
    """The SuperNode's data and model builder, loaded once per process."""
    from pipeshield.core.pipeline import load_pipeline
    from pipeshield.training._common import build_module, model_data
    from pipeshield.training.federated.clients import ClientSetup, LocalTraining
    from pipeshield.training.federated.malicious import AttackPlan
    from pipeshield.training.federated.partitions import partition

    pipe = load_pipeline(pipeline)
    data = model_data(pipe, model)
    x, y = data.shaped(data.x), data.y
    rows = partition(y, parts, seed=seed)[part] if parts > 1 else np.arange(len(y))
    return ClientSetup(functools.partial(build_module, pipe, model), x, y, (rows,), AttackPlan(kind=None),
                       LocalTraining(epochs=local[0], batch_size=local[1], lr=local[2]), seed=seed)


def _setup_for(context: Context) -> Any:
    node, run = dict(context.node_config), _config(context)
    pipeline, model = str(node.get("pipeline", run["pipeline"])), str(node.get("model", run["model"]))
    if not model:
        raise ConfigError("SuperNode: set the model in --node-config 'model=\"NAME\"' (or the run config)")
    return _client_setup(pipeline, model, int(node.get("partition-id", 0)), int(node.get("num-partitions", 1)),
                         int(run["seed"]), (int(run["local-epochs"]), int(run["batch-size"]), float(run["lr"])))


def _clip_when_asked(msg: Message, ctxt: Context, call_next: ClientAppCallable) -> Message:
    """Flower's ``fixedclipping_mod`` when the server's DP wrapper sent a clipping norm."""
    from flwr.clientapp.mod import fixedclipping_mod
    from flwr.supercore.differential_privacy import KEY_CLIPPING_NORM

    config = next(iter(msg.content.config_records.values()), None)
    if config is not None and KEY_CLIPPING_NORM in config:
        return fixedclipping_mod(msg, ctxt, call_next)
    return call_next(msg, ctxt)


client_app = ClientApp(mods=[_clip_when_asked])


@client_app.train()
def _train(msg: Message, context: Context) -> Message:
    from pipeshield.training.federated.clients import train_reply

    setup = _setup_for(context)
    key, sent = next(iter(msg.content.array_records.items()))
    config = next(iter(msg.content.config_records.values()), None)
    server_round = int(config.get("server-round", 0)) if config is not None else 0  # type: ignore[arg-type]
    arrays, metrics = train_reply(setup, 0, sent, server_round)
    return Message(content=RecordDict({key: arrays, "metrics": MetricRecord(metrics)}), reply_to=msg)


@client_app.evaluate()
def _evaluate(msg: Message, context: Context) -> Message:
    from pipeshield.training.federated.clients import from_arrays, predict
    from pipeshield.training.federated.strategies import UNIFORM_WEIGHT_KEY

    setup = _setup_for(context)
    x, y = setup.data(0, attacked=False)
    model = from_arrays(setup.build_model(), next(iter(msg.content.array_records.values())))
    acc = float(np.mean(predict(model, x) == y))
    return Message(content=RecordDict({"metrics": MetricRecord({"accuracy": acc, "num-examples": len(x),
                                                                 UNIFORM_WEIGHT_KEY: 1.0})}), reply_to=msg)


server_app = ServerApp()


@server_app.main()
def _main(grid: Grid, context: Context) -> None:
    run_server(grid, _config(context))


def run_server(grid: Grid, config: dict[str, Any]) -> dict[str, Any]:
    """The server's side of a deployed run: Flower's strategy over ``clients`` SuperNodes, the
    global model measured on the pipeline model's test data after every round, and (with ``out``
    and ``key``) the model written with its signed provenance. Returns the summary it logs."""
    import torch

    from pipeshield.core.pipeline import load_pipeline
    from pipeshield.training._common import (
        build_module,
        check_signing_key,
        model_data,
        write_trained,
    )
    from pipeshield.training.federated.clients import from_arrays, predict, to_arrays
    from pipeshield.training.federated.strategies import (
        ClientDP,
        build_strategy,
        strategy_name,
        strict,
    )

    cfg = {**DEFAULT_RUN_CONFIG, **config}
    name, clients, f = strategy_name(str(cfg["strategy"])), int(cfg["clients"]), int(cfg["assumed-malicious"])
    dp = (ClientDP(float(cfg["client-dp-noise"]), float(cfg["clip"]), str(cfg["client-dp-side"]))
          if float(cfg["clip"]) > 0 else None)
    out, key = str(cfg["out"]), str(cfg["key"])
    if out:
        check_signing_key(key or None)
    pipe = load_pipeline(str(cfg["pipeline"]))
    data = model_data(pipe, str(cfg["model"]))
    if data.x_test is None or data.y_test is None:
        raise ConfigError(f"{pipe.source}: models.{cfg['model']}.test_data: the server measures the global model on it")
    x_test, y_test = data.shaped(data.x_test), data.y_test
    strategy = build_strategy(name, clients=clients, f=f, client_dp=dp)
    torch.manual_seed(int(cfg["seed"]))
    model = build_module(pipe, str(cfg["model"]))
    accuracy: list[float] = []

    def evaluate(server_round: int, arrays: Any) -> MetricRecord:
        from_arrays(model, arrays)
        accuracy.append(float(np.mean(predict(model, x_test) == y_test)))
        return MetricRecord({"accuracy": accuracy[-1]})

    result = strict(strategy, clients).start(grid=grid, initial_arrays=to_arrays(model),
                                              num_rounds=int(cfg["rounds"]), evaluate_fn=evaluate)
    from_arrays(model, result.arrays)
    summary = {"strategy": name.value, "clients": clients, "assumed_malicious": f, "rounds": int(cfg["rounds"]),
               "accuracy_per_round": accuracy, "accuracy": accuracy[-1]}
    if out:
        write_trained(model, Path(out), key=key, recipe="federated", datasets=list(data.dataset_paths[1:]),
                      hyperparameters={k: cfg[k] for k in ("rounds", "local-epochs", "batch-size", "lr", "seed")},
                      guarantee={"strategy": name.value, "clients": clients, "assumed_malicious": f,
                                 "client_dp": None if dp is None else {"noise_multiplier": dp.noise_multiplier,
                                                                       "clip": dp.clip, "side": dp.side},
                                 "deployment": "flower-deployment-engine", "test_accuracy": accuracy[-1]})
        summary["out"] = out
    return summary


def flower_app_toml(name: str = "pipeshield-federated", publisher: str = "pipeshield",
                    config: dict[str, bool | int | float | str] | None = None) -> str:
    """A ``pyproject.toml`` for a Flower App folder that runs these apps with ``flwr run``."""
    values = {**DEFAULT_RUN_CONFIG, **(config or {})}

    def toml(v: bool | int | float | str) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return repr(v)

    lines = [
        "[project]", f'name = "{name}"', 'version = "1.0.0"',
        'description = "pipeshield federated training on the Flower Deployment Engine"',
        'license = "Apache-2.0"', "dependencies = [\"pipeshield[train]\"]", "",
        "[tool.flwr.app]", f'publisher = "{publisher}"', "",
        "[tool.flwr.app.components]",
        'serverapp = "pipeshield.training.federated.apps:server_app"',
        'clientapp = "pipeshield.training.federated.apps:client_app"', "",
        "[tool.flwr.app.config]",
        *(f'"{k}" = {toml(v)}' if "-" in k else f"{k} = {toml(v)}" for k, v in values.items()),
    ]
    return "\n".join(lines) + "\n"
