"""Apply rendered objects all-or-nothing: preflight everything, then write.

The preflight runs before the first real write and fails as a whole:
a server-side dry run of every object (the API server's own validation
and admission), plus the things objects refer to: priority classes,
mounted PVCs / ConfigMaps / Secrets (unless this apply creates them), the
CRD of each custom kind. A node selector that matches no node is a
warning. Then objects are applied in order with server-side apply.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlctl import errors
from mlctl.cluster.client import Cluster

_BUILT_IN_GROUPS = (
    "",
    "v1",
    "apps",
    "batch",
    "autoscaling",
    "rbac.authorization.k8s.io",
    "coordination.k8s.io",
    "scheduling.k8s.io",
    "policy",
)


@dataclass(frozen=True)
class Preflight:
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    dry_run: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Applied:
    kind: str
    name: str
    namespace: str
    action: str  # created | configured | unchanged


def _group(api_version: str) -> str:
    return api_version.split("/")[0] if "/" in api_version else ""


def references(objects: Sequence[Mapping[str, Any]]) -> dict[str, set[str]]:
    """What the objects refer to (pure): priority classes, claims, ConfigMaps, Secrets, selectors."""
    refs: dict[str, set[str]] = {
        "PriorityClass": set(),
        "PersistentVolumeClaim": set(),
        "ConfigMap": set(),
        "Secret": set(),
        "nodeSelector": set(),
    }

    def walk(node: Any, parent: str = "") -> Iterator[None]:
        if isinstance(node, Mapping):
            for key, value in node.items():
                if key == "priorityClassName" and value:
                    refs["PriorityClass"].add(str(value))
                elif key == "persistentVolumeClaim" and isinstance(value, Mapping) and value.get("claimName"):
                    refs["PersistentVolumeClaim"].add(str(value["claimName"]))
                elif (
                    key == "configMap"
                    and isinstance(value, Mapping)
                    and value.get("name")
                    and not value.get("optional")
                ):
                    refs["ConfigMap"].add(str(value["name"]))
                elif (
                    key == "secret"
                    and isinstance(value, Mapping)
                    and value.get("secretName")
                    and not value.get("optional")
                ):
                    refs["Secret"].add(str(value["secretName"]))
                elif (
                    key in ("secretKeyRef", "configMapKeyRef")
                    and isinstance(value, Mapping)
                    and value.get("name")
                    and not value.get("optional")
                ):
                    refs["Secret" if key == "secretKeyRef" else "ConfigMap"].add(str(value["name"]))
                elif key == "nodeSelector" and isinstance(value, Mapping) and value:
                    refs["nodeSelector"].add(",".join(f"{k}={v}" for k, v in sorted(value.items())))
                yield from walk(value, key)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item, parent)

    for obj in objects:
        for _ in walk(obj):
            pass
    # what this apply creates needs no check
    for obj in objects:
        if obj.get("kind") in ("ConfigMap", "Secret"):
            refs[obj["kind"]].discard(obj["metadata"]["name"])
    return refs


def preflight(cluster: Cluster, objects: Sequence[Mapping[str, Any]]) -> Preflight:
    problems: list[str] = []
    warnings: list[str] = []
    dry: list[dict[str, Any]] = []
    for obj in objects:
        what = f"{obj['kind']}/{obj['metadata']['name']}"
        if _group(obj["apiVersion"]) not in _BUILT_IN_GROUPS:
            crd = _crd_problem(cluster, obj)
            if crd:
                problems.append(crd)
                continue
        try:
            dry.append(cluster.apply(obj, dry_run=True))
        except errors.Forbidden:
            raise
        except errors.ClusterError as exc:
            if isinstance(exc, errors.Unreachable | errors.Unauthorized):
                raise
            problems.append(f"{what}: {exc.message}")
    refs = references(objects)
    namespace = cluster.namespace
    for kind, api_version in (
        ("PriorityClass", "scheduling.k8s.io/v1"),
        ("PersistentVolumeClaim", "v1"),
        ("ConfigMap", "v1"),
        ("Secret", "v1"),
    ):
        for name in sorted(refs[kind]):
            try:
                if cluster.find(api_version, kind, name, namespace) is None:
                    where = "" if kind == "PriorityClass" else f" in namespace {namespace}"
                    problems.append(f"{kind} '{name}' does not exist{where}")
            except errors.Forbidden:
                warnings.append(f"cannot check that {kind} '{name}' exists (not allowed to read it)")
    for selector in sorted(refs["nodeSelector"]):
        try:
            if not cluster.list("v1", "Node", selector=selector):
                warnings.append(f"no node matches the node selector {selector}: pods will stay Pending")
        except errors.Forbidden:
            pass  # a namespaced user may not list nodes; the scheduler will tell
    return Preflight(problems, warnings, dry)


def _crd_problem(cluster: Cluster, obj: Mapping[str, Any]) -> str | None:
    from mlctl.cluster.client import KINDS

    group, _, version = obj["apiVersion"].partition("/")
    plural = KINDS.get(obj["kind"], (obj["kind"].lower() + "s", True))[0]
    name = f"{plural}.{group}"
    try:
        crd = cluster.find("apiextensions.k8s.io/v1", "CustomResourceDefinition", name)
    except errors.Forbidden:
        return None  # the dry run will tell
    if crd is None:
        return (
            f"{obj['kind']}/{obj['metadata']['name']}: the {obj['kind']} CRD ({name}) is not installed; "
            f"install its operator first"
        )
    served = [v["name"] for v in crd.get("spec", {}).get("versions", []) if v.get("served")]
    if version not in served:
        return (
            f"{obj['kind']}/{obj['metadata']['name']}: {obj['apiVersion']} is not served by the installed "
            f"CRD (served: {', '.join(served)})"
        )
    return None


def apply_all(cluster: Cluster, objects: Sequence[Mapping[str, Any]]) -> list[Applied]:
    """Server-side apply each object in order; report what changed."""
    results = []
    for obj in objects:
        meta = obj["metadata"]
        namespace = meta.get("namespace") or cluster.namespace
        before = cluster.find(obj["apiVersion"], obj["kind"], meta["name"], namespace)
        after = cluster.apply(obj)
        if before is None:
            action = "created"
        elif before["metadata"].get("resourceVersion") == after["metadata"].get("resourceVersion"):
            action = "unchanged"
        else:
            action = "configured"
        results.append(Applied(obj["kind"], meta["name"], namespace, action))
    return results


def delete_all(cluster: Cluster, objects: Sequence[Mapping[str, Any]]) -> list[Applied]:
    results = []
    for obj in reversed(objects):
        meta = obj["metadata"]
        namespace = meta.get("namespace") or cluster.namespace
        gone = cluster.delete(obj["apiVersion"], obj["kind"], meta["name"], namespace)
        results.append(Applied(obj["kind"], meta["name"], namespace, "deleted" if gone else "not found"))
    return results


_VOLATILE = ("managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "selfLink")


def comparable(obj: Mapping[str, Any]) -> dict[str, Any]:
    """An object without the fields the server changes on every write (for diff)."""
    out = {k: v for k, v in obj.items() if k != "status"}
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _VOLATILE}
    annotations = {
        k: v
        for k, v in (meta.get("annotations") or {}).items()
        if k != "kubectl.kubernetes.io/last-applied-configuration"
    }
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    out["metadata"] = meta
    return out


_FUNCTION_KINDS = (
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("v1", "Service"),
    ("apps/v1", "Deployment"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("nuclio.io/v1beta1", "NuclioFunction"),
    ("kubernetes.dask.org/v1", "DaskCluster"),
    ("kubernetes.dask.org/v1", "DaskAutoscaler"),
)


def delete_by_function(cluster: Cluster, name: str) -> list[Applied]:
    """Delete every object deploy made for the function ``name`` (runs are kept)."""
    from mlctl.spec.model import k8s_name

    selector = f"app.kubernetes.io/managed-by=mlctl,mlctl.io/function={k8s_name(name)}"
    results = []
    for api_version, kind in _FUNCTION_KINDS:
        try:
            items = cluster.list(api_version, kind, selector=selector)
        except errors.NotFound:
            continue  # CRD not installed
        for item in items:
            meta = item["metadata"]
            gone = cluster.delete(api_version, kind, meta["name"], meta["namespace"])
            results.append(Applied(kind, meta["name"], meta["namespace"], "deleted" if gone else "not found"))
    if not results:
        raise errors.NotFound(f"nothing deployed for function '{name}' in namespace {cluster.namespace}")
    return results
