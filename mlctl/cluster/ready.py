"""Waiting until deployed workloads are ready, per kind."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mlctl import errors
from mlctl.cluster.client import Cluster
from mlctl.kube import kinds

_STUCK_WAITING = ("ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "CreateContainerConfigError")


def rollout(deployment: Mapping[str, Any], pods: Sequence[Mapping[str, Any]] = (), floor: int = 0) -> tuple[bool, str]:
    """(done, what it waits for) of a Deployment's rollout, as ``kubectl rollout status`` judges it (pure).

    Done: the controller has observed the newest generation, every replica
    runs the new template and is available, and no old replica is left.
    Raises ``ClusterError`` when the rollout cannot progress: its progress
    deadline passed, or a pod of the new template cannot start (its image
    cannot be pulled, say), which no amount of waiting fixes. ``floor``: the
    minimum of the HPA that owns the replica count, which it has to reach.
    """
    name = deployment["metadata"]["name"]
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    generation = (deployment.get("metadata") or {}).get("generation", 0)
    if status.get("observedGeneration", 0) < generation:
        return False, "the new generation is not observed yet"
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded":
            raise errors.ClusterError(f"deployment {name} cannot roll out: {condition.get('message', '')}")
    for pod in pods:
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            continue
        pod_status = pod.get("status") or {}
        containers = [*(pod_status.get("initContainerStatuses") or []), *(pod_status.get("containerStatuses") or [])]
        for container in containers:
            waiting = (container.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in _STUCK_WAITING:
                raise errors.ClusterError(
                    f"deployment {name} cannot roll out: pod {pod['metadata']['name']}: {waiting['reason']}"
                    + (f": {waiting['message']}" if waiting.get("message") else "")
                )
    want = spec.get("replicas", 1)
    if want < floor:
        return False, f"{want} replicas, waiting for the autoscaler to reach its minimum of {floor}"
    updated = status.get("updatedReplicas", 0) or 0
    total = status.get("replicas", 0) or 0
    available = status.get("availableReplicas", 0) or 0
    if updated < want:
        return False, f"{updated} of {want} replicas updated"
    if total > updated:
        return False, f"{total - updated} old replicas pending termination"
    if available < updated:
        return False, f"{available} of {updated} updated replicas available"
    return True, f"{available}/{want} replicas available"


def is_ready(obj: Mapping[str, Any], pods: Sequence[Mapping[str, Any]] = (), floor: int = 0) -> tuple[bool, str]:
    """(ready, what it is waiting for) for one live object (pure); ``pods``: a Deployment's new pods."""
    kind = obj.get("kind")
    status = obj.get("status") or {}
    if kind == "Deployment":
        return rollout(obj, pods, floor)
    if kind == "NuclioFunction":
        state = status.get("state", "")
        if state == "error":
            raise errors.ClusterError(f"NuclioFunction {obj['metadata']['name']} failed: {status.get('message', '')}")
        return state == "ready", f"state {state or 'unknown'}"
    if kind == "DaskCluster":
        phase = status.get("phase", "")
        return phase == "Running", f"phase {phase or 'unknown'}"
    return True, ""


def wait(cluster: Cluster, objects: Sequence[Mapping[str, Any]], timeout: float, report: Callable[[str], None]) -> None:
    deadline = time.monotonic() + timeout
    waited = {kind.kind for kind in kinds.BECOME_READY}
    pending = [o for o in objects if o.get("kind") in waited]
    floors = {  # Deployment name -> the minimum of the HPA that scales it
        o["spec"]["scaleTargetRef"]["name"]: int(o["spec"].get("minReplicas") or 1)
        for o in objects
        if o.get("kind") == "HorizontalPodAutoscaler"
    }
    last: dict[str, str] = {}
    while pending:
        still = []
        for obj in pending:
            meta = obj["metadata"]
            live = cluster.get(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))
            if obj["kind"] == "Deployment":
                ready, detail = is_ready(live, _new_pods(cluster, live), floors.get(meta["name"], 0))
            else:
                ready, detail = is_ready(live)
            name = f"{obj['kind'].lower()}/{meta['name']}"
            if ready:
                report(f"{name} ready")
            else:
                if last.get(name) != detail:
                    report(f"{name}: waiting ({detail})")
                    last[name] = detail
                still.append(obj)
        pending = still
        if pending and time.monotonic() > deadline:
            raise errors.WaitTimeout(
                f"not ready after {timeout:.0f}s: "
                + ", ".join(f"{o['kind'].lower()}/{o['metadata']['name']}" for o in pending)
            )
        if pending:
            time.sleep(1.0)


def _new_pods(cluster: Cluster, deployment: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The pods of the Deployment's newest ReplicaSet (the one of its current template)."""
    meta = deployment["metadata"]
    labels = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    revision = (meta.get("annotations") or {}).get("deployment.kubernetes.io/revision")
    sets = cluster.list(*kinds.REPLICA_SET.ref(), meta.get("namespace"), selector=selector)
    newest = [
        rs
        for rs in sets
        if any(o.get("uid") == meta.get("uid") for o in rs["metadata"].get("ownerReferences") or [])
        and (rs["metadata"].get("annotations") or {}).get("deployment.kubernetes.io/revision") == revision
    ]
    if not newest:
        return []
    template_hash = (newest[0]["metadata"].get("labels") or {}).get("pod-template-hash", "")
    pod_selector = f"{selector},pod-template-hash={template_hash}" if selector else f"pod-template-hash={template_hash}"
    return cluster.list(*kinds.POD.ref(), meta.get("namespace"), selector=pod_selector)
