"""Where a run stands, read from its Kubernetes objects: pure functions over dicts.

A pod is in one of MLRun's threshold states: ``image_pull_backoff`` (a container waiting in ImagePullBackOff
or ErrImagePull), ``pending_scheduled`` (Pending, PodScheduled=True),
``pending_not_scheduled`` (other Pending) or ``running``; a finished pod is
in none. The time in state comes from Kubernetes' own timestamps, so any
watcher, even a restarted one, reaches the same verdict.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mlctl.kube import labels as kube_labels
from mlctl.runs import record as record_
from mlctl.runs import thresholds as thresholds_
from mlctl.spec import retry as retry_
from mlctl.spec import state_thresholds as state_thresholds_

_PULL_ERRORS = ("ImagePullBackOff", "ErrImagePull")


@dataclass(frozen=True)
class PodState:
    state: str | None  # a threshold state, or None when the pod has finished
    since: datetime | None
    phase: str
    reason: str = ""  # e.g. the scheduler's message, the waiting reason


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def now() -> datetime:
    return datetime.now(UTC)


def _condition(pod: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind:
            return condition  # type: ignore[no-any-return]
    return None


def _statuses(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    status = pod.get("status") or {}
    return [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]


def classify(pod: Mapping[str, Any]) -> PodState:
    status = pod.get("status") or {}
    phase = status.get("phase") or "Pending"
    created = parse_time((pod.get("metadata") or {}).get("creationTimestamp"))
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return PodState(None, None, phase, "terminating")
    if phase == "Pending":
        scheduled = _condition(pod, "PodScheduled")
        for container in _statuses(pod):
            waiting = (container.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in _PULL_ERRORS:
                since = parse_time(scheduled.get("lastTransitionTime")) if scheduled else created
                return PodState(
                    "image_pull_backoff", since or created, phase, waiting.get("message") or waiting["reason"]
                )
        if scheduled and scheduled.get("status") == "True":
            return PodState("pending_scheduled", parse_time(scheduled.get("lastTransitionTime")) or created, phase)
        reason = scheduled.get("message", "") if scheduled else ""
        return PodState("pending_not_scheduled", created, phase, reason)
    if phase == "Running":
        started = [parse_time(((c.get("state") or {}).get("running") or {}).get("startedAt")) for c in _statuses(pod)]
        known = [s for s in started if s]
        since = max(known) if known else parse_time(status.get("startTime")) or created
        return PodState("running", since, phase)
    return PodState(None, None, phase)


def pod_thresholds(pod: Mapping[str, Any]) -> state_thresholds_.Thresholds:
    """The run's effective thresholds, as annotated on its pods at render time."""
    raw = ((pod.get("metadata") or {}).get("annotations") or {}).get(kube_labels.THRESHOLDS)
    try:
        texts = json.loads(raw) if raw else {}
    except ValueError:
        texts = {}
    return state_thresholds_.effective(texts)


def breach(pod: Mapping[str, Any], at: datetime) -> str | None:
    """The abort status text when the pod has stayed too long in its state."""
    current = classify(pod)
    if current.state is None or current.since is None:
        return None
    return thresholds_.breach(pod_thresholds(pod), current.state, (at - current.since).total_seconds())


def deadline(pod: Mapping[str, Any]) -> datetime | None:
    """When the pod will breach if nothing changes (None: never)."""
    current = classify(pod)
    if current.state is None or current.since is None:
        return None
    limit = pod_thresholds(pod).limit(current.state)
    if limit < 0:
        return None
    from datetime import timedelta

    return current.since + timedelta(seconds=limit)


def object_state(obj: Mapping[str, Any]) -> str:
    """The run's state as its run object alone says it: mlctl's record, else the object's own conditions.

    Pods are not consulted: a launcher or driver pod may end before its
    operator has decided the run's outcome.
    """
    recorded = ((obj.get("metadata") or {}).get("annotations") or {}).get(kube_labels.STATE)
    return str(recorded) if recorded else _derived_state(obj, [])[0]


JOB_BACKOFF = 10.0  # seconds the Job controller waits before the pod after a first failure; doubling
JOB_BACKOFF_MAX = 600.0  # and at most (kube-controller-manager 1.34)


def retry_pause(obj: Mapping[str, Any], ended: int) -> float:
    """How long after the end of its ``ended``-th attempt a run's controller waits before the next pod.

    The Job controller (a job's pods, an MPIJob's launcher) backs off 10 s,
    doubling with each ended attempt, up to 10 minutes; the Spark operator
    waits the run's retry interval.
    """
    if ended <= 0:
        return 0.0
    if runtime_of(obj) == "spark":
        return retry_of(obj).backoff_seconds
    return min(JOB_BACKOFF * 2.0 ** (ended - 1), JOB_BACKOFF_MAX)


def no_pod_since(obj: Mapping[str, Any], last_pod_gone: datetime | None = None, ended: int = 0) -> datetime | None:
    """When a run without any pod became ``pending_not_scheduled`` (None: it has ended).

    Its run object's creation; or, for a run whose earlier attempt's pod is
    gone, when its controller's back-off after that attempt ended: the time
    between two attempts is the retry's, and each attempt's time is its own.
    ``last_pod_gone`` is when a watcher saw the run's last pod go, ``ended``
    how many of its attempts it saw end; the attempts kept on the run object
    count too.
    """
    if object_state(obj) in record_.TERMINAL:
        return None
    created = parse_time((obj.get("metadata") or {}).get("creationTimestamp"))
    kept = [a for a in recorded_attempts(obj).values() if a.outcome in record_.ATTEMPT_ENDED]
    ends = [m for m in [last_pod_gone, *(parse_time(a.finished) for a in kept)] if m]
    if not ends:
        return created
    from datetime import timedelta

    resumed = max(ends) + timedelta(seconds=retry_pause(obj, max(ended, len(kept), 1)))
    return max(resumed, created) if created else resumed


def no_pod_deadline(obj: Mapping[str, Any], last_pod_gone: datetime | None = None, ended: int = 0) -> datetime | None:
    """When a run that has no pod breaches ``pending_not_scheduled`` (None: never)."""
    since = no_pod_since(obj, last_pod_gone, ended)
    limit = pod_thresholds(obj).limit("pending_not_scheduled")
    if since is None or limit < 0:
        return None
    from datetime import timedelta

    return since + timedelta(seconds=limit)


def no_pod_breach(
    obj: Mapping[str, Any], at: datetime, last_pod_gone: datetime | None = None, ended: int = 0
) -> str | None:
    """The abort status text when a run has had no pod for longer than ``pending_not_scheduled`` allows."""
    since = no_pod_since(obj, last_pod_gone, ended)
    if since is None or since > at:
        return None
    return thresholds_.breach(pod_thresholds(obj), "pending_not_scheduled", (at - since).total_seconds())


def failed_create(events: Iterable[Mapping[str, Any]]) -> str:
    """The newest message of a controller that could not create a pod (``FailedCreate``), verbatim."""
    found = [e for e in events if e.get("reason") == "FailedCreate" and e.get("type") == "Warning"]
    if not found:
        return ""

    def when(event: Mapping[str, Any]) -> str:
        return str(event.get("lastTimestamp") or event.get("eventTime") or "")

    return str(max(found, key=when).get("message") or "")


@dataclass(frozen=True)
class Outcome:
    """What the bootstrap wrote into a finished pod's termination message."""

    result: dict[str, Any]
    error: str = ""  # the handler's exception, "Type: message"
    traceback: str = ""  # the last lines of its traceback


def outcome_of(pods: Iterable[Mapping[str, Any]]) -> Outcome:
    """The bootstrap's report from a finished pod's termination message."""
    for pod in pods:
        for container in _statuses(pod):
            terminated = (container.get("state") or {}).get("terminated") or {}
            message = terminated.get("message")
            if not message:
                continue
            try:
                data = json.loads(message)
            except ValueError:
                return Outcome({}, message.strip()[:500] if terminated.get("exitCode") else "")
            if isinstance(data, dict):
                return Outcome(
                    dict(data.get("results") or {}), str(data.get("error") or ""), str(data.get("traceback") or "")
                )
    return Outcome({})


def result_of(pods: Iterable[Mapping[str, Any]]) -> tuple[dict[str, Any], str]:
    """(result, error) from a finished pod's termination message, written by the bootstrap."""
    outcome = outcome_of(pods)
    return outcome.result, outcome.error


_DISRUPTIONS = {
    # the DisruptionTarget condition's reasons, as a user would say them
    "PreemptionByScheduler": "preempted by the scheduler",
    "EvictionByEvictionAPI": "evicted",
    "DeletionByTaintManager": "deleted by the node's taint manager (node taint)",
    "DeletionByPodGC": "deleted by the pod garbage collector (node gone)",
    "TerminationByKubelet": "terminated by the kubelet (node pressure or shutdown)",
}


def disruption(pod: Mapping[str, Any]) -> str:
    """What took the pod away, from its ``DisruptionTarget`` condition ("" when nothing did)."""
    condition = _condition(pod, "DisruptionTarget")
    if not condition or condition.get("status") != "True":
        return ""
    reason = str(condition.get("reason") or "")
    text = _DISRUPTIONS.get(reason, reason or "disrupted")
    node = (pod.get("spec") or {}).get("nodeName")
    if node:
        text += f" on node {node}"
    message = condition.get("message")
    return f"pod {pod.get('metadata', {}).get('name', '')} {text}" + (f": {message}" if message else "")


# -------------------------------------------------------------------- attempts

_PRIMARY = {
    # which pod of a run is an attempt (the one whose end is the attempt's end)
    "mpijob": ("training.kubeflow.org/job-role", "launcher"),
    "spark": ("spark-role", "driver"),
}
ROLE_LABELS = frozenset(key for key, _ in _PRIMARY.values())  # the pod labels ``primary`` reads
POD_CONDITIONS = ("PodScheduled", "DisruptionTarget")  # the pod conditions read here


def primary(runtime: str, pod: Mapping[str, Any]) -> bool:
    """Whether ``pod`` is one of a run's attempts: a job's pod, an MPIJob's launcher, a Spark driver."""
    wanted = _PRIMARY.get(runtime)
    if wanted is None:
        return True
    key, value = wanted
    return ((pod.get("metadata") or {}).get("labels") or {}).get(key) == value


def runtime_of(obj: Mapping[str, Any]) -> str:
    return str(((obj.get("metadata") or {}).get("labels") or {}).get(kube_labels.KIND, ""))


def retry_of(obj: Mapping[str, Any]) -> retry_.Retry:
    """The run's retry policy, as annotated on its run object or pods at render time."""
    return retry_.from_annotations((obj.get("metadata") or {}).get("annotations"), kube_labels.RETRY)


def _annotation_count(pod: Mapping[str, Any], key: str) -> int:
    raw = ((pod.get("metadata") or {}).get("annotations") or {}).get(key)
    try:
        return max(0, int(raw)) if raw is not None else 0
    except ValueError:
        return 0


def earlier_attempts(pod: Mapping[str, Any]) -> tuple[int, int]:
    """(failed, disrupted) attempts before this pod, as the Job controller counted them on it."""
    return (
        _annotation_count(pod, kube_labels.JOB_INDEX_FAILURES),
        _annotation_count(pod, kube_labels.JOB_INDEX_IGNORED_FAILURES),
    )


def _terminated(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    for container in _statuses(pod):
        terminated = (container.get("state") or {}).get("terminated") or {}
        if terminated:
            return terminated
    return {}


def attempt_of(pod: Mapping[str, Any], number: int = 0) -> record_.Attempt:
    """How one pod's attempt stands or ended."""
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    phase = status.get("phase") or "Pending"
    terminated = _terminated(pod)
    code = terminated.get("exitCode")
    base = record_.Attempt(
        number=number,
        outcome=record_.ATTEMPT_PENDING,
        pod=str(meta.get("name") or ""),
        node=str((pod.get("spec") or {}).get("nodeName") or ""),
        started=str(meta.get("creationTimestamp") or ""),
        finished=str(terminated.get("finishedAt") or meta.get("deletionTimestamp") or ""),
        exit_code=code if isinstance(code, int) and not isinstance(code, bool) else None,
    )
    condition = _condition(pod, "DisruptionTarget")
    if condition and condition.get("status") == "True" and phase != "Succeeded":
        return dataclasses.replace(
            base,
            outcome=record_.ATTEMPT_DISRUPTED,
            finished=base.finished or str(condition.get("lastTransitionTime") or ""),
            reason=str(condition.get("reason") or ""),
            message=disruption(pod),
        )
    if phase == "Succeeded":
        return dataclasses.replace(base, outcome=record_.ATTEMPT_SUCCEEDED)
    if phase == "Failed" or meta.get("deletionTimestamp"):
        error = outcome_of([pod]).error
        reason = str(terminated.get("reason") or status.get("reason") or "")
        if phase != "Failed" or (meta.get("deletionTimestamp") and not error):
            # deleted by someone (an abort, kubectl delete): the pod did not fail on its own
            return dataclasses.replace(
                base, outcome=record_.ATTEMPT_STOPPED, reason=reason, message=f"pod {base.pod} was deleted"
            )
        message = error or failure_reason([pod])
        return dataclasses.replace(base, outcome=record_.ATTEMPT_FAILED, reason=reason, message=message)
    if phase == "Running":
        return dataclasses.replace(base, outcome=record_.ATTEMPT_RUNNING, finished="")
    return dataclasses.replace(base, finished="")


def attempt_annotation(pod: Mapping[str, Any], stopped_by: str = "") -> tuple[str, str]:
    """(key, value) that keeps a pod's attempt on its run object once the pod may be gone.

    The value holds the attempt and the Job controller's count of the attempts
    before it (``earlier``), so the record still knows them once every pod is
    gone. ``stopped_by`` says why a pod still going is being stopped (an
    abort's status text).
    """
    meta = pod.get("metadata") or {}
    attempt = attempt_of(pod)
    if stopped_by and attempt.outcome not in record_.ATTEMPT_ENDED:
        attempt = dataclasses.replace(
            attempt, outcome=record_.ATTEMPT_STOPPED, finished=now().strftime("%Y-%m-%dT%H:%M:%SZ"), message=stopped_by
        )
    value = {**attempt.to_json(), "earlier": list(earlier_attempts(pod))}
    return kube_labels.ATTEMPT_PREFIX + str(meta.get("uid") or meta.get("name") or ""), json.dumps(
        value, sort_keys=True
    )


def kept_on_abort(runtime: str, pods: Iterable[Mapping[str, Any]], status_text: str) -> dict[str, str]:
    """The attempt annotations an abort writes: every attempt's pod, those still going marked stopped.

    Pods that already ended are kept too: a disrupted pod may have ended
    before anyone kept it, and the abort lets it go (its Job's finalizer
    released), so the record would lose it.
    """
    return dict(attempt_annotation(pod, status_text) for pod in pods if primary(runtime, pod))


def _kept(obj: Mapping[str, Any]) -> dict[str, tuple[record_.Attempt, tuple[int, int]]]:
    """The attempts kept on a run object by the annotation's key (the pod's uid), with their earlier counts."""
    out: dict[str, tuple[record_.Attempt, tuple[int, int]]] = {}
    for key, value in ((obj.get("metadata") or {}).get("annotations") or {}).items():
        if not key.startswith(kube_labels.ATTEMPT_PREFIX):
            continue
        try:
            data = json.loads(value)
            failed, disrupted = data.get("earlier") or (0, 0)
            out[key[len(kube_labels.ATTEMPT_PREFIX) :]] = (
                record_.Attempt.from_json(data),
                (int(failed), int(disrupted)),
            )
        except (TypeError, ValueError, AttributeError):
            continue
    return out


def recorded_attempts(obj: Mapping[str, Any]) -> dict[str, record_.Attempt]:
    """The attempts kept on a run object, by the annotation's key (the pod's uid)."""
    return {key: attempt for key, (attempt, _) in _kept(obj).items()}


def oldest_first(pods: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Pods, oldest attempt first: the Job controller's count of earlier attempts, then creation."""

    def key(pod: Mapping[str, Any]) -> tuple[int, str, str]:
        meta = pod.get("metadata") or {}
        failed, disrupted = earlier_attempts(pod)
        return failed + disrupted, str(meta.get("creationTimestamp") or ""), str(meta.get("name") or "")

    return sorted(pods, key=key)


def attempts(obj: Mapping[str, Any], pods: Iterable[Mapping[str, Any]]) -> tuple[record_.Attempt, ...]:
    """Every attempt of a run, oldest first: its pods, and those kept on its run object whose pods are gone.

    An attempt Kubernetes counted (before the newest attempt of a Job) whose
    pod is gone and that nobody kept is listed too, with what is known: that
    it failed or was disrupted.
    """
    runtime = runtime_of(obj)
    found = _kept(obj)
    for pod in pods:
        if primary(runtime, pod):
            meta = pod.get("metadata") or {}
            found[str(meta.get("uid") or meta.get("name") or "")] = (attempt_of(pod), earlier_attempts(pod))
    ordered = sorted(found.values(), key=lambda item: (sum(item[1]), item[0].started, item[0].pod))
    tries = [attempt for attempt, _ in ordered]
    if ordered:
        failed, disrupted = ordered[-1][1]
        before = tries[:-1]
        missing_failed = failed - sum(a.outcome in (record_.ATTEMPT_FAILED, record_.ATTEMPT_STOPPED) for a in before)
        missing_disrupted = disrupted - sum(a.outcome == record_.ATTEMPT_DISRUPTED for a in before)
        unseen = "its pod was gone before mlctl saw how it ended; Kubernetes counted it"
        tries = [
            *(record_.Attempt(0, record_.ATTEMPT_DISRUPTED, message=unseen) for _ in range(max(0, missing_disrupted))),
            *(record_.Attempt(0, record_.ATTEMPT_FAILED, message=unseen) for _ in range(max(0, missing_failed))),
            *tries,
        ]
    return tuple(dataclasses.replace(a, number=i) for i, a in enumerate(tries, 1))


def disruption_breach(obj: Mapping[str, Any], pods: Iterable[Mapping[str, Any]]) -> str | None:
    """The status text when a job run was disrupted more often than its bound allows (None: within it).

    Kubernetes retries a disrupted job pod without a bound (its pod failure
    policy ignores it); whoever watches the run enforces the bound.
    """
    if runtime_of(obj) != "job" or object_state(obj) in record_.TERMINAL:
        return None
    bound = retry_of(obj).max_disruptions
    disrupted = [a for a in attempts(obj, pods) if a.outcome == record_.ATTEMPT_DISRUPTED]
    if bound <= 0 or len(disrupted) <= bound:
        return None  # a bound of 0 is Kubernetes' own: the Job fails at the first disruption
    last = disrupted[-1].message or disrupted[-1].reason
    return (
        f"Run failed: disrupted {len(disrupted)} times, more than the {bound} its disruption bound allows "
        f"(--max-disruptions); last: {last}"
    )


def failure_reason(pods: Iterable[Mapping[str, Any]]) -> str:
    pods = list(pods)
    for pod in pods:
        disrupted = disruption(pod)
        if disrupted:
            return disrupted
    for pod in pods:
        for container in _statuses(pod):
            terminated = (container.get("state") or {}).get("terminated") or {}
            if terminated and terminated.get("exitCode"):
                return f"container {container.get('name')} exited with code {terminated.get('exitCode')}" + (
                    f" ({terminated['reason']})" if terminated.get("reason") else ""
                )
        reason = (pod.get("status") or {}).get("reason")
        if reason:
            return str(reason)
    return ""


def run_record(obj: Mapping[str, Any], pods: Sequence[Mapping[str, Any]], no_pod_reason: str = "") -> record_.RunRecord:
    """A cluster run's record from its run object (Job, MPIJob, SparkApplication) and pods.

    ``no_pod_reason`` is why the run's controller could not create a pod
    (its ``FailedCreate`` event), for a run that has none.
    """
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    state = annotations.get(kube_labels.STATE, "")
    status_text = annotations.get(kube_labels.STATUS_TEXT, "")
    result: dict[str, Any] = {}
    if annotations.get(kube_labels.RESULT):
        try:
            result = dict(json.loads(annotations[kube_labels.RESULT]))
        except ValueError:
            result = {}
    finished = annotations.get(kube_labels.FINISHED, "")
    traceback = annotations.get(kube_labels.TRACEBACK, "")
    tries = attempts(obj, pods)
    if not state:
        current = current_pods(obj, pods)
        state, status_text, finished = _derived_state(obj, current)
        outcome = outcome_of(current)
        result = result or outcome.result
        if outcome.error:
            # the handler's own words first; the container's exit code stays beside them
            status_text = outcome.error + (f" ({status_text})" if status_text and status_text != "failed" else "")
            traceback = traceback or outcome.traceback
        elif state == record_.FAILED and tries and tries[-1].pod not in {_name(p) for p in current}:
            status_text = tries[-1].message or status_text  # the last attempt's pod is gone: what was kept of it
        if state == record_.FAILED and len(tries) > 1:
            after = f"failed after {len(tries)} attempts"
            status_text = f"{status_text}; {after}" if status_text else after
        if state == record_.PENDING and not pods and no_pod_reason:
            status_text = f"no pod: {no_pod_reason}"
    params: dict[str, Any] = {}
    try:
        params = dict(json.loads(annotations.get(kube_labels.PARAMS) or "{}"))
    except ValueError:
        params = {}
    try:
        thresholds = dict(json.loads(annotations.get(kube_labels.THRESHOLDS) or "{}"))
    except ValueError:
        thresholds = {}
    try:
        explanation = tuple(dict(b) for b in json.loads(annotations.get(kube_labels.EXPLANATION) or "[]"))
    except (TypeError, ValueError):
        explanation = ()
    return record_.RunRecord(
        run_id=labels.get(kube_labels.RUN_ID, ""),
        function=labels.get(kube_labels.FUNCTION, ""),
        project=labels.get(kube_labels.PROJECT, ""),
        kind=labels.get(kube_labels.KIND, ""),
        where="cluster",
        namespace=meta.get("namespace", ""),
        state=state,
        status_text=status_text,
        started=meta.get("creationTimestamp", ""),
        finished=finished,
        result=result,
        params=params,
        thresholds=thresholds,
        explanation=explanation,
        traceback=traceback,
        retry=json.loads(retry_of(obj).annotation()) if kube_labels.RETRY in annotations else {},
        attempts=tries,
    )


def _name(pod: Mapping[str, Any]) -> str:
    return str((pod.get("metadata") or {}).get("name") or "")


def current_pods(obj: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The pods of the run's latest attempt: the newest attempt pod, and the pods that are not attempts (workers)."""
    runtime = runtime_of(obj)
    tries = oldest_first(p for p in pods if primary(runtime, p))
    return [p for p in pods if not primary(runtime, p) or (tries and p is tries[-1])]


# kinds whose controller makes the next attempt and says when the run has failed (a Job's, the launcher Job's)
_DECIDED_BY_CONTROLLER = ("job", "mpijob")


def _derived_state(obj: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> tuple[str, str, str]:
    status = obj.get("status") or {}
    for condition in status.get("conditions") or []:
        if condition.get("status") != "True":
            continue
        kind = condition.get("type")
        when = condition.get("lastTransitionTime", "")
        if kind in ("Complete", "Succeeded"):
            return record_.SUCCEEDED, "", when
        if kind == "Failed":
            return record_.FAILED, failure_reason(pods) or condition.get("message", "") or "failed", when
    app_state = (status.get("applicationState") or {}).get("state")  # SparkApplication
    if app_state == "COMPLETED":
        return record_.SUCCEEDED, "", status.get("terminationTime", "")
    if app_state in ("FAILED", "SUBMISSION_FAILED"):
        return record_.FAILED, (status.get("applicationState") or {}).get("errorMessage", ""), ""
    phases = [(p.get("status") or {}).get("phase") for p in pods]
    if phases and all(p == "Succeeded" for p in phases):
        return record_.SUCCEEDED, "", ""
    if "Failed" in phases:
        if runtime_of(obj) in _DECIDED_BY_CONTROLLER:
            return record_.PENDING, "", ""  # an attempt ended; whether another comes is its controller's to say
        return record_.FAILED, failure_reason(pods), ""
    if "Running" in phases:
        return record_.RUNNING, "", ""
    return record_.PENDING, "", ""
