"""Runs: where one goes (cluster or this machine), starting it on a cluster, and its verdict.

The verdict reaches the exit code through the error tree: a run that did
not succeed raises ``RunFailed`` or ``RunAborted`` (``mlctl.errors``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlctl import pipeline
from mlctl.pipeline import deploy

if TYPE_CHECKING:
    from mlctl.cluster.apply import Preflight
    from mlctl.cluster.client import Cluster
    from mlctl.config import Config
    from mlctl.runs.record import RunRecord

LOCAL = "local"
CLUSTER = "cluster"


def where(*, local: bool, cluster_only: bool, configured: bool) -> str:
    """``local`` or ``cluster``: a run goes to the cluster unless asked otherwise or none is configured.

    ``--cluster`` refuses the local fallback; ``--local`` and ``--cluster`` exclude each other.
    """
    from mlctl.errors import UsageError

    if local and cluster_only:
        raise UsageError("--local and --cluster exclude each other")
    if local or (not cluster_only and not configured):
        return LOCAL
    return CLUSTER


def runnable(loaded: pipeline.Loaded) -> None:
    """Refuse a kind that is a service (deployed, not run) before anything reaches the cluster."""
    from mlctl.errors import UsageError

    if loaded.function.runtime not in deploy.RUN_RUNTIMES:
        raise UsageError(f"kind '{loaded.function.kind}' is a service, not a run: use mlctl deploy")


@dataclass(frozen=True)
class Started:
    """A run on a cluster whose objects were applied."""

    run_id: str
    namespace: str
    objects: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "namespace": self.namespace, "state": "pending"}


def objects(
    loaded: pipeline.Loaded, config: Config, namespace: str, run_id: str, params: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The run's objects: the run object and its pinned copy of the code (pure)."""
    from mlctl.render.context import RenderContext

    return pipeline.render(loaded, config, RenderContext(namespace=namespace, run_id=run_id, params=dict(params)))


def start(cluster: Cluster, objects_: list[dict[str, Any]], check: Preflight, run_id: str) -> Started:
    """Apply a run's checked objects; its pinned code goes when its run object does."""
    from mlctl.cluster import apply
    from mlctl.runs.cluster import control

    apply.apply_all(cluster, objects_, check)
    control.adopt(cluster, objects_)
    return Started(run_id, cluster.namespace, objects_)


def summary(record: RunRecord) -> str:
    """``run ID: STATE[: status text]``."""
    return f"run {record.run_id}: {record.state}" + (f": {record.status_text}" if record.status_text else "")


def verdict(record: RunRecord) -> None:
    """Return when the run succeeded; raise ``RunAborted`` or ``RunFailed`` saying how it ended otherwise."""
    from mlctl import errors
    from mlctl.runs import record as record_

    if record.state == record_.SUCCEEDED:
        return
    if record.state == record_.ABORTED:
        raise errors.RunAborted(summary(record))
    raise errors.RunFailed(summary(record))
