"""Kind ``job``: one run is one ``batch/v1`` Job with one pod and no retries.

The run's effective state thresholds ride along as an annotation, so
whoever watches the run (``mlctl run`` or ``mlctl monitor``) enforces the
same limits without the spec file.
"""

from __future__ import annotations

from typing import Any

from mlctl.config import Config
from mlctl.kube import kinds
from mlctl.render import pod as pod_
from mlctl.render import run_object
from mlctl.render.context import RenderContext
from mlctl.spec.model import FunctionSpec


def render(fn: FunctionSpec, config: Config, ctx: RenderContext) -> list[dict[str, Any]]:
    objects, pod = run_object.function_objects(fn, config, ctx)
    if not ctx.for_run:
        return objects
    template = {
        # the annotations ride on the pod too: a watcher sees the limits without another read
        "metadata": {"labels": pod.labels, "annotations": {**pod_.pod_annotations(fn), **ctx.run_annotations(fn)}},
        "spec": pod_.with_container(pod, restartPolicy="Never"),
    }
    job = run_object.build(fn, ctx, pod, *kinds.JOB.ref(), {"backoffLimit": 0, "template": template})
    return [*objects, job]
