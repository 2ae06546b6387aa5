"""Kind ``job``: one run is one ``batch/v1`` Job, whose pods are the run's attempts.

The Job retries the run itself, so a run goes on when no mlctl process
watches it: it is an Indexed Job of one index (``completions: 1``) with
``backoffLimitPerIndex`` = the run's retry count and ``maxFailedIndexes: 0``
(the first index out of retries fails the Job). Its ``podFailurePolicy``
leaves disruptions out of the count: a pod that ends with the
``DisruptionTarget`` condition (its node reclaimed or drained, the pod
evicted or preempted) is ``Ignore``d and made again; with a disruption bound
of 0 it fails the Job instead (``FailJob``). Every other failure counts.
Kubernetes has no bound for ``Ignore``: whoever watches the run (``mlctl
run``, ``mlctl monitor``) ends it once it was disrupted more often than its
bound allows.

On an Indexed Job with a per-index back-off limit, the Job controller writes
on each new pod how many earlier attempts failed and how many were ignored
(``batch.kubernetes.io/job-index-failure-count``,
``...-ignored-failure-count``); the container reads both through the
downward API, and the bootstrap waits the run's backoff before the handler
of an attempt that follows a failure.

The run's effective state thresholds and retry policy ride along as
annotations, so a watcher enforces the same limits without the spec file.
"""

from __future__ import annotations

import copy
from typing import Any

from mlctl.config import Config
from mlctl.kube import kinds, labels
from mlctl.render import pod as pod_
from mlctl.render import run_object
from mlctl.render.context import RenderContext
from mlctl.spec import retry as retry_
from mlctl.spec.model import FunctionSpec

# what the pod's container learns of its attempt
ATTEMPT_ENV = {
    "MLCTL_ATTEMPT_FAILURES": labels.JOB_INDEX_FAILURES,
    "MLCTL_ATTEMPT_DISRUPTIONS": labels.JOB_INDEX_IGNORED_FAILURES,
}


def render(fn: FunctionSpec, config: Config, ctx: RenderContext) -> list[dict[str, Any]]:
    objects, pod = run_object.function_objects(fn, config, ctx)
    if not ctx.for_run:
        return objects
    template = {
        # the annotations ride on the pod too: a watcher sees the limits without another read
        "metadata": {"labels": pod.labels, "annotations": {**pod_.pod_annotations(fn), **ctx.run_annotations(fn)}},
        "spec": pod_.with_container(pod, _with_attempt_env(pod.container), restartPolicy="Never"),
    }
    job = run_object.build(fn, ctx, pod, *kinds.JOB.ref(), {**retries(ctx.retry), "template": template})
    return [*objects, job]


def retries(retry: retry_.Retry) -> dict[str, Any]:
    """The Job spec fields that retry the run: an Indexed Job of one index, and its pod failure policy."""
    disrupted = {"type": "DisruptionTarget", "status": "True"}
    return {
        "completionMode": "Indexed",
        "completions": 1,
        "parallelism": 1,
        "backoffLimitPerIndex": retry.retries,
        "maxFailedIndexes": 0,
        "podFailurePolicy": {
            "rules": [{"action": "Ignore" if retry.max_disruptions else "FailJob", "onPodConditions": [disrupted]}]
        },
    }


def _with_attempt_env(container: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(container)
    env = out.setdefault("env", [])
    for name, annotation in ATTEMPT_ENV.items():
        env.append({"name": name, "valueFrom": {"fieldRef": {"fieldPath": f"metadata.annotations['{annotation}']"}}})
    return out
