"""Simulated malicious clients, with the ground truth recorded: who is malicious and what they do.

Three attacks, each by a fixed set of clients chosen with the seed (or named by the caller):

- ``scaled``: a Byzantine update. The client trains honestly, then sends the *reversed* update
  boosted ``boost`` times (default 10): ``w - boost * (w_local - w)``. One such client moves a
  FedAvg average anywhere; the robust rules are built to ignore it.
- ``label-flip``: data poisoning. The client trains on its data with every label ``y`` replaced by
  ``C - 1 - y`` and sends its update unscaled (Tolpegin et al. 2020 flip one class; this flips all).
- ``backdoor``: model replacement (Bagdasaryan et al. 2020). The client plants a BadNets trigger
  with label ``target`` in ``poison_rate`` of its rows (BadNets, as :mod:`pipeshield.attacks.poison`
  does, with its :mod:`~pipeshield.attacks.triggers`),
  trains, and boosts its update by ``boost``. The default, 3, keeps the global model's accuracy
  (a stealthy backdoor) while the trigger takes hold under FedAvg; ``boost = clients / malicious``
  is full model replacement, which early in training replaces a good model with the attackers'
  poor one (accuracy collapses too: loud, not stealthy).

The boost is applied by a ClientApp *mod* placed outside Flower's ``fixedclipping_mod``: a real
malicious client runs its own code and does not clip, so client-side clipping does not stop it
(server-side clipping does).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeshield.attacks.triggers import PatchTrigger, Trigger, value_trigger_for
from pipeshield.errors import ConfigError

if TYPE_CHECKING:
    from flwr.app import Context, Message
    from flwr.clientapp.typing import ClientAppCallable

__all__ = ["ATTACK_KEY", "AttackKind", "AttackPlan", "attack_success", "boost_mod", "default_trigger", "plan_attack",
           "run_is_attacked"]


class AttackKind(enum.StrEnum):
    SCALED = "scaled"
    LABEL_FLIP = "label-flip"
    BACKDOOR = "backdoor"


@dataclass(frozen=True)
class AttackPlan:
    """Which clients are malicious and what they do (the ground truth a result is scored against)."""

    kind: AttackKind | None
    malicious: tuple[int, ...] = ()
    boost: float = 1.0
    target: int = 0
    poison_rate: float = 0.5
    n_classes: int = 2
    trigger: Trigger | None = field(default=None, compare=False)

    def is_malicious(self, cid: int) -> bool:
        return self.kind is not None and cid in self.malicious

    def poison_data(self, cid: int, x: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Client ``cid``'s training data as it will train on it (poisoned when it is malicious)."""
        if not self.is_malicious(cid) or self.kind is AttackKind.SCALED:
            return x, y
        if self.kind is AttackKind.LABEL_FLIP:
            return x, flip_labels(y, self.n_classes)
        # BadNets as in pipeshield.attacks.poison (kind="backdoor"), done here because a client's
        # share may not hold the target class at all (poison() matches the target to its labels).
        assert self.trigger is not None
        pool = np.flatnonzero(y != self.target)
        count = min(len(pool), max(1, round(self.poison_rate * len(y))))
        if count == 0:
            return x, y  # every row already is the target class
        chosen = np.sort(np.random.default_rng(seed + cid).choice(pool, size=count, replace=False))
        px, py = np.array(x, copy=True), np.array(y, copy=True)
        px[chosen] = self.trigger.apply(px[chosen])
        py[chosen] = self.target
        return px, py

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"attack": self.kind.value if self.kind else None,
                               "malicious_clients": list(self.malicious), "boost": self.boost}
        if self.kind is AttackKind.BACKDOOR:
            out.update(target=self.target, poison_rate=self.poison_rate,
                       trigger=self.trigger.to_dict() if self.trigger else None)
        return out


def flip_labels(y: np.ndarray, n_classes: int) -> np.ndarray:
    return (n_classes - 1 - np.asarray(y)).astype(np.asarray(y).dtype)


def default_trigger(x: np.ndarray, seed: int = 0) -> Trigger:
    """A 2x2 BadNets patch at the maximum value for images (rows of shape (H, W) or (C, H, W)); a
    value pattern on three columns for tables."""
    shape = tuple(int(d) for d in x.shape[1:])
    if len(shape) in (2, 3):
        return PatchTrigger(image_shape=shape, size=2, position="bottom-right", value=float(np.max(x)))
    return value_trigger_for(np.asarray(x).reshape(len(x), -1), seed=seed)


def plan_attack(
    *,
    clients: int,
    malicious: float,
    attack: AttackKind | str | None,
    n_classes: int,
    x: np.ndarray,
    boost: float | None = None,
    target: int = 0,
    poison_rate: float = 0.5,
    trigger: Trigger | None = None,
    malicious_clients: tuple[int, ...] | None = None,
    seed: int = 0,
) -> AttackPlan:
    """Choose the malicious clients (``round(malicious * clients)`` of them, seeded) and fill in
    the attack's defaults; validates the fraction (< 0.5: no aggregation rule survives a majority)."""
    if not 0 <= malicious < 0.5:
        raise ConfigError(f"--malicious: the malicious fraction must be in [0, 0.5) (got {malicious}); with half the "
                          "clients malicious no aggregation rule can tell them from the honest ones")
    if attack is None or (malicious == 0 and not malicious_clients):
        return AttackPlan(kind=None, n_classes=n_classes)
    try:
        kind = AttackKind(attack)
    except ValueError:
        raise ConfigError(f"--attack: unknown attack {attack!r} (known: {', '.join(a.value for a in AttackKind)})") \
            from None
    if malicious_clients is None:
        count = round(malicious * clients)
        if count == 0:
            raise ConfigError(f"--malicious: {malicious} of {clients} clients is no client; raise --malicious or "
                              "--clients, or set --malicious 0 for an honest run")
        chosen = np.sort(np.random.default_rng(seed).choice(clients, size=count, replace=False))
        malicious_clients = tuple(int(c) for c in chosen)
    if any(not 0 <= c < clients for c in malicious_clients) or 2 * len(set(malicious_clients)) >= clients:
        raise ConfigError(f"malicious clients {list(malicious_clients)}: each must be in 0..{clients - 1} and fewer "
                          "than half of the clients")
    if not 0 < poison_rate < 1:
        raise ConfigError(f"--poison-rate: must be between 0 and 1, exclusive (got {poison_rate})")
    if not 0 <= target < n_classes:
        raise ConfigError(f"--target: class index {target} is not in 0..{n_classes - 1}")
    if boost is None:
        boost = {AttackKind.SCALED: 10.0, AttackKind.LABEL_FLIP: 1.0,
                 AttackKind.BACKDOOR: min(3.0, clients / len(malicious_clients))}[kind]
    if not boost > 0:
        raise ConfigError(f"--boost: must be > 0 (got {boost})")
    if kind is AttackKind.BACKDOOR and trigger is None:
        trigger = default_trigger(x, seed)
    return AttackPlan(kind=kind, malicious=tuple(sorted(set(malicious_clients))), boost=float(boost), target=target,
                      poison_rate=poison_rate, n_classes=n_classes, trigger=trigger)


def attack_success(plan: AttackPlan, predict: Any, x_test: np.ndarray, y_test: np.ndarray) -> float | None:
    """The attack's own success on the global model, or ``None`` for the untargeted ``scaled``
    attack (its effect is the accuracy drop against an honest run).

    - backdoor: the share of test rows *not* of the target class that the trigger sends to it;
    - label-flip: the share of test rows predicted as their flipped label (``C - 1 - y``; rows
      whose flipped label equals their own are left out).
    """
    if plan.kind is AttackKind.BACKDOOR:
        assert plan.trigger is not None
        keep = y_test != plan.target
        if not np.any(keep):
            return None
        pred = predict(plan.trigger.apply(x_test[keep]))
        return float(np.mean(pred == plan.target))
    if plan.kind is AttackKind.LABEL_FLIP:
        flipped = flip_labels(y_test, plan.n_classes)
        keep = flipped != y_test
        return float(np.mean(predict(x_test[keep]) == flipped[keep]))
    return None


#: The train config key that switches the malicious clients on (1) or off (0) for one run, so that
#: one simulation (one Ray start) can run the honest and the attacked case of every strategy.
ATTACK_KEY = "pipeshield-attack"


def run_is_attacked(msg: Message) -> bool:
    config = next(iter(msg.content.config_records.values()), None)
    return bool(config.get(ATTACK_KEY, 1)) if config is not None else True


def boost_mod(plan: AttackPlan) -> Any:
    """A ClientApp mod: a malicious client's reply is replaced by ``w + s * (w_local - w)`` with
    ``s = -boost`` (scaled) or ``+boost`` (backdoor, label-flip); honest replies pass unchanged."""
    sign = -1.0 if plan.kind is AttackKind.SCALED else 1.0

    def mod(msg: Message, ctxt: Context, call_next: ClientAppCallable) -> Message:
        from flwr.app import Array, ArrayRecord

        out = call_next(msg, ctxt)
        cid = int(ctxt.node_config.get("partition-id", -1))
        if (out.has_error() or not plan.is_malicious(cid) or not run_is_attacked(msg)
                or (sign > 0 and plan.boost == 1.0)):
            return out
        sent = next(iter(msg.content.array_records.values()))
        key, local = next(iter(out.content.array_records.items()))
        boosted = {}
        for name, g in sent.items():
            w = g.numpy()
            boosted[name] = Array(np.asarray(w + sign * plan.boost * (local[name].numpy() - w), dtype=w.dtype))
        out.content[key] = ArrayRecord(boosted)
        return out

    return mod
