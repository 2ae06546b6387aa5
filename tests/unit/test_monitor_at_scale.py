"""``mlctl monitor`` with many runs: paged lists, resumed watches, a deadline heap, aborts in bulk, a restart.

The monitor talks to ``api_standin.StandIn`` through mlctl's own client
(its transport's pool is the stand-in): every request is one mlctl sends.
"""

from __future__ import annotations

import json
import queue
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from mlctl import errors
from mlctl.cluster import client, kubeconfig, transport
from mlctl.kube import labels
from mlctl.runs import states
from mlctl.runs.cluster import gather, monitor
from tests.unit.api_standin import StandIn

NOW = states.now()
AT_ONCE = 32  # aborts a monitor has in flight together
STARTED = NOW - timedelta(minutes=10)


def stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def run(
    namespace: str, run_id: str, limit: str = "1m", started: datetime = STARTED, runtime: str = "job"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A run's object (a Job, or a SparkApplication) and its running pod (the driver's), started ``started``,
    aborted once it has run for ``limit``."""
    thresholds = json.dumps({"executing": limit})
    run_labels = {labels.RUN_ID: run_id, labels.KIND: runtime}
    template = {"containers": [{"name": "main", "image": "python:3.11-slim", "env": [{"name": "X", "value": "y"}]}]}
    obj: dict[str, Any] = {
        "metadata": {
            "name": f"train-{run_id}",
            "namespace": namespace,
            "uid": f"run-{run_id}",
            "creationTimestamp": stamp(started),
            "labels": run_labels,
            "annotations": {labels.THRESHOLDS: thresholds},
        },
        "spec": {"suspend": False, "template": {"metadata": {"labels": run_labels}, "spec": template}},
        "status": {"active": 1},
    }
    pod_labels = dict(run_labels)
    if runtime == "spark":
        obj["spec"] = {"type": "Python", "driver": {"labels": run_labels}, "executor": {"instances": 1}}
        obj["status"] = {"applicationState": {"state": "RUNNING"}}
        pod_labels["spark-role"] = "driver"
    pod = {
        "metadata": {
            "name": f"train-{run_id}-0-abcde",
            "namespace": namespace,
            "uid": f"pod-{run_id}",
            "creationTimestamp": stamp(started),
            "labels": pod_labels,
            "annotations": {labels.THRESHOLDS: thresholds, labels.PARAMS: json.dumps({"p": "x" * 2000})},
            "finalizers": [labels.JOB_TRACKING_FINALIZER] if runtime == "job" else [],
            "managedFields": [{"manager": "kube-controller-manager", "fieldsV1": {"f:spec": {"f:x": {}}}}],
        },
        "spec": {"nodeName": "cpu-1", **template},
        "status": {
            "phase": "Running",
            "startTime": stamp(started),
            "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": stamp(started)}],
            "containerStatuses": [
                {"name": "main", "image": "python:3.11-slim", "state": {"running": {"startedAt": stamp(started)}}}
            ],
        },
    }
    return obj, pod


def start_runs(
    standin: StandIn, count: int, first: int = 0, limit: str = "1m", namespaces: int = 2, runtime: str = "job"
) -> list[str]:
    run_ids = []
    for index in range(first, first + count):
        run_id = f"r{index:04d}"
        obj, pod = run(f"ns-{index % namespaces}", run_id, limit, runtime=runtime)
        standin.create("jobs" if runtime == "job" else "sparkapplications", obj)
        standin.create("pods", pod)
        run_ids.append(run_id)
    return run_ids


@pytest.fixture
def standin() -> Iterator[StandIn]:
    server = StandIn()
    yield server
    server.close()


def watched(
    cluster: client.Cluster,
    until: Any,
    reported: list[str],
    clock: Any = states.now,
    seconds: float = 30.0,
) -> None:
    """``mlctl monitor --all-namespaces`` until ``until()`` (or, failing, ``seconds``)."""
    stop = threading.Event()
    timer = threading.Timer(seconds, stop.set)
    timer.start()
    try:
        monitor.watch(
            cluster,
            all_namespaces=True,
            on_abort=lambda run_id, _ns, _text: reported.append(run_id),
            done=lambda _tracker: until(),
            stop=stop,
            clock=clock,
        )
    finally:
        timer.cancel()


def aborted(standin: StandIn) -> set[str]:
    runs = standin.items("jobs") + standin.items("sparkapplications")
    return {r["metadata"]["labels"][labels.RUN_ID] for r in runs if r["metadata"]["annotations"].get(labels.STATE)}


def pods_left(standin: StandIn) -> set[str]:
    return {p["metadata"]["labels"][labels.RUN_ID] for p in standin.items("pods")}


# ----------------------------------------------------------------------- lists in pages


def test_a_list_is_read_a_page_at_a_time_following_the_servers_continue(standin: StandIn) -> None:
    start_runs(standin, 1200, namespaces=3)
    cluster, _ = standin.cluster()

    listing = cluster.pages("v1", "Pod", None, labels.RUN_ID, limit=500)
    names = [pod["metadata"]["name"] for pod in listing]

    assert len(names) == len(set(names)) == 1200
    assert listing.resource_version == str(standin.version)
    pages = [(r.query.get("limit"), bool(r.query.get("continue"))) for r in standin.lists("pods")]
    assert pages == [("500", False), ("500", True), ("500", True)]


def test_the_monitors_first_lists_come_in_pages_and_are_kept_slim(standin: StandIn) -> None:
    start_runs(standin, 1200, namespaces=3)
    cluster, _ = standin.cluster()
    feeds = [
        monitor.PodFeed(cluster, None, monitor.RUN_SELECTOR, all_namespaces=True),
        monitor.PodFeed(cluster, None, monitor.RUN_SELECTOR, all_namespaces=True, kind=("batch/v1", "Job")),
    ]

    listed = []
    for feed in feeds:
        assert feed.relist() == str(standin.version)
        listed.append(feed.events.get_nowait())

    [(pod_kind, pods), (job_kind, jobs)] = listed
    assert (pod_kind, job_kind) == ("RESET", "batch/v1 Job:RESET")
    assert len(pods) == len(jobs) == 1200
    for plural in ("pods", "jobs"):
        assert {r.query.get("limit") for r in standin.lists(plural)} == {"500"}
        assert len(standin.lists(plural)) == 3
    assert pods[0]["spec"] == {"nodeName": "cpu-1"}  # no containers, no environment
    assert "managedFields" not in pods[0]["metadata"]
    assert labels.PARAMS not in pods[0]["metadata"]["annotations"]
    assert "spec" not in jobs[0]


def test_the_monitor_keeps_of_a_pod_what_its_thresholds_and_record_read() -> None:
    _, pod = run("ns", "r1")
    tracker = monitor.Tracker()

    tracker.observe("ADDED", pod)

    [kept] = tracker.pods.values()
    assert kept["spec"] == {"nodeName": "cpu-1"}
    assert set(kept["metadata"]) >= {"name", "namespace", "uid", "labels", "finalizers", "creationTimestamp"}
    assert "managedFields" not in kept["metadata"]
    assert kept["metadata"]["annotations"] == {labels.THRESHOLDS: pod["metadata"]["annotations"][labels.THRESHOLDS]}
    assert kept["status"]["containerStatuses"] == [{"name": "main", "state": pod_state(pod)}]
    assert states.deadline(kept) == states.deadline(pod) == STARTED.replace(microsecond=0) + timedelta(minutes=1)
    assert kept["status"]["conditions"] == pod["status"]["conditions"]  # the one whose time "pending" counts from
    disrupted = {**pod, "status": {**pod["status"], "conditions": [*pod["status"]["conditions"], DISRUPTED]}}
    tracker.observe("MODIFIED", disrupted)
    [kept] = tracker.pods.values()
    for read in (states.classify, states.attempt_of, states.disruption):
        assert read(kept) == read(disrupted)  # type: ignore[operator]
    assert states.disruption(kept).startswith("pod train-r1-0-abcde preempted by the scheduler on node cpu-1")


DISRUPTED = {
    "type": "DisruptionTarget",
    "status": "True",
    "reason": "PreemptionByScheduler",
    "message": "Preempted in order to admit critical pod",
    "lastTransitionTime": stamp(NOW),
    "observedGeneration": 1,
}


def pod_state(pod: dict[str, Any]) -> Any:
    return pod["status"]["containerStatuses"][0]["state"]


# ----------------------------------------------------------------------- watches


def limit(text: str) -> dict[str, Any]:
    """A change of a pod: its limit on running."""
    return {"metadata": {"annotations": {labels.THRESHOLDS: json.dumps({"executing": text})}}}


def next_event(feed: monitor.PodFeed) -> tuple[str, Any]:
    try:
        return feed.events.get(timeout=10)
    except queue.Empty:
        pytest.fail("no event from the feed within 10 s")


def test_a_watch_resumes_from_the_last_version_seen_and_lists_again_only_when_that_is_gone(
    standin: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(monitor, "RETRY_PAUSE", 0.01, raising=False)
    start_runs(standin, 3, namespaces=1)
    standin.watch_faults = ["drop", "error"]  # the first watch's connection drops, the second ends with a 500
    cluster, _ = standin.cluster()
    feed = monitor.PodFeed(cluster, None, monitor.RUN_SELECTOR, all_namespaces=True)
    feed.start()
    try:
        assert next_event(feed)[0] == "RESET"
        seen = []
        for run_id in ("r0000", "r0001", "r0002"):
            standin.update("pods", "ns-0", f"train-{run_id}-0-abcde", limit("2h"))
            kind, pod = next_event(feed)
            seen.append((kind, "" if kind == "RESET" else pod["metadata"]["labels"][labels.RUN_ID]))

        assert seen == [("MODIFIED", "r0000"), ("MODIFIED", "r0001"), ("MODIFIED", "r0002")]
        assert len(standin.lists("pods")) == 1  # neither the drop nor the error made it list again
        starts = [int(r.query["resourceVersion"]) for r in standin.watches("pods")]
        assert starts == sorted(starts) and len(starts) >= 3  # each watch from where the last one was

        standin.forget_changes()  # the server no longer has the version the next watch asks for: 410 Gone
        kind, pods = next_event(feed)
        assert (kind, len(pods)) == ("RESET", 3)
        assert len(standin.lists("pods")) == 2
        standin.update("pods", "ns-0", "train-r0001-0-abcde", limit("3h"))
        kind, pod = next_event(feed)
        assert (kind, pod["metadata"]["annotations"]) == ("MODIFIED", limit("3h")["metadata"]["annotations"])
    finally:
        feed.stop()


# ----------------------------------------------------------------------- the deadline heap


def test_runs_past_their_limits_come_earliest_first_and_a_changed_pod_by_its_new_deadline() -> None:
    tracker = monitor.Tracker()
    pods = []
    for index in range(20):  # the later a run is added, the earlier it started
        _, pod = run("ns", f"r{index:02d}", "1m", started=STARTED - timedelta(seconds=index))
        tracker.observe("ADDED", pod)
        pods.append(pod)

    due = [run_id for run_id, _, _ in tracker.breaches(NOW)]

    assert due == [f"r{index:02d}" for index in reversed(range(20))]
    assert tracker.next_deadline() == STARTED.replace(microsecond=0) - timedelta(seconds=19) + timedelta(minutes=1)
    tracker.observe("MODIFIED", {**pods[19], "status": {"phase": "Pending"}, "spec": {}})  # no limit on that
    assert [run_id for run_id, _, _ in tracker.breaches(NOW)] == due[1:]


def test_a_tick_with_nothing_due_reads_no_run(monkeypatch: pytest.MonkeyPatch) -> None:
    tracker = monitor.Tracker()
    for index in range(3000):
        _, pod = run("ns", f"r{index:04d}", "1h")
        tracker.observe("ADDED", pod)
    reads = Counter[str]()
    run_of = monitor._run_of
    monkeypatch.setattr(monitor, "_run_of", lambda obj: reads.update(["run"]) or run_of(obj))

    upcoming = tracker.next_deadline()
    due = tracker.breaches(NOW)

    assert (upcoming, due) == (STARTED.replace(microsecond=0) + timedelta(hours=1), [])
    assert reads["run"] <= 2  # the heap's top, not the 3000 runs


# ----------------------------------------------------------------------- aborts in bulk, a restart


def test_a_hundred_runs_past_their_limits_together_are_aborted_many_at_once_each_once(standin: StandIn) -> None:
    due = start_runs(standin, 100)
    live = start_runs(standin, 20, first=100, limit="1h")
    standin.gate_size, standin.gate_expected = AT_ONCE, 100
    cluster, _ = standin.cluster()
    reported: list[str] = []

    watched(cluster, lambda: len(reported) == 100, reported)

    assert sorted(reported) == due
    assert aborted(standin) == set(due)
    assert standin.record_patches == {f"train-{run_id}": 1 for run_id in due}
    assert standin.most_at_gate == AT_ONCE  # as many in flight as the monitor allows, no more
    assert pods_left(standin) == set(live)  # the aborted runs' pods deleted and released
    # what the aborts read, they read a namespace at a time (two namespaces here), not a run at a time
    for plural in ("jobs", "pods", "events", "resourcequotas", "persistentvolumeclaims"):
        namespaced = [r for r in standin.lists(plural) if r.namespace]
        assert sorted({r.namespace for r in namespaced}) == ["ns-0", "ns-1"], plural
        assert len(namespaced) == 2, plural


def test_the_connection_pool_keeps_room_for_the_aborts_in_flight(monkeypatch: pytest.MonkeyPatch) -> None:
    sizes: list[int] = []
    monkeypatch.setattr(kubeconfig, "load", lambda _path, _context: kubeconfig.Target(server="https://k"))
    monkeypatch.setattr(transport, "open_target", lambda _target, size: sizes.append(size))

    client.connect()

    assert sizes == [2 * AT_ONCE]  # each abort's reads go out several at a time


def test_a_monitor_killed_half_way_through_a_hundred_aborts_is_caught_up_by_the_next_each_run_aborted_once(
    standin: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(monitor, "RETRY_PAUSE", 0.01, raising=False)
    # Spark runs: nothing suspends their application, an abort deletes their pods itself
    due = start_runs(standin, 100, runtime="spark")
    first, connection = standin.cluster(timeout=0.5)
    connection.die_after_aborts = 50  # its connection goes right after the 50th abort is recorded
    by_first: list[str] = []

    with pytest.raises(errors.Unreachable):
        watched(first, lambda: False, by_first)

    after_first = aborted(standin)
    assert len(after_first) == 50
    assert pods_left(standin) & after_first  # one was recorded, but its pods were still there
    second, _ = standin.cluster()
    by_second: list[str] = []
    later = lambda: states.now() + timedelta(minutes=1)  # noqa: E731 - past the time an abort has to end its pods

    watched(second, lambda: aborted(standin) == set(due) and not pods_left(standin), by_second, clock=later)

    assert aborted(standin) == set(due)
    assert standin.record_patches == {f"train-{run_id}": 1 for run_id in due}  # each record written once
    assert pods_left(standin) == set()  # the pods the first left behind too
    assert set(by_first) <= after_first
    assert sorted(by_second) == sorted(set(due) - after_first)  # each abort said once, by the one that made it


def test_runs_explained_together_read_their_namespaces_events_once_and_each_keeps_its_own(standin: StandIn) -> None:
    run_ids = start_runs(standin, 8, namespaces=1)
    for run_id in run_ids[:2]:
        pod = f"train-{run_id}-0-abcde"
        standin.create(
            "events",
            {
                "metadata": {"name": f"{pod}.17a", "namespace": "ns-0"},
                "involvedObject": {"kind": "Pod", "name": pod, "namespace": "ns-0"},
                "type": "Warning",
                "reason": "Unhealthy",
                "message": f"probe of {run_id} failed",
                "lastTimestamp": stamp(NOW),
            },
        )
    cluster, _ = standin.cluster()
    shared = gather.Shared(cluster, [(run_id, "ns-0") for run_id in run_ids])

    said = {}
    for run_id in run_ids:
        (obj, _), pods = shared.subjects(run_id, "ns-0")
        said[run_id] = json.loads(gather.for_record(cluster, run_id, "ns-0", seen=(obj, pods), shared=shared))

    assert [b["message"] for b in said["r0000"]] == ["Unhealthy: probe of r0000 failed"]
    assert [b["message"] for b in said["r0001"]] == ["Unhealthy: probe of r0001 failed"]
    assert all(said[run_id] == [] for run_id in run_ids[2:])
    assert [len(standin.lists(plural)) for plural in ("events", "jobs", "pods")] == [1, 1, 1]
