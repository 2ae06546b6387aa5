"""Kind ``job``: one run is one ``batch/v1`` Job with one pod and no retries.

The run's effective state thresholds ride along as an annotation, so
whoever watches the run (``mlctl run`` or ``mlctl monitor``) enforces the
same limits without the spec file.
"""

from __future__ import annotations

from typing import Any

from mlctl.config import Config
from mlctl.render import pod as pod_
from mlctl.render.context import RenderContext
from mlctl.spec.model import FunctionSpec, k8s_name


def render(fn: FunctionSpec, config: Config, ctx: RenderContext) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    code = pod_.code_config_map(fn, ctx.namespace)
    if code:
        objects.append(code)
    pod = pod_.build(fn, config, ctx.namespace, run_env=ctx.run_env(fn), run_id=ctx.run_id)
    objects += pod.extra_objects
    if not ctx.for_run:
        return objects
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": run_object_name(fn, ctx.run_id),
            "namespace": ctx.namespace,
            "labels": pod.labels,
            "annotations": ctx.run_annotations(fn),
        },
        "spec": {
            "backoffLimit": 0,
            "template": {
                # the annotations ride on the pod too: a watcher sees the limits without another read
                "metadata": {"labels": pod.labels, "annotations": {**pod_.pod_annotations(fn), **ctx.run_annotations(fn)}},
                "spec": pod_.with_container(pod, restartPolicy="Never"),
            },
        },
    }
    return [*objects, job]


def run_object_name(fn: FunctionSpec, run_id: str) -> str:
    return f"{k8s_name(fn.name, limit=63 - len(run_id) - 1)}-{run_id}"
