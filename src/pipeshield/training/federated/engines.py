"""Two ways to run the same ServerApp strategy against the same ClientApp.

- ``ray`` (default; what ``pipeshield train federated`` uses): Flower's Simulation Engine. Each
  client runs in a Ray actor process; resources are capped (``ray_cpus`` actors of one CPU, a
  100 MiB object store, no dashboard) and Ray is shut down when the run ends, even on error.
- ``inprocess``: a :class:`InProcessGrid` that hands each message straight to the ``ClientApp``
  in this process, one client after another. Same strategy objects, same client code, no Ray
  start-up (seconds on a small machine); for tests and quick comparisons.
"""

from __future__ import annotations

import logging
import os
import secrets
import sys
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from pipeshield.training.federated._flower import quiet_flower, require_ray

if TYPE_CHECKING:
    from flwr.app import Context, Message, RecordDict
    from flwr.clientapp import ClientApp
    from flwr.serverapp import Grid
    from flwr.supercore.run import Run

__all__ = ["ENGINES", "run_inprocess", "run_ray"]

ENGINES = ("ray", "inprocess")

ServerMain = Callable[["Grid"], None]


def _grid_class() -> Callable[..., Grid]:
    from flwr.app import Context, Message, RecordDict
    from flwr.serverapp import Grid
    from flwr.supercore.run import Run

    class InProcessGrid(Grid):
        """A Grid whose "nodes" are calls to one ``ClientApp`` in this process (partition ``i`` is
        node ``i + 1``); replies are ready as soon as the messages are pushed."""

        def __init__(self, app: ClientApp, clients: int, node_config: dict[str, Any] | None = None,
                     run_config: dict[str, Any] | None = None) -> None:
            self._app = app
            self._run = Run.create_empty(run_id=secrets.randbits(63))
            self._contexts = {
                cid + 1: Context(run_id=self._run.run_id, node_id=cid + 1,
                                 node_config={**(node_config or {}), "partition-id": cid, "num-partitions": clients},
                                 state=RecordDict(), run_config=dict(run_config or {}))
                for cid in range(clients)
            }
            self._replies: dict[str, Message] = {}

        def set_run(self, run: Run) -> None:
            self._run = run

        @property
        def run(self) -> Run:
            return self._run

        def create_message(self, content: RecordDict, message_type: str, dst_node_id: int, group_id: str,
                           ttl: float | None = None) -> Message:
            return Message(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

        def get_node_ids(self) -> Iterable[int]:
            return list(self._contexts)

        def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
            ids = []
            for msg in messages:
                msg_id = str(uuid.uuid4())
                msg.metadata.__dict__["_message_id"] = msg_id
                msg.metadata.__dict__["_run_id"] = self._run.run_id
                context = self._contexts[msg.metadata.dst_node_id]
                reply = self._app(msg, context)
                reply.metadata.__dict__["_message_id"] = str(uuid.uuid4())
                self._replies[msg_id] = reply
                ids.append(msg_id)
            return ids

        def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
            return [self._replies.pop(i) for i in message_ids if i in self._replies]

        def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
            return self.pull_messages(self.push_messages(messages))

    return InProcessGrid


def run_inprocess(server_main: ServerMain, client_app: ClientApp, clients: int, *,
                  node_config: dict[str, Any] | None = None, run_config: dict[str, Any] | None = None) -> None:
    """Run ``server_main`` against ``clients`` in-process clients (``node_config`` and
    ``run_config``: what each client's ``Context`` carries, besides its partition)."""
    from flwr.common.constant import SUPERLINK_NODE_ID
    from flwr.supercore.task_identity import TaskIdentity

    grid = _grid_class()(client_app, clients, node_config, run_config)
    # Flower stamps every new Message with the process's task identity (set by its runtimes).
    saved = (TaskIdentity._task_id, TaskIdentity._run_id, TaskIdentity._node_id)
    TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, grid.run.run_id, SUPERLINK_NODE_ID
    try:
        with quiet_flower():
            server_main(grid)
    finally:
        TaskIdentity._task_id, TaskIdentity._run_id, TaskIdentity._node_id = saved


def run_ray(server_main: ServerMain, client_app: ClientApp, clients: int, *, ray_cpus: int = 2,
            object_store_mib: int = 100) -> None:
    """Run ``server_main`` in Flower's Simulation Engine with ``clients`` virtual SuperNodes."""
    require_ray()
    import ray
    from flwr.serverapp import ServerApp
    from flwr.simulation import run_simulation

    server_app = ServerApp()

    @server_app.main()
    def main(grid: Grid, context: Context) -> None:
        server_main(grid)

    init_args: dict[str, Any] = {"num_cpus": max(1, ray_cpus), "num_gpus": 0,
                                 "object_store_memory": object_store_mib * 2**20, "include_dashboard": False,
                                 "logging_level": logging.ERROR, "log_to_driver": False}
    backend_config: dict[str, Any] = {"init_args": init_args, "client_resources": {"num_cpus": 1, "num_gpus": 0.0}}
    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")  # CPU only: silence Ray's GPU-env notice
    started_here = not ray.is_initialized()
    try:
        if started_here:
            _start_ray(init_args)
        with quiet_flower(logging.ERROR):
            run_simulation(server_app=server_app, client_app=client_app, num_supernodes=clients,
                           backend_config=backend_config)
    finally:
        if started_here and ray.is_initialized():
            ray.shutdown()


def _start_ray(init_args: dict[str, Any], attempts: int = 3) -> None:
    """Start Ray before Flower does (Flower then reuses it), retrying a start-up that timed out:
    Ray gives its raylet a fixed 30 s to register, which an overloaded machine can miss. Started
    here, a failure cannot leave Flower's ServerApp thread waiting for clients that never come."""
    import ray

    # Workers inherit PYTHONPATH, not this process's sys.path (as Flower's Ray backend does).
    extra = [os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []
    path = os.pathsep.join([p for p in sys.path if p] + extra)
    for attempt in range(1, attempts + 1):
        try:
            ray.init(runtime_env={"env_vars": {"PYTHONPATH": path}}, **init_args)
            return
        except Exception as err:  # Ray raises a bare Exception for a start-up timeout
            ray.shutdown()
            if attempt == attempts or "timed out during startup" not in str(err):
                raise
