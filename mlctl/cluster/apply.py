"""Apply rendered objects all-or-nothing: preflight everything, then write.

The preflight runs before the first real write and fails as a whole:
a server-side dry run of every object (the API server's own validation
and admission), plus the things objects refer to: priority classes,
mounted PVCs / ConfigMaps / Secrets (unless this apply creates them), the
CRD of each custom kind. A node selector that matches no node is a
warning. Then objects are applied with server-side apply, in tiers (what
others refer to first). Independent requests run a few at a time: kubectl
sends one after the other, and the checks would otherwise double the time
a deploy takes.

Objects mlctl applies carry a digest of their content (``stamp``). An
object whose live copy has the same digest and still holds every value
mlctl set is settled: applying it again would change nothing, so it is
neither dry-run nor written (its references are still checked). Anything
else, a value changed by hand or defaulted differently, takes the full
path.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from mlctl import errors
from mlctl.cluster.client import FIELD_MANAGER, Cluster, concurrently
from mlctl.kube import kinds, labels


@dataclass(frozen=True)
class Preflight:
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # what applying each object gives (a settled object: its live copy), in the objects' order
    dry_run: list[dict[str, Any]] = field(default_factory=list)
    live: dict[Key, dict[str, Any]] | None = None  # what was read, by key()


@dataclass(frozen=True)
class Applied:
    kind: str
    name: str
    namespace: str
    action: str  # created | configured | unchanged


def stamp(objects: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The objects with a digest of their content as an annotation (pure).

    Secrets are left as they are: a digest of a secret is not worth showing to
    whoever may read annotations, and their ``stringData`` never reads back anyway.
    The digest is taken over the object as output shows it, secret values
    redacted: an unsalted hash of a password beside its redacted text would let
    anyone check a guess. A changed secret value is still seen, since a
    settled object must also hold every value (``settled``).
    """
    from mlctl import render

    out = []
    for obj in objects:
        if obj.get("kind") == "Secret":
            out.append(dict(obj))
            continue
        shown = render.redact([dict(obj)])[0]
        canonical = json.dumps(shown, sort_keys=True, separators=(",", ":"), default=str)
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        meta = dict(obj["metadata"])
        meta["annotations"] = {**(meta.get("annotations") or {}), labels.APPLIED_DIGEST: digest}
        out.append({**obj, "metadata": meta})
    return out


def holds(live: Any, wanted: Any) -> bool:
    """Whether ``live`` has every value of ``wanted`` (pure): maps may have more keys, lists go item by item."""
    if isinstance(wanted, Mapping):
        return isinstance(live, Mapping) and all(k in live and holds(live[k], v) for k, v in wanted.items())
    if isinstance(wanted, list):
        return isinstance(live, list) and len(live) == len(wanted) and all(map(holds, live, wanted))
    return bool(live == wanted) and type(live) is type(wanted)


def settled(obj: Mapping[str, Any], live: Mapping[str, Any] | None) -> bool:
    """Whether applying a stamped object again would change nothing (pure)."""
    digest = ((obj.get("metadata") or {}).get("annotations") or {}).get(labels.APPLIED_DIGEST)
    return bool(digest) and live is not None and holds(live, obj)


def key(obj: Mapping[str, Any], namespace: str) -> Key:
    meta = obj["metadata"]
    return (obj["apiVersion"], obj["kind"], meta.get("namespace") or namespace, meta["name"])


Key = tuple[str, str, str, str]  # apiVersion, kind, namespace, name


def read_live(cluster: Cluster, objects: Sequence[Mapping[str, Any]]) -> dict[Key, dict[str, Any]]:
    """The live copies of the objects mlctl manages, one paged listing per kind and namespace (kinds at once)."""
    kinds = sorted({key(o, cluster.namespace)[:3] for o in objects})

    def listing(kind: tuple[str, str, str]) -> list[dict[str, Any]]:
        try:
            return [item for page in cluster.page_by_page(*kind, label_selector=labels.MANAGED) for item in page]
        except (errors.Forbidden, errors.NotFound):
            return []  # then every object takes the full path

    live = {}
    for items in concurrently(listing, kinds):
        for item in items:
            live[key(item, cluster.namespace)] = item
    return live


def _built_in(api_version: str) -> bool:
    """Whether the API group is Kubernetes' own (its kinds are served without a CRD)."""
    return (api_version.split("/")[0] if "/" in api_version else "") in kinds.BUILT_IN_GROUPS


def references(objects: Sequence[Mapping[str, Any]]) -> dict[str, set[str]]:
    """What the objects refer to (pure): priority classes, claims, ConfigMaps, Secrets, service accounts, selectors."""
    refs: dict[str, set[str]] = {
        "PriorityClass": set(),
        "ServiceAccount": set(),
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
                elif key in ("serviceAccountName", "serviceAccount") and value and isinstance(value, str):
                    # a pod's, or an operator's field for its pods (Spark driver and executors, Nuclio)
                    refs["ServiceAccount"].add(value)
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
        if obj.get("kind") in ("ConfigMap", "Secret", "ServiceAccount"):
            refs[obj["kind"]].discard(obj["metadata"]["name"])
    return refs


def preflight(
    cluster: Cluster, objects: Sequence[Mapping[str, Any]], checks: Sequence[Mapping[str, Any]] = ()
) -> Preflight:
    """Every check; problems in the objects' order, then the references'.

    ``checks`` are dry-run and never written (what a later run would create);
    they are skipped when every object is settled. The result's ``dry_run``
    holds one entry per object, in order. Apart from reading the live copies
    first (they decide what needs a dry run), every request is independent
    of the others, so they are all sent as one batch, a few at a time.
    """
    stamped = any(labels.APPLIED_DIGEST in (o["metadata"].get("annotations") or {}) for o in objects)
    live = read_live(cluster, objects) if stamped else {}
    current = [live.get(key(o, cluster.namespace)) for o in objects]
    calm = [settled(o, copy) for o, copy in zip(objects, current, strict=True)]
    changing = [o for o, same in zip(objects, calm, strict=True) if not same]
    tried = changing + list(checks) if changing else []
    custom = sorted({(o["apiVersion"], o["kind"]) for o in tried if not _built_in(o["apiVersion"])})
    refs = references([*objects, *checks])
    wanted = [(kind.kind, kind.api_version, name) for kind in _REFERRED for name in sorted(refs[kind.kind])]
    selectors = sorted(refs["nodeSelector"])
    tasks: list[Callable[[], Any]] = [
        *(partial(_crd_problem, cluster, *kind) for kind in custom),
        *(partial(_exists, cluster, *ref) for ref in wanted),
        *(partial(_matches, cluster, selector) for selector in selectors),
        *(partial(_dry_run, cluster, obj) for obj in tried),
    ]
    results = concurrently(lambda task: task(), tasks)
    crds = dict(zip(custom, results[: len(custom)], strict=True))
    found = results[len(custom) : len(custom) + len(wanted)]
    matched = results[len(custom) + len(wanted) : len(custom) + len(wanted) + len(selectors)]
    outcomes = iter(results[len(custom) + len(wanted) + len(selectors) :])

    problems: list[str] = []
    warnings: list[str] = []
    dry: list[dict[str, Any]] = []

    def outcome_of(obj: Mapping[str, Any], outcome: dict[str, Any] | str) -> dict[str, Any] | None:
        crd = crds.get((obj["apiVersion"], obj["kind"]))
        if crd:  # the dry run failed too; this says why
            problems.append(f"{obj['kind']}/{obj['metadata']['name']}: {crd}")
        elif isinstance(outcome, str):
            problems.append(outcome)
        else:
            return outcome
        return None

    for obj, same, copy in zip(objects, calm, current, strict=True):
        result = copy if same and copy is not None else outcome_of(obj, next(outcomes))
        if result is not None:
            dry.append(result)
    for check in tried[len(changing) :]:
        outcome_of(check, next(outcomes))
    _report_references(cluster.namespace, zip(wanted, found, strict=True), problems, warnings)
    for selector, any_node in zip(selectors, matched, strict=True):
        if not any_node:
            warnings.append(f"no node matches the node selector {selector}: pods will stay Pending")
    return Preflight(problems, warnings, dry, live if stamped else None)


def _report_references(
    namespace: str,
    checked: Iterable[tuple[tuple[str, str, str], bool | None]],
    problems: list[str],
    warnings: list[str],
) -> None:
    """A problem for each referred object that does not exist, a warning for each mlctl may not read."""
    for (kind, _, name), exists in checked:
        if exists is None:
            warnings.append(f"cannot check that {kind} '{name}' exists (not allowed to read it)")
        elif not exists:
            where = "" if not kinds.BY_NAME[kind].namespaced else f" in namespace {namespace}"
            problems.append(f"{kind} '{name}' does not exist{where}")


# what objects refer to by name, and so what the preflight checks exists
_REFERRED = (kinds.PRIORITY_CLASS, kinds.PVC, kinds.CONFIG_MAP, kinds.SECRET, kinds.SERVICE_ACCOUNT)


def _dry_run(cluster: Cluster, obj: Mapping[str, Any]) -> dict[str, Any] | str:
    """What applying the object gives, or why the API server refuses it."""
    try:
        return cluster.apply(obj, dry_run=True)
    except (errors.Forbidden, errors.Unreachable, errors.Unauthorized):
        raise
    except (errors.ClusterError, errors.InvalidInput) as exc:  # InvalidInput: a kind mlctl has no path for
        return f"{obj['kind']}/{obj['metadata']['name']}: {exc.message}"


def _exists(cluster: Cluster, kind: str, api_version: str, name: str) -> bool | None:
    """Whether a referred object exists; None when the user may not read it."""
    try:
        return cluster.find(api_version, kind, name, cluster.namespace) is not None
    except errors.Forbidden:
        return None


def _matches(cluster: Cluster, selector: str) -> bool:
    try:
        return bool(cluster.list(*kinds.NODE.ref(), selector=selector))
    except errors.Forbidden:
        return True  # a namespaced user may not list nodes; the scheduler will tell


def _crd_problem(cluster: Cluster, api_version: str, kind: str) -> str | None:
    """Why objects of this kind cannot be written (no CRD, version not served), or None."""
    group, _, version = api_version.partition("/")
    known = kinds.named(kind)
    name = f"{known.plural if known else kind.lower() + 's'}.{group}"
    try:
        crd = cluster.find(*kinds.CRD.ref(), name)
    except errors.Forbidden:
        return None  # the dry run will tell
    if crd is None:
        return f"the {kind} CRD ({name}) is not installed; install its operator first"
    served = [v["name"] for v in crd.get("spec", {}).get("versions", []) if v.get("served")]
    if version not in served:
        return f"{api_version} is not served by the installed CRD (served: {', '.join(served)})"
    return None


REPLICAS_HANDOVER = "mlctl-replicas-handover"


def replicas_handover(obj: Mapping[str, Any], live: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The apply that hands a Deployment's replica count over, before mlctl stops setting it (pure).

    A Deployment that an HPA now scales is applied without ``replicas``. Had
    mlctl's earlier applies set them, leaving the field out would reset it to
    one; so, as Kubernetes documents for moving a Deployment to an HPA, the
    live count is first applied by another field manager, which keeps it.
    None when nothing needs handing over.
    """
    if obj.get("kind") != "Deployment" or live is None or "replicas" in (obj.get("spec") or {}):
        return None
    for entry in (live.get("metadata") or {}).get("managedFields") or []:
        owned = ((entry.get("fieldsV1") or {}).get("f:spec") or {}).keys()
        if entry.get("manager") == FIELD_MANAGER and entry.get("operation") == "Apply" and "f:replicas" in owned:
            meta = live["metadata"]
            return {
                "apiVersion": obj["apiVersion"],
                "kind": obj["kind"],
                "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
                "spec": {"replicas": (live.get("spec") or {}).get("replicas", 1)},
            }
    return None


def apply_all(
    cluster: Cluster,
    objects: Sequence[Mapping[str, Any]],
    check: Preflight | None = None,
) -> list[Applied]:
    """Server-side apply every object, tier by tier; report what changed, in the objects' order.

    ``check`` is the preflight of the same objects. Its dry runs tell what
    exists already, so no read is needed before each write; and an object
    whose dry run came back identical to the live one (read with one list per
    kind, unless the preflight read them) would not change, so it is not
    written again.
    """
    dry_run = check.dry_run if check is not None and len(check.dry_run) == len(objects) else None
    live: Mapping[Key, Mapping[str, Any]] = {}
    if dry_run is not None:
        live = check.live if check is not None and check.live is not None else read_live(cluster, objects)

    def one(index: int) -> Applied:
        obj = objects[index]
        meta = obj["metadata"]
        namespace = meta.get("namespace") or cluster.namespace
        if dry_run is not None:
            before = (dry_run[index].get("metadata") or {}).get("resourceVersion") or None
            if before and live.get(key(obj, cluster.namespace)) == dry_run[index]:
                return Applied(obj["kind"], meta["name"], namespace, "unchanged")
            current = live.get(key(obj, cluster.namespace))
        else:
            current = cluster.find(obj["apiVersion"], obj["kind"], meta["name"], namespace)
            before = current["metadata"].get("resourceVersion") if current else None
        handover = replicas_handover(obj, current)
        if handover is not None:
            cluster.apply(handover, field_manager=REPLICAS_HANDOVER)
        after = cluster.apply(obj)
        if before is None:
            action = "created"
        elif before == after["metadata"].get("resourceVersion"):
            action = "unchanged"
        else:
            action = "configured"
        return Applied(obj["kind"], meta["name"], namespace, action)

    results: dict[int, Applied] = {}
    for tier in sorted({kinds.apply_tier(o["kind"]) for o in objects}):
        indexes = [i for i, o in enumerate(objects) if kinds.apply_tier(o["kind"]) == tier]
        results.update(zip(indexes, concurrently(one, indexes), strict=True))
    return [results[i] for i in range(len(objects))]


def differences(
    cluster: Cluster, objects: Sequence[Mapping[str, Any]]
) -> list[tuple[Mapping[str, Any], dict[str, Any] | None, dict[str, Any]]]:
    """For each object that applying would change: (object, live copy or None, what applying gives).

    Settled objects need no request beyond the listing; the others are read
    (unless listed) and dry-run a few at a time. In the objects' order.
    """
    live = read_live(cluster, objects)

    def compare(obj: Mapping[str, Any]) -> tuple[Mapping[str, Any], dict[str, Any] | None, dict[str, Any]] | None:
        api_version, kind, namespace, name = key(obj, cluster.namespace)
        current = live.get((api_version, kind, namespace, name)) or cluster.find(api_version, kind, name, namespace)
        if settled(obj, current):
            return None
        return obj, current, cluster.apply(obj, dry_run=True)

    return [found for found in concurrently(compare, objects) if found is not None]


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


def delete_by_function(cluster: Cluster, name: str) -> list[Applied]:
    """Delete every object deploy made for the function ``name`` (runs are kept)."""
    from mlctl.spec.model import k8s_name

    selector = labels.of_function(k8s_name(name))
    results = []
    for api_version, kind in (each.ref() for each in kinds.FUNCTION_OBJECTS):
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
