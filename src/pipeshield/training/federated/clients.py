"""The honest client: local SGD on its share of the data, as a Flower ``ClientApp``.

A client receives the global model's floating-point tensors (an ``ArrayRecord``), trains
``epochs`` passes of mini-batch SGD on its rows, and replies with its local tensors and its row
count. Integer buffers (e.g. BatchNorm's ``num_batches_tracked``) stay local: averaging or adding
noise to a counter makes no sense. A malicious client is the same app, with poisoned data and the
:func:`~pipeshield.training.federated.malicious.boost_mod` outside it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeshield._threads import one_torch_thread
from pipeshield.training.federated.malicious import AttackPlan, boost_mod, run_is_attacked
from pipeshield.training.federated.strategies import UNIFORM_WEIGHT_KEY

if TYPE_CHECKING:
    import torch
    from flwr.app import ArrayRecord
    from flwr.clientapp import ClientApp

__all__ = ["ClientSetup", "LocalTraining", "from_arrays", "make_client_app", "predict", "to_arrays"]

ModelFactory = Callable[[], "torch.nn.Module"]


@dataclass(frozen=True)
class LocalTraining:
    """Each client's local work per round."""

    epochs: int = 2
    batch_size: int = 16
    lr: float = 0.05
    momentum: float = 0.9


@dataclass(frozen=True)
class ClientSetup:
    """Everything a simulated client needs; shipped to Ray's workers, so it must pickle."""

    build_model: ModelFactory
    x: np.ndarray
    y: np.ndarray
    parts: Sequence[np.ndarray]
    plan: AttackPlan
    local: LocalTraining = field(default_factory=LocalTraining)
    client_side_clipping: bool = False
    seed: int = 0

    def data(self, cid: int, attacked: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Client ``cid``'s rows; poisoned when it is malicious and the run is ``attacked``."""
        rows = self.parts[cid]
        if not attacked:
            return self.x[rows], self.y[rows]
        return self.plan.poison_data(cid, self.x[rows], self.y[rows], self.seed)


def to_arrays(model: torch.nn.Module) -> ArrayRecord:
    """The module's floating-point tensors as an ``ArrayRecord`` (what travels)."""
    from flwr.app import Array, ArrayRecord

    return ArrayRecord({k: Array(v.detach().cpu().numpy().copy()) for k, v in model.state_dict().items()
                        if v.is_floating_point()})


def from_arrays(model: torch.nn.Module, arrays: ArrayRecord) -> torch.nn.Module:
    """Load ``arrays`` into ``model`` (integer buffers keep their own values)."""
    import torch

    state = {k: torch.as_tensor(np.asarray(a.numpy())) for k, a in arrays.items()}
    model.load_state_dict(state, strict=False)
    return model


def predict(model: torch.nn.Module, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Class indices for ``x`` (float32, already in the model's input shape)."""
    import torch

    model.eval()  # safe: nn.Module.eval() switches to inference mode
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            out.append(model(torch.as_tensor(np.asarray(x[i:i + batch_size], dtype=np.float32))).argmax(1).numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def local_train(model: torch.nn.Module, x: np.ndarray, y: np.ndarray, local: LocalTraining, seed: int) -> float:
    """``local.epochs`` of SGD on ``(x, y)``; returns the mean training loss of the last epoch.
    One torch thread: clients run side by side, and one thread keeps a seeded run reproducible."""
    import torch

    with one_torch_thread():
        gen = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        xt = torch.as_tensor(np.asarray(x, dtype=np.float32))
        yt = torch.as_tensor(np.asarray(y), dtype=torch.long)
        opt = torch.optim.SGD(model.parameters(), lr=local.lr, momentum=local.momentum)
        loss_fn = torch.nn.CrossEntropyLoss()
        model.train()
        last = 0.0
        for _ in range(local.epochs):
            order = torch.randperm(len(xt), generator=gen)
            total = 0.0
            for i in range(0, len(xt), local.batch_size):
                idx = order[i:i + local.batch_size]
                opt.zero_grad()
                loss = loss_fn(model(xt[idx]), yt[idx])
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
            last = total / max(1, len(xt))
        return last


def train_reply(setup: ClientSetup, cid: int, arrays: ArrayRecord, server_round: int,
                attacked: bool = True) -> tuple[ArrayRecord, dict[str, Any]]:
    """One client's round: the updated tensors and the metrics it reports."""
    x, y = setup.data(cid, attacked)
    model = from_arrays(setup.build_model(), arrays)
    loss = local_train(model, x, y, setup.local, seed=setup.seed * 1_000_003 + server_round * 1009 + cid)
    return to_arrays(model), {"num-examples": len(x), UNIFORM_WEIGHT_KEY: 1.0, "train-loss": loss}


def make_client_app(setup: ClientSetup) -> ClientApp:
    """The ``ClientApp`` every simulated client runs; the client's id is the SuperNode's
    ``partition-id`` (node config), as in Flower's simulation engine."""
    from flwr.app import Context, Message, MetricRecord, RecordDict
    from flwr.clientapp import ClientApp
    from flwr.clientapp.mod import fixedclipping_mod

    mods: list[Any] = [boost_mod(setup.plan)]
    if setup.client_side_clipping:
        mods.append(fixedclipping_mod)
    app = ClientApp(mods=mods)

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        cid = int(context.node_config["partition-id"])
        sent = next(iter(msg.content.array_records.values()))
        key = next(iter(msg.content.array_records.keys()))
        config = next(iter(msg.content.config_records.values()), None)
        server_round = int(config.get("server-round", 0)) if config is not None else 0  # type: ignore[arg-type]
        arrays, metrics = train_reply(setup, cid, sent, server_round, attacked=run_is_attacked(msg))
        content = RecordDict({key: arrays, "metrics": MetricRecord(metrics)})
        return Message(content=content, reply_to=msg)

    @app.evaluate()
    def evaluate(msg: Message, context: Context) -> Message:
        cid = int(context.node_config["partition-id"])
        x, y = setup.data(cid, attacked=False)
        model = from_arrays(setup.build_model(), next(iter(msg.content.array_records.values())))
        acc = float(np.mean(predict(model, x) == y)) if len(x) else 0.0
        return Message(content=RecordDict({"metrics": MetricRecord({"accuracy": acc, "num-examples": len(x),
                                                                     UNIFORM_WEIGHT_KEY: 1.0})}), reply_to=msg)

    return app
