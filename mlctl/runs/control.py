"""Cluster runs: find, list, abort, record and delete them.

A run's record lives on its run object (Job, MPIJob, SparkApplication):
labels say whose run it is, annotations hold its state, status text,
result, parameters and thresholds. Aborting writes the record first and
then removes compute (the Job is suspended, so its controller keeps no pod;
the pods are deleted at once); the record stays. The abort is guarded by
the object's resourceVersion, so two watchers never abort a run twice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from mlctl import errors
from mlctl.cluster.client import Cluster
from mlctl.runs import record as record_
from mlctl.runs import states

RUN_KINDS: dict[str, tuple[str, str]] = {
    # runtime -> (apiVersion, kind) of the object that is the run
    "job": ("batch/v1", "Job"),
    "mpijob": ("kubeflow.org/v2beta1", "MPIJob"),
    "spark": ("sparkoperator.k8s.io/v1beta2", "SparkApplication"),
}
MANAGED = "app.kubernetes.io/managed-by=mlctl"


def adopt(cluster: Cluster, objects: Sequence[Mapping[str, Any]]) -> None:
    """Make the run object one of the owners of the run's pinned code ConfigMap.

    The ConfigMap is shared by every run of the same code; Kubernetes' garbage
    collector deletes it once the last run object owning it is deleted.
    Owners are added with a strategic merge, which merges the list by uid, so
    runs started together do not drop each other's.
    """
    run_kinds = {kind for _, kind in RUN_KINDS.values()}
    run = next((o for o in objects if o["kind"] in run_kinds), None)
    pinned = [o for o in objects if o["kind"] == "ConfigMap" and o.get("immutable")]
    if run is None or not pinned:
        return
    meta = run["metadata"]
    live = cluster.get(run["apiVersion"], run["kind"], meta["name"], meta.get("namespace"))
    owner = {"apiVersion": run["apiVersion"], "kind": run["kind"], "name": meta["name"], "uid": live["metadata"]["uid"]}
    for config_map in pinned:
        cm = config_map["metadata"]
        patch = {"metadata": {"ownerReferences": [owner]}}
        cluster.patch("v1", "ConfigMap", cm["name"], patch, cm.get("namespace"), strategic=True)


def pods_of(cluster: Cluster, run_id: str, namespace: str | None = None) -> list[dict[str, Any]]:
    return cluster.list("v1", "Pod", namespace, selector=f"{states.RUN_ID}={run_id}")


def find(cluster: Cluster, run_id: str, namespace: str | None = None) -> tuple[dict[str, Any], str] | None:
    """The run object of ``run_id`` and its runtime, or None."""
    for runtime, (api_version, kind) in RUN_KINDS.items():
        try:
            items = cluster.list(api_version, kind, namespace, selector=f"{states.RUN_ID}={run_id}")
        except errors.NotFound:
            continue  # that CRD is not installed
        if items:
            return items[0], runtime
    return None


def no_pod_reason(cluster: Cluster, obj: Mapping[str, Any]) -> str:
    """Why the run object's controller could not create a pod, verbatim from its event ("" when it said nothing)."""
    meta = obj["metadata"]
    try:
        events = cluster.list("v1", "Event", meta["namespace"], field_selector=f"involvedObject.uid={meta['uid']}")
    except (errors.Forbidden, errors.NotFound):
        return ""  # events are an explanation, not the record: a user who may not read them still gets the state
    return states.failed_create(events)


def get(cluster: Cluster, run_id: str, namespace: str | None = None) -> record_.RunRecord:
    found = find(cluster, run_id, namespace)
    if found is None:
        raise errors.NotFound(f"run {run_id} not found in namespace {namespace or cluster.namespace}")
    obj, _ = found
    pods = pods_of(cluster, run_id, obj["metadata"]["namespace"])
    reason = "" if pods or states.object_state(obj) in record_.TERMINAL else no_pod_reason(cluster, obj)
    return states.run_record(obj, pods, reason)


def list_runs(cluster: Cluster, namespace: str | None = None, all_namespaces: bool = False) -> list[record_.RunRecord]:
    """Every run, newest first; its pods read in one call per namespace."""
    objects: list[dict[str, Any]] = []
    for api_version, kind in RUN_KINDS.values():
        try:
            objects += cluster.list(
                api_version, kind, namespace, selector=f"{MANAGED},{states.RUN_ID}", all_namespaces=all_namespaces
            )
        except errors.NotFound:
            continue
    pods = cluster.list("v1", "Pod", namespace, selector=states.RUN_ID, all_namespaces=all_namespaces)
    by_run: dict[str, list[dict[str, Any]]] = {}
    for pod in pods:
        by_run.setdefault(pod["metadata"]["labels"].get(states.RUN_ID, ""), []).append(pod)
    records = [states.run_record(o, by_run.get(o["metadata"]["labels"].get(states.RUN_ID, ""), [])) for o in objects]
    return sorted(records, key=lambda r: r.started, reverse=True)


def _record_patch(
    state: str, status_text: str, result: Mapping[str, Any] | None = None, traceback: str = ""
) -> dict[str, Any]:
    annotations = {
        states.STATE: state,
        states.STATUS_TEXT: status_text,
        states.FINISHED: states.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if result:
        annotations[states.RESULT] = json.dumps(dict(result), default=str)[:8000]
    if traceback:
        annotations[states.TRACEBACK] = traceback[:4000]
    return {"metadata": {"annotations": annotations}}


def abort(cluster: Cluster, run_id: str, status_text: str, namespace: str | None = None, explanation: str = "") -> bool:
    """Abort a run; False when it had already finished or been aborted (by anyone).

    ``explanation`` (why it was stuck, ``mlctl.runs.explain``) is kept in the record.
    """
    for _ in range(3):
        found = find(cluster, run_id, namespace)
        if found is None:
            raise errors.NotFound(f"run {run_id} not found in namespace {namespace or cluster.namespace}")
        obj, runtime = found
        meta = obj["metadata"]
        if (meta.get("annotations") or {}).get(states.STATE) in record_.TERMINAL:
            return False
        current = states.run_record(obj, pods_of(cluster, run_id, meta["namespace"]))
        if current.state in record_.TERMINAL:
            return False
        patch = _record_patch(record_.ABORTED, status_text)
        patch["metadata"]["resourceVersion"] = meta["resourceVersion"]  # lose the race rather than abort twice
        if explanation:
            patch["metadata"]["annotations"][states.EXPLANATION] = explanation
        if runtime == "job":
            patch["spec"] = {"suspend": True}
        elif runtime == "mpijob" and obj["apiVersion"].endswith("v2beta1"):
            patch["spec"] = {"runPolicy": {"suspend": True}}
        try:
            cluster.patch(obj["apiVersion"], obj["kind"], meta["name"], patch, meta["namespace"])
        except errors.Conflict:
            continue  # changed under us: look again
        for pod in pods_of(cluster, run_id, meta["namespace"]):
            cluster.delete("v1", "Pod", pod["metadata"]["name"], meta["namespace"], grace_seconds=0)
        return True
    return False


def finish(cluster: Cluster, run_id: str, record: record_.RunRecord, namespace: str | None = None) -> None:
    """Write a finished run's state and result onto its object (kept after pods are gone)."""
    found = find(cluster, run_id, namespace)
    if found is None:
        return
    obj, _ = found
    if (obj["metadata"].get("annotations") or {}).get(states.STATE) in record_.TERMINAL:
        return
    cluster.patch(
        obj["apiVersion"],
        obj["kind"],
        obj["metadata"]["name"],
        _record_patch(record.state, record.status_text, record.result, record.traceback),
        obj["metadata"]["namespace"],
    )


def delete(cluster: Cluster, run_id: str, namespace: str | None = None) -> bool:
    found = find(cluster, run_id, namespace)
    if found is None:
        return False
    obj, _ = found
    meta = obj["metadata"]
    return cluster.delete(obj["apiVersion"], obj["kind"], meta["name"], meta["namespace"], propagation="Background")
