"""Why a run is stuck, and what to change: a pure function over what the cluster holds.

``explain(facts)`` takes plain dicts (the run's pods and their events, the
nodes and what is already requested on each, quotas, claims, service
accounts, priority classes, the run object's events) and returns one
``Blocker`` per reason, each with a stable ``reason`` code, a message in
plain words and, where a change to the spec would let a pod fit on a node
that exists, the mlctl command that makes it. When no node could ever hold
the pod as it is, the blocker says so.

The scheduler's own verdict is worked out again here from the nodes, so the
message can name the node and the amounts; when the nodes could not be read
the scheduler's event message is used instead. Nothing here reads the
cluster, prints, or imports the cluster package (``mlctl.runs.cluster.gather``
collects the facts).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from mlctl import config as config_
from mlctl.runs import states
from mlctl.spec import quantity
from mlctl.spec import state_thresholds as state_thresholds_

# reason codes: stable, machine-readable (``runs explain -o json``)
INSUFFICIENT = "insufficient_resource"
TOO_LARGE = "larger_than_any_node"
TAINT = "untolerated_taint"
SELECTOR = "node_selector_mismatch"
AFFINITY = "node_affinity_mismatch"
UNSCHEDULABLE = "unschedulable"
MISSING_PVC = "missing_pvc"
QUOTA = "quota_exceeded"
MISSING_SERVICE_ACCOUNT = "missing_service_account"
UNKNOWN_PRIORITY_CLASS = "unknown_priority_class"
IMAGE_PULL = "image_pull_failed"
CRASH_LOOP = "crash_loop"
FAILED = "failed"
CREATE_FAILED = "pod_create_failed"
WARNING = "warning_event"
NO_PODS = "no_pods"

_BLOCKING_EFFECTS = ("NoSchedule", "NoExecute")
_PULL = ("ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull")
_GI = Decimal(2**30)
_MI = Decimal(2**20)
_PVC_EVENT = re.compile(r'persistentvolumeclaim "([^"]+)" not found')
_SA_EVENT = re.compile(r'serviceaccount "([^"]+)" not found')
_PC_EVENT = re.compile(r"no PriorityClass with name (\S+) was found")
PENDING_EXPLAIN_AFTER = 30.0  # seconds pending before ``mlctl run`` explains, unless a threshold is nearer


@dataclass(frozen=True)
class Blocker:
    """One reason a run cannot go on."""

    reason: str
    message: str
    pods: tuple[str, ...] = ()
    suggestion: str = ""  # an mlctl command that would let the pod fit
    never_fits: bool = False  # no node that exists could hold the pod as it is
    details: tuple[str, ...] = ()  # log lines, the kubelet's words

    def to_json(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "message": self.message,
            "pods": list(self.pods),
            "suggestion": self.suggestion,
            "never_fits": self.never_fits,
            "details": list(self.details),
        }


@dataclass(frozen=True)
class Facts:
    """What was read about a run. ``None`` means it could not be read (see ``unreadable``)."""

    run_id: str
    namespace: str
    pods: Sequence[Mapping[str, Any]] = ()
    events: Sequence[Mapping[str, Any]] = ()  # of the pods and of the run object
    templates: Sequence[Mapping[str, Any]] = ()  # pod specs the run object would create
    nodes: Sequence[Mapping[str, Any]] | None = None
    node_requests: Mapping[str, Mapping[str, Decimal]] | None = None  # node -> resource -> already requested
    quotas: Sequence[Mapping[str, Any]] | None = None
    claims: Sequence[str] | None = None  # PVC names in the namespace
    service_accounts: Sequence[str] | None = None
    priority_classes: Sequence[str] | None = None
    logs: Mapping[str, Sequence[str]] = field(default_factory=dict)  # pod -> last lines
    spec_file: str = ""
    preemption_mode: str = "prevent"  # the configured default, refined from each pod's placement
    profile_selector: Mapping[str, str] = field(default_factory=dict)
    profile_tolerations: Sequence[Mapping[str, Any]] = ()
    unreadable: Sequence[str] = ()  # "nodes (forbidden: ...)"


@dataclass(frozen=True)
class Explanation:
    run_id: str
    namespace: str
    state: str
    blockers: tuple[Blocker, ...]
    unreadable: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "namespace": self.namespace,
            "state": self.state,
            "blockers": [b.to_json() for b in self.blockers],
            "could_not_read": list(self.unreadable),
        }


# --------------------------------------------------------------------------- the whole


def explain(facts: Facts) -> Explanation:
    found: list[Blocker] = []
    for pod in facts.pods:
        found += _pod_blockers(pod, facts)
    found += _creation_blockers(facts)
    if not facts.pods and not found:
        found.append(
            Blocker(
                NO_PODS,
                f"run {facts.run_id} has no pod, and no event says why"
                + (" (the run object could not be read)" if any("run object" in u for u in facts.unreadable) else ""),
            )
        )
    return Explanation(facts.run_id, facts.namespace, _state(facts.pods), _merge(found), tuple(facts.unreadable))


def _state(pods: Sequence[Mapping[str, Any]]) -> str:
    if not pods:
        return "no pods"
    texts = []
    for pod in pods:
        current = states.classify(pod)
        texts.append(current.state or current.phase.lower())
    return ", ".join(sorted(set(texts)))


def _merge(found: Iterable[Blocker]) -> tuple[Blocker, ...]:
    """One blocker per (reason, message): identical workers say it once, naming every pod."""
    merged: dict[tuple[str, str], Blocker] = {}
    for blocker in found:
        key = (blocker.reason, blocker.message)
        if key in merged:
            old = merged[key]
            pods = old.pods + tuple(p for p in blocker.pods if p not in old.pods)
            merged[key] = Blocker(
                old.reason, old.message, pods, old.suggestion or blocker.suggestion, old.never_fits, old.details
            )
        else:
            merged[key] = blocker
    return tuple(merged.values())


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _events_of(facts: Facts, name: str, kind: str = "Pod") -> list[Mapping[str, Any]]:
    found = [
        e
        for e in facts.events
        if (e.get("involvedObject") or {}).get("name") == name and (e.get("involvedObject") or {}).get("kind") == kind
    ]
    return sorted(found, key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))


def _file(facts: Facts) -> str:
    return facts.spec_file or "FILE"


# --------------------------------------------------------------------------- one pod


def _pod_blockers(pod: Mapping[str, Any], facts: Facts) -> list[Blocker]:
    name = _name(pod)
    status = pod.get("status") or {}
    out: list[Blocker] = []
    out += _volume_blockers(pod, facts)  # a missing claim is the blocker; the nodes are not to blame
    if not out and status.get("phase", "Pending") == "Pending" and not (pod.get("spec") or {}).get("nodeName"):
        scheduled = next((c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), None)
        if scheduled is None or scheduled.get("status") != "True":
            out += _scheduling(pod, facts, scheduled)
    out += _container_blockers(pod, facts)
    covered = {b.reason for b in out}
    for event in _events_of(facts, name):
        if covered or event.get("type") != "Warning" or event.get("reason") in ("FailedScheduling", "BackOff"):
            continue
        out.append(Blocker(WARNING, f"{event.get('reason')}: {event.get('message', '')}".strip(), (name,)))
    return out


def _volume_blockers(pod: Mapping[str, Any], facts: Facts) -> list[Blocker]:
    name = _name(pod)
    out = []
    wanted = [
        str((v.get("persistentVolumeClaim") or {}).get("claimName"))
        for v in (pod.get("spec") or {}).get("volumes") or []
        if v.get("persistentVolumeClaim")
    ]
    if facts.claims is not None:
        missing = [c for c in wanted if c not in facts.claims]
    else:
        said = " ".join(str(e.get("message", "")) for e in _events_of(facts, name))
        missing = [c for c in wanted if c in _PVC_EVENT.findall(said)]
    for claim in missing:
        out.append(
            Blocker(
                MISSING_PVC,
                f"volume claim (PVC) {claim} does not exist in namespace {facts.namespace}; "
                "the pod waits until it is created",
                (name,),
            )
        )
    return out


# --------------------------------------------------------------------------- scheduling


@dataclass(frozen=True)
class _NodeVerdict:
    name: str
    selector: tuple[str, ...]  # node selector pairs the node lacks
    affinity: bool  # fails the required node affinity
    taints: tuple[str, ...]  # untolerated NoSchedule/NoExecute taints, key=value:effect
    profile_taints_only: bool  # every untolerated taint is one the profile tolerates
    short: Mapping[str, tuple[Decimal, Decimal]]  # resource -> (needed, free)
    allocatable: Mapping[str, Decimal]

    @property
    def placed(self) -> bool:
        return not self.selector and not self.affinity

    @property
    def fits(self) -> bool:
        return self.placed and not self.taints and not self.short


def _scheduling(pod: Mapping[str, Any], facts: Facts, scheduled: Mapping[str, Any] | None) -> list[Blocker]:
    name = _name(pod)
    said = [str(e.get("message", "")) for e in _events_of(facts, name) if e.get("reason") == "FailedScheduling"] or (
        [str(scheduled.get("message", ""))] if scheduled and scheduled.get("message") else []
    )
    if facts.nodes is None or facts.node_requests is None:
        if not said:
            return []
        return [Blocker(UNSCHEDULABLE, f"the scheduler says: {said[-1]}", (name,))]
    spec = pod.get("spec") or {}
    needs = requests(spec)
    verdicts = [_verdict(node, spec, needs, facts) for node in facts.nodes]
    if any(v.fits for v in verdicts):
        if not said:
            return []
        return [Blocker(UNSCHEDULABLE, f"the scheduler says: {said[-1]} (a node has room now; it may retry)", (name,))]
    mode = _mode(spec, facts)
    out: list[Blocker] = []
    out += _selector_blockers(name, spec, facts.nodes, verdicts, mode, facts)
    out += _taint_blockers(name, verdicts, mode, facts)
    out += _resource_blockers(name, spec, needs, verdicts, facts)
    if not out and said:
        out.append(Blocker(UNSCHEDULABLE, f"the scheduler says: {said[-1]}", (name,)))
    return out


def _verdict(
    node: Mapping[str, Any], spec: Mapping[str, Any], needs: Mapping[str, Decimal], facts: Facts
) -> _NodeVerdict:
    name = _name(node)
    labels = (node.get("metadata") or {}).get("labels") or {}
    selector = tuple(f"{k}={v}" for k, v in (spec.get("nodeSelector") or {}).items() if labels.get(k) != v)
    affinity = not _affinity_matches(spec, node)
    tolerations = spec.get("tolerations") or []
    untolerated = [
        t
        for t in (node.get("spec") or {}).get("taints") or []
        if t.get("effect") in _BLOCKING_EFFECTS and not any(_tolerates(tol, t) for tol in tolerations)
    ]
    profile_only = bool(untolerated) and all(
        any(_tolerates(tol, t) for tol in facts.profile_tolerations) for t in untolerated
    )
    allocatable = _resources((node.get("status") or {}).get("allocatable") or {})
    used = (facts.node_requests or {}).get(name, {})
    short = {}
    for resource, need in needs.items():
        free = allocatable.get(resource, Decimal(0)) - used.get(resource, Decimal(0))
        if need > free:
            short[resource] = (need, free)
    return _NodeVerdict(
        name, selector, affinity, tuple(_taint_text(t) for t in untolerated), profile_only, short, allocatable
    )


def _selector_blockers(
    pod: str,
    spec: Mapping[str, Any],
    nodes: Sequence[Mapping[str, Any]],
    verdicts: Sequence[_NodeVerdict],
    mode: str,
    facts: Facts,
) -> list[Blocker]:
    out = []
    if verdicts and all(v.selector for v in verdicts):
        pairs = sorted({p for v in verdicts for p in v.selector})
        lone = [p for p in pairs if all(p in v.selector for v in verdicts)]
        if lone:
            for pair in lone:
                out.append(Blocker(SELECTOR, f"node selector {pair} matches no node", (pod,), never_fits=True))
        else:
            out.append(
                Blocker(
                    SELECTOR, f"node selector {', '.join(pairs)} matches no node (together)", (pod,), never_fits=True
                )
            )
    elif verdicts and not any(not v.selector and not v.affinity for v in verdicts):
        why = f" (preemption mode {mode})" if _affinity_names_profile(spec, facts) else ""
        out.append(
            Blocker(
                AFFINITY,
                f"the required node affinity matches no node{why}"
                + (" that also matches the node selector" if spec.get("nodeSelector") else ""),
                (pod,),
                never_fits=True,
            )
        )
    if not nodes:
        out.append(Blocker(UNSCHEDULABLE, "the cluster has no node", (pod,), never_fits=True))
    return out


def _taint_blockers(pod: str, verdicts: Sequence[_NodeVerdict], mode: str, facts: Facts) -> list[Blocker]:
    by_taint: dict[str, list[_NodeVerdict]] = {}
    for verdict in verdicts:
        if verdict.placed:
            for taint in verdict.taints:
                by_taint.setdefault(taint, []).append(verdict)
    untainted = any(v.placed and not v.taints for v in verdicts)
    out = []
    for taint, nodes in by_taint.items():
        helps = any(not v.short for v in nodes)  # tolerating it would let the pod onto one of these
        if not helps and untainted:
            continue  # the pod does not fit on them anyway: the resource blockers say why
        names = [v.name for v in nodes]
        spot = all(v.profile_taints_only for v in nodes)
        kind = "spot nodes" if spot else "nodes"
        count = f"{len(names)} {kind}" if len(names) > 1 else f"{kind[:-1]} {names[0]}"
        listed = f" ({', '.join(names)})" if len(names) > 1 else ""
        has = "have" if len(names) > 1 else "has"
        why = f" (preemption mode {mode})" if spot else ""
        message = f"{count}{listed} {has} taint {taint} that the pod does not tolerate{why}"
        suggestion = ""
        if not helps:
            message += "; tolerating it would not help: they lack room too"
        elif spot and mode in ("prevent", "none"):
            suggestion = f"mlctl set-preemption {_file(facts)} allow"
        out.append(Blocker(TAINT, message, (pod,), suggestion))
    return out


def _resource_blockers(
    pod: str, spec: Mapping[str, Any], needs: Mapping[str, Decimal], verdicts: Sequence[_NodeVerdict], facts: Facts
) -> list[Blocker]:
    untainted = [v for v in verdicts if v.placed and not v.taints]
    # with every node it may use tainted, say what they lack; a smaller pod would still not be let on them
    eligible = untainted or [v for v in verdicts if v.placed]
    if not eligible or not any(v.short for v in eligible):
        return []
    out = []
    shortfalls = sorted({r for v in eligible for r in v.short})
    everywhere = [r for r in shortfalls if all(r in v.short for v in eligible)]
    suggestion = _resource_suggestion(spec, eligible, facts) if untainted else ""
    for resource in everywhere or shortfalls:
        need = needs[resource]
        largest = max(eligible, key=lambda v: v.allocatable.get(resource, Decimal(0)))
        biggest = largest.allocatable.get(resource, Decimal(0))
        anywhere = max((v.allocatable.get(resource, Decimal(0)) for v in verdicts), default=Decimal(0))
        if need > biggest:
            message = (
                f"needs {resource}: {_show(resource, need)}; "
                f"the largest node ({largest.name}) has {_show(resource, biggest)}"
            )
            if biggest == 0:
                message = f"needs {resource}: {_show(resource, need)}; no node the pod may use has any"
            out.append(
                Blocker(
                    TOO_LARGE,
                    message + ("" if suggestion else "; no node could ever fit it as it is"),
                    (pod,),
                    suggestion,
                    never_fits=need > anywhere,
                )
            )
        else:
            # the node with the most free, and of those the largest (the one worth waiting for)
            most = max(
                eligible,
                key=lambda v: (v.short.get(resource, (need, need))[1], v.allocatable.get(resource, Decimal(0))),
            )
            free = most.short.get(resource, (need, need))[1]
            message = (
                f"insufficient {resource}: needs {_show(resource, need)}, "
                f"the most free on a node is {_show(resource, max(free, Decimal(0)))} ({most.name})"
            )
            out.append(Blocker(INSUFFICIENT, message, (pod,), suggestion))
    return out


def _resource_suggestion(spec: Mapping[str, Any], eligible: Sequence[_NodeVerdict], facts: Facts) -> str:
    """The set-resources command that lowers the pod to what one node has free, if any node would then fit it."""
    candidates = [v for v in eligible if all(free > 0 for _, free in v.short.values())]
    if not candidates:
        return ""
    best = min(candidates, key=lambda v: (len(v.short), [-free for _, free in v.short.values()]))
    requests_: list[str] = []
    limits: list[str] = []
    gpu_type = ""
    containers = [c for c in spec.get("containers") or [] if c]
    if len(containers) != 1:
        return ""  # the spec sets one container's resources; several would need a per-container change
    for resource, (_, free) in sorted(best.short.items()):
        if resource in ("cpu", "memory"):
            requests_.append(f"{resource}={_value(resource, free)}")
        elif resource == "pods":
            return ""
        else:  # GPUs and other extended resources: the request follows the limit
            limits.append(f"gpus={int(free)}")
            if resource != config_.DEFAULT_GPU_TYPE:
                gpu_type = resource
    parts = [f"mlctl set-resources {_file(facts)}"]
    if requests_:
        parts.append("--requests " + ",".join(requests_))
    if limits:
        parts.append("--limits " + ",".join(limits))
    if gpu_type:
        parts.append(f"--gpu-type {gpu_type}")
    parts.append("--patch")
    return " ".join(parts)


# --------------------------------------------------------------------------- placement rules


def _affinity_matches(spec: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    terms = (
        ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution")
        or {}
    ).get("nodeSelectorTerms") or []
    if not terms:
        return True
    labels = (node.get("metadata") or {}).get("labels") or {}
    fields = {"metadata.name": _name(node)}
    return any(
        all(_expression(e, labels) for e in term.get("matchExpressions") or [])
        and all(_expression(e, fields) for e in term.get("matchFields") or [])
        for term in terms
    )


def _expression(expression: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key, operator = expression.get("key", ""), expression.get("operator", "")
    values = [str(v) for v in expression.get("values") or []]
    present = key in labels
    value = labels.get(key)
    if operator == "In":
        return present and value in values
    if operator == "NotIn":
        return not present or value not in values
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    if operator in ("Gt", "Lt") and present and values:
        try:
            number, bound = int(str(value)), int(values[0])
        except ValueError:
            return False
        return number > bound if operator == "Gt" else number < bound
    return False


def _affinity_names_profile(spec: Mapping[str, Any], facts: Facts) -> bool:
    text = json.dumps((spec.get("affinity") or {}).get("nodeAffinity") or {})
    return any(f'"{key}"' in text for key in facts.profile_selector)


def _tolerates(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    if toleration.get("effect") and toleration.get("effect") != taint.get("effect"):
        return False
    operator = toleration.get("operator") or "Equal"
    if not toleration.get("key"):
        return operator == "Exists"
    if toleration.get("key") != taint.get("key"):
        return False
    return operator == "Exists" or (toleration.get("value") or "") == (taint.get("value") or "")


def _taint_text(taint: Mapping[str, Any]) -> str:
    value = f"={taint['value']}" if taint.get("value") else ""
    return f"{taint.get('key')}{value}:{taint.get('effect')}"


def _mode(spec: Mapping[str, Any], facts: Facts) -> str:
    """The preemption mode a pod was rendered with, read back from its placement."""
    tolerations = spec.get("tolerations") or []
    if facts.profile_tolerations and all(
        any(_tolerates(t, {**p, "key": p.get("key"), "value": p.get("value")}) for t in tolerations)
        for p in facts.profile_tolerations
    ):
        terms = json.dumps((spec.get("affinity") or {}).get("nodeAffinity") or {})
        return "constrain" if '"In"' in terms and _affinity_names_profile(spec, facts) else "allow"
    return facts.preemption_mode if facts.preemption_mode in ("prevent", "none") else "prevent"


# --------------------------------------------------------------------------- resources


def _resources(values: Mapping[str, Any]) -> dict[str, Decimal]:
    out = {}
    for key, value in values.items():
        try:
            out[str(key)] = quantity.parse(value)
        except quantity.QuantityError:
            continue
    return out


def requests(spec: Mapping[str, Any]) -> dict[str, Decimal]:
    """What a pod asks the scheduler for: its containers' sum, at least its largest init container, plus overhead.

    A container with limits and no requests requests its limits (the API server fills them in the same way).
    """

    def of(container: Mapping[str, Any]) -> dict[str, Decimal]:
        resources = container.get("resources") or {}
        return {**_resources(resources.get("limits") or {}), **_resources(resources.get("requests") or {})}

    total: dict[str, Decimal] = {}
    for container in spec.get("containers") or []:
        for key, value in of(container).items():
            total[key] = total.get(key, Decimal(0)) + value
    for container in spec.get("initContainers") or []:
        for key, value in of(container).items():
            total[key] = max(total.get(key, Decimal(0)), value)
    for key, value in _resources(spec.get("overhead") or {}).items():
        total[key] = total.get(key, Decimal(0)) + value
    total = {k: v for k, v in total.items() if v > 0}
    total["pods"] = Decimal(1)
    return total


def requested_on_nodes(pods: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Decimal]]:
    """node -> resource -> requested by the pods bound there that have not ended."""
    out: dict[str, dict[str, Decimal]] = {}
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName")
        if not node or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        used = out.setdefault(str(node), {})
        for key, value in requests(pod.get("spec") or {}).items():
            used[key] = used.get(key, Decimal(0)) + value
    return out


def _show(resource: str, value: Decimal) -> str:
    if resource == "memory" or resource.startswith(("hugepages-", "ephemeral-storage")):
        if value % _GI == 0:
            return f"{int(value / _GI)}Gi"
        if value >= _GI:
            return f"{(value / _GI).quantize(Decimal('0.1'), rounding=ROUND_FLOOR)}Gi"
        return f"{int(value / _MI)}Mi"
    if resource == "cpu":
        return str(int(value)) if value == int(value) else f"{int(value * 1000)}m"
    return str(int(value)) if value == int(value) else str(value)


def _value(resource: str, value: Decimal) -> str:
    """A quantity no larger than ``value``, for a command line."""
    if resource == "memory":
        if value % _GI == 0:
            return f"{int(value / _GI)}Gi"
        return f"{int(value / _MI)}Mi"
    if resource == "cpu":
        return str(int(value)) if value == int(value) else f"{int(value * 1000)}m"
    return str(int(value))


# --------------------------------------------------------------------------- containers


def _container_blockers(pod: Mapping[str, Any], facts: Facts) -> list[Blocker]:
    name = _name(pod)
    status = pod.get("status") or {}
    out = []
    pull_secrets = [s.get("name", "") for s in (pod.get("spec") or {}).get("imagePullSecrets") or []]
    kubelet = [
        str(e.get("message", ""))
        for e in _events_of(facts, name)
        if e.get("reason") in ("Failed", "ErrImagePull") and "image" in str(e.get("message", "")).lower()
    ]
    failed_said = False
    for container in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
        waiting = (container.get("state") or {}).get("waiting") or {}
        terminated = (container.get("state") or {}).get("terminated") or {}
        last = (container.get("lastState") or {}).get("terminated") or {}
        if waiting.get("reason") in _PULL:
            said = kubelet[-1] if kubelet else waiting.get("message") or waiting["reason"]
            secrets = ", ".join(pull_secrets) if pull_secrets else "none"
            out.append(
                Blocker(
                    IMAGE_PULL,
                    f"cannot pull image {container.get('image', '?')} of container {container.get('name')} "
                    f"({waiting['reason']}): {said}; pull secrets used: {secrets}",
                    (name,),
                )
            )
        elif waiting.get("reason") == "CrashLoopBackOff":
            out.append(
                Blocker(
                    CRASH_LOOP,
                    f"container {container.get('name')} keeps crashing (restarted {container.get('restartCount', 0)} "
                    f"times){_ending(last)}",
                    (name,),
                    details=tuple(facts.logs.get(name, ())),
                )
            )
        elif terminated and terminated.get("exitCode") and not failed_said:
            failed_said = True
            out.append(
                Blocker(
                    FAILED,
                    f"container {container.get('name')} failed{_ending(terminated)}",
                    (name,),
                    details=tuple(facts.logs.get(name, ())),
                )
            )
    if status.get("phase") == "Failed" and not failed_said and not out:
        reason = status.get("reason") or "failed"
        message = status.get("message") or ""
        out.append(Blocker(FAILED, f"pod {name} failed: {reason}" + (f": {message}" if message else ""), (name,)))
    return out


def _ending(terminated: Mapping[str, Any]) -> str:
    if not terminated:
        return ""
    text = f": exit code {terminated.get('exitCode')}"
    if terminated.get("reason"):
        text += f", reason {terminated['reason']}"
    _, error = states.result_of([{"status": {"containerStatuses": [{"state": {"terminated": terminated}}]}}])
    if error:
        text += f"; the handler's error: {error}"
    return text


# --------------------------------------------------------------------------- pods that were never created


def _creation_blockers(facts: Facts) -> list[Blocker]:
    """Quota, service account and priority class refusals: the pod was never made, the run object says why."""
    out: list[Blocker] = []
    refusals = [
        str(e.get("message", ""))
        for e in facts.events
        if (e.get("involvedObject") or {}).get("kind") != "Pod"
        and e.get("reason") in ("FailedCreate", "FailedCreatePod")
    ]
    seen: set[str] = set()
    for said in refusals[-5:]:
        if "exceeded quota" in said:
            if QUOTA not in seen:
                seen.add(QUOTA)
                out.append(Blocker(QUOTA, _quota_message(said, facts)))
        elif _SA_EVENT.search(said) or "service account" in said:
            account = _SA_EVENT.search(said) or re.search(r"service account \S+/(\S+):", said)
            name = account.group(1) if account else "?"
            if MISSING_SERVICE_ACCOUNT not in seen:
                seen.add(MISSING_SERVICE_ACCOUNT)
                out.append(
                    Blocker(
                        MISSING_SERVICE_ACCOUNT,
                        f"service account {name} does not exist in namespace {facts.namespace}; no pod can be created",
                    )
                )
        elif _PC_EVENT.search(said):
            name = _PC_EVENT.search(said).group(1)  # type: ignore[union-attr]
            if UNKNOWN_PRIORITY_CLASS not in seen:
                seen.add(UNKNOWN_PRIORITY_CLASS)
                out.append(_priority_blocker(name, facts))
        elif CREATE_FAILED not in seen:
            seen.add(CREATE_FAILED)
            out.append(Blocker(CREATE_FAILED, f"a pod could not be created: {said}"))
    for template in facts.templates:
        account = template.get("serviceAccountName")
        if (
            account
            and facts.service_accounts is not None
            and account not in facts.service_accounts
            and MISSING_SERVICE_ACCOUNT not in seen
        ):
            seen.add(MISSING_SERVICE_ACCOUNT)
            out.append(
                Blocker(
                    MISSING_SERVICE_ACCOUNT,
                    f"service account {account} does not exist in namespace {facts.namespace}; no pod can be created",
                )
            )
        priority = template.get("priorityClassName")
        if (
            priority
            and facts.priority_classes is not None
            and priority not in facts.priority_classes
            and UNKNOWN_PRIORITY_CLASS not in seen
        ):
            seen.add(UNKNOWN_PRIORITY_CLASS)
            out.append(_priority_blocker(str(priority), facts))
    return out


def _priority_blocker(name: str, facts: Facts) -> Blocker:
    known = sorted(facts.priority_classes or [])
    if not known:
        return Blocker(UNKNOWN_PRIORITY_CLASS, f"priority class {name} does not exist; no pod can be created")
    return Blocker(
        UNKNOWN_PRIORITY_CLASS,
        f"priority class {name} does not exist (the cluster has {', '.join(known)}); no pod can be created",
        suggestion=f"mlctl set-priority {_file(facts)} {known[0]}" if len(known) == 1 else "",
    )


def _quota_message(said: str, facts: Facts) -> str:
    match = re.search(r"exceeded quota: ([^,]+), requested: (.+?), used: (.+?), limited: (.+?)$", said.strip())
    if match:
        quota, requested, used, limited = match.groups()
        return f"resource quota {quota} refuses the pod: it requests {requested}; {used} is used of {limited}"
    for quota in facts.quotas or []:
        status = quota.get("status") or {}
        return f"resource quota {_name(quota)} refuses the pod (hard {status.get('hard')}, used {status.get('used')})"
    return f"a resource quota refuses the pod: {said}"


# --------------------------------------------------------------------------- output and hooks


def lines(explanation: Explanation) -> list[str]:
    """The explanation as text for people."""
    out = [f"run {explanation.run_id} (namespace {explanation.namespace}): {explanation.state}"]
    if not explanation.blockers:
        out.append("  nothing blocks it that mlctl can see")
    for blocker in explanation.blockers:
        pods = ""
        if blocker.pods:
            shown = ", ".join(blocker.pods[:3]) + (
                f" and {len(blocker.pods) - 3} more" if len(blocker.pods) > 3 else ""
            )
            pods = f" [{shown}]"
        out.append(f"  - {blocker.message} ({blocker.reason}){pods}")
        if blocker.never_fits:
            out.append("    no node in the cluster could ever fit the pod as it is")
        if blocker.suggestion:
            out.append(f"    to change it: {blocker.suggestion}")
        for detail in blocker.details:
            out.append(f"    | {detail}")
    for what in explanation.unreadable:
        out.append(f"  could not read {what}")
    return out


def record_text(explanation: Explanation) -> str:
    """The blockers as the compact JSON kept in a run's record."""
    return json.dumps([b.to_json() for b in explanation.blockers], sort_keys=True)[:16000]


def pending_delay(thresholds: state_thresholds_.Thresholds) -> float:
    """How long ``mlctl run`` lets a run be pending before it explains why: 30 s, or half the nearest pending limit."""
    limits = [thresholds.limit(s) for s in ("pending_not_scheduled", "pending_scheduled", "image_pull_backoff")]
    nearest = [limit / 2 for limit in limits if limit >= 0]
    return max(1.0, min([PENDING_EXPLAIN_AFTER, *nearest]))
