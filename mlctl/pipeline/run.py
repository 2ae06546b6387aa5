"""Runs: what a run asks for (task file and flags), where it goes, starting it on a cluster, its verdict.

A run's own settings come from a task file (MLRun's run template:
parameters, retry, state thresholds) under the command line: ``--param``,
``--threshold`` (key by key over the task's), ``--retry``,
``--retry-backoff`` and ``--max-disruptions`` win. The verdict reaches the
exit code through the error tree: a run that did not succeed raises
``RunFailed`` or ``RunAborted`` (``mlctl.errors``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlctl import pipeline
from mlctl.pipeline import deploy
from mlctl.spec import retry as retry_

if TYPE_CHECKING:
    from mlctl.cluster.apply import Preflight
    from mlctl.cluster.client import Cluster
    from mlctl.config import Config
    from mlctl.errors import Problem
    from mlctl.runs.record import RunRecord
    from mlctl.spec.overrides import Overrides

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
class Request:
    """What one run asks for besides the function: parameters, overrides (thresholds), retry policy."""

    params: dict[str, Any]
    overrides: Overrides
    retry: retry_.Retry = field(default_factory=retry_.Retry)
    warnings: tuple[Problem, ...] = ()
    backoff_given: bool = False  # asked for by a flag or the task file, not MLRun's default
    disruptions_given: bool = False


def request(
    config: Config,
    params: Mapping[str, Any],
    overrides: Overrides,
    *,
    task_file: str | None = None,
    retry: int | None = None,
    backoff: str | None = None,
    max_disruptions: int | None = None,
) -> Request:
    """The run's settings: the task file's (if any) under the command line's (pure but for reading the file)."""
    from mlctl.spec import task as task_

    task = task_.load(task_file, config) if task_file else task_.Task("")
    if task.thresholds:
        thresholds = {**{k: str(v) for k, v in task.thresholds.items()}, **overrides.thresholds}
        overrides = dataclasses.replace(overrides, thresholds=thresholds)
    backoff_in_task = task.retry.backoff != retry_.DEFAULT_BACKOFF
    return Request(
        params={**task.params, **params},
        overrides=overrides,
        retry=retry_.parse(retry, backoff, max_disruptions, base=task.retry),
        warnings=task.warnings,
        backoff_given=backoff is not None or backoff_in_task,
        disruptions_given=max_disruptions is not None,
    )


def retry_warnings(loaded: pipeline.Loaded, asked: Request) -> list[str]:
    """What of the retry policy the function's kind does not apply (see the README's retry section)."""
    kind = loaded.function.runtime
    out = []
    if kind in ("mpijob", "spark") and asked.disruptions_given:
        out.append(f"--max-disruptions does not apply to kind '{kind}': a disrupted pod counts as a failure there")
    if kind == "mpijob" and asked.backoff_given:
        out.append("the retry backoff does not apply to kind 'mpijob': the launcher Job's own back-off does")
    if kind == "job" and asked.retry.retries and asked.backoff_given:
        from mlctl.render import pod as pod_

        if not pod_.uses_bootstrap(loaded.function):
            out.append("the retry backoff needs a handler run by mlctl's bootstrap: this command starts at once")
    return out


@dataclass(frozen=True)
class Started:
    """A run on a cluster whose objects were applied."""

    run_id: str
    namespace: str
    objects: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "namespace": self.namespace, "state": "pending"}


def objects(
    loaded: pipeline.Loaded,
    config: Config,
    namespace: str,
    run_id: str,
    params: Mapping[str, Any],
    retry: retry_.Retry | None = None,
) -> list[dict[str, Any]]:
    """The run's objects: the run object and its pinned copy of the code (pure)."""
    from mlctl.render.context import RenderContext

    ctx = RenderContext(namespace=namespace, run_id=run_id, params=dict(params), retry=retry or retry_.Retry())
    return pipeline.render(loaded, config, ctx)


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
