"""What every kind that runs (job, mpijob, spark) shares: the function's own
objects, and the run object's name and metadata.

The run object (Job, MPIJob, SparkApplication) carries the run's record:
its labels say whose run it is, its annotations the effective thresholds
and parameters (``mlctl.runs.states`` reads them back).
"""

from __future__ import annotations

from typing import Any

from mlctl.config import Config
from mlctl.render import pod as pod_
from mlctl.render.context import RenderContext
from mlctl.spec.model import FunctionSpec, k8s_name


def function_objects(fn: FunctionSpec, config: Config, ctx: RenderContext) -> tuple[list[dict[str, Any]], pod_.Pod]:
    """The code ConfigMap and Secrets a run needs, and the pod pieces for its templates."""
    objects: list[dict[str, Any]] = []
    code = pod_.code_config_map(fn, ctx.namespace, pinned=ctx.for_run)
    if code:
        objects.append(code)
    pod = pod_.build(fn, config, ctx.namespace, run_env=ctx.run_env(fn), run_id=ctx.run_id)
    return objects + pod.extra_objects, pod


def name(fn: FunctionSpec, run_id: str, limit: int = 63) -> str:
    """``<function>-<run id>``, cut to ``limit`` (operators add suffixes to what they create)."""
    return f"{k8s_name(fn.name, limit=limit - len(run_id) - 1)}-{run_id}"


def build(
    fn: FunctionSpec,
    ctx: RenderContext,
    pod: pod_.Pod,
    api_version: str,
    kind: str,
    spec: dict[str, Any],
    limit: int = 63,
) -> dict[str, Any]:
    """The run object: name, namespace, the run's labels and record annotations, and ``spec``."""
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {
            "name": name(fn, ctx.run_id, limit),
            "namespace": ctx.namespace,
            "labels": pod.labels,
            "annotations": ctx.run_annotations(fn),
        },
        "spec": spec,
    }
