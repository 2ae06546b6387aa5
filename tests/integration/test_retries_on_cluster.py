"""Run-level retries and disruptions on the real control plane.

The Job controller itself makes each new attempt (a per-index back-off
limit; a pod failure policy that ignores disruptions); mlctl follows every
attempt, keeps each one in the run's record, and ends a run disrupted more
often than its bound allows. Spot nodes are reclaimed as a cloud would: a
NoExecute taint, and the taint-eviction controller deletes their pods.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.testbed import Testbed
from tests.integration import support

pytest_plugins = ["tests.integration.fixtures"]

# what the bootstrap writes into the termination message when support.FAILING's handler raises
FAILED_REPORT = json.dumps(
    {"error": "ValueError: cannot greet zed", "traceback": "ValueError: cannot greet zed", "results": {}}
)
PREFER_SPOT = {
    "nodeAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {
                "weight": 100,
                "preference": {"matchExpressions": [{"key": "node-lifecycle", "operator": "In", "values": ["spot"]}]},
            }
        ]
    }
}


@pytest.fixture
def reclaim(testbed: Testbed) -> Iterator[Any]:
    """``reclaim(node)`` takes a spot node back for the rest of the test; every node taken is restored after it."""
    taken: list[str] = []

    def take(node: str) -> None:
        taken.append(node)
        testbed.reclaim_node(node)

    yield take
    for node in taken:
        testbed.restore_node(node)


def _run_id(kube: support.Kube) -> str:
    return str(
        support.wait_for(lambda: next((j.metadata.labels["mlctl.io/run-id"] for j in kube.jobs()), None), "a Job")
    )


def _nth_running_pod(kube: support.Kube, run_id: str, count: int) -> Any:
    """The run's pod once ``count`` pods of it have existed and the newest runs (older ones may be gone)."""

    def newest() -> Any:
        pods = sorted(kube.pods(run_id), key=lambda p: p.metadata.creation_timestamp)
        attempt = pods[-1] if pods else None
        earlier = (attempt.metadata.annotations or {}).get("batch.kubernetes.io/job-index-ignored-failure-count", "0")
        if attempt and attempt.status.phase == "Running" and int(earlier) + 1 >= count:
            return attempt
        return None

    return support.wait_for(newest, f"attempt {count} of run {run_id} to run", timeout=60)


@pytest.mark.usefixtures("spot_profile")
def test_a_run_whose_spot_node_is_reclaimed_completes_on_its_second_attempt_with_both_in_the_record(
    spawn: support.Spawner, mlctl: support.Mlctl, kube: support.Kube, reclaim: Any, tmp_path: Path
) -> None:
    spec = support.job_spec(tmp_path, code=support.HANDLER, annotations={"mlctl.test/run-duration": "15s"})
    attached = spawn("run", str(spec), "--preemption-mode", "constrain", "-o", "json", "--timeout", "150s")
    run_id = _run_id(kube)
    first = kube.running_pod(run_id)
    assert first.spec.node_name in support.SPOT_NODES

    reclaim(first.spec.node_name)
    result = attached.wait(timeout=180)

    assert result.code == 0, result
    record = result.json()
    assert record["state"] == "completed"
    disrupted, succeeded = record["attempts"]
    assert (disrupted["number"], disrupted["outcome"], disrupted["reason"]) == (
        1,
        "disrupted",
        "DeletionByTaintManager",
    )
    assert (disrupted["pod"], disrupted["node"]) == (first.metadata.name, first.spec.node_name)
    assert disrupted["message"].startswith(f"pod {first.metadata.name} deleted by the node's taint manager")
    assert (succeeded["number"], succeeded["outcome"], succeeded["exit_code"]) == (2, "succeeded", 0)
    # constrain: the second attempt may only use spot, and the reclaimed node is taken
    assert succeeded["node"] in support.SPOT_NODES - {first.spec.node_name}
    assert "attempt 2" in result.stderr and "disrupted: pod" in result.stderr
    # the disrupted pod is gone; the record keeps its attempt, under the same run id
    assert first.metadata.name not in {p.metadata.name for p in kube.pods(run_id)}
    kept = mlctl("runs", "get", run_id, "-o", "json")
    assert kept.code == 0, kept
    assert [(a["outcome"], a["pod"]) for a in kept.json()["attempts"]] == [
        ("disrupted", first.metadata.name),
        ("succeeded", succeeded["pod"]),
    ]
    listed = [r for r in mlctl("runs", "list", "-o", "json").json() if r["run_id"] == run_id]
    assert [r["state"] for r in listed] == ["completed"]


def test_a_handler_failing_every_time_with_retry_1_ends_with_exit_5_after_two_attempts(
    mlctl: support.Mlctl, kube: support.Kube, tmp_path: Path
) -> None:
    spec = support.failing_spec(tmp_path, **{"mlctl.test/termination-message": FAILED_REPORT})

    result = mlctl("run", str(spec), "--retry", "1", "--retry-backoff", "2s", "-o", "json", "--timeout", "120s")

    assert result.code == 5, result
    record = result.json()
    assert record["state"] == "error"
    assert [(a["number"], a["outcome"], a["exit_code"], a["message"]) for a in record["attempts"]] == [
        (1, "failed", 1, "ValueError: cannot greet zed"),
        (2, "failed", 1, "ValueError: cannot greet zed"),
    ]
    assert record["status_text"].startswith("ValueError: cannot greet zed (container base exited with code 1")
    assert record["status_text"].endswith("; failed after 2 attempts")
    assert record["retry"] == {"count": 1, "backoff": "2s", "max_disruptions": 3}
    # Kubernetes made the second attempt itself, and told its pod how many failed before it
    pods = sorted(kube.pods(record["run_id"]), key=lambda p: p.metadata.creation_timestamp)
    assert [p.metadata.annotations["batch.kubernetes.io/job-index-failure-count"] for p in pods] == ["0", "1"]
    job = kube.job_of(record["run_id"])
    assert (job.status.failed, job.spec.backoff_limit_per_index) == (2, 1)


def test_an_evicted_run_with_no_disruption_allowed_fails_and_says_it_was_evicted(
    spawn: support.Spawner, kube: support.Kube, tmp_path: Path
) -> None:
    spec = support.job_spec(tmp_path, code=support.HANDLER, annotations=support.long_running())
    attached = spawn("run", str(spec), "--max-disruptions", "0", "-o", "json", "--timeout", "60s", label="evicted")
    run_id = _run_id(kube)
    pod = kube.running_pod(run_id)

    kube.core.create_namespaced_pod_eviction(
        pod.metadata.name,
        kube.namespace,
        {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod.metadata.name}},
    )
    result = attached.wait(timeout=90)

    assert result.code == 5, result
    record = result.json()
    assert record["state"] == "error"
    assert record["status_text"].startswith(f"pod {pod.metadata.name} evicted on node {pod.spec.node_name}"), record
    assert [(a["outcome"], a["reason"]) for a in record["attempts"]] == [("disrupted", "EvictionByEvictionAPI")]
    job = kube.job_of(run_id)
    assert {c.type: c.reason for c in job.status.conditions or []}.get("Failed") == "PodFailurePolicy"


@pytest.mark.usefixtures("spot_profile")
def test_a_run_disrupted_more_often_than_its_bound_allows_is_failed_by_the_watcher(
    spawn: support.Spawner, kube: support.Kube, reclaim: Any, tmp_path: Path
) -> None:
    spec = support.job_spec(tmp_path, code=support.HANDLER, annotations=support.long_running())
    attached = spawn(
        "run", str(spec), "--preemption-mode", "constrain", "--max-disruptions", "1", "-o", "json", "--timeout", "150s"
    )
    run_id = _run_id(kube)
    first = kube.running_pod(run_id)
    reclaim(first.spec.node_name)
    second = _nth_running_pod(kube, run_id, 2)  # one disruption is within the bound: Kubernetes made another
    assert second.spec.node_name in support.SPOT_NODES - {first.spec.node_name}

    reclaim(second.spec.node_name)
    result = attached.wait(timeout=120)

    assert result.code == 5, result
    record = result.json()
    assert record["state"] == "error"
    assert record["status_text"].startswith("Run failed: disrupted 2 times, more than the 1 its disruption bound")
    job = kube.job_of(run_id)
    assert [a["outcome"] for a in record["attempts"]] == ["disrupted", "disrupted"], (record, job.metadata.annotations)
    assert job.spec.suspend is True  # no third attempt


@pytest.mark.usefixtures("spot_profile")
def test_allow_lets_the_retried_attempt_land_on_an_on_demand_node_when_spot_is_gone(
    spawn: support.Spawner, kube: support.Kube, reclaim: Any, tmp_path: Path
) -> None:
    spec = support.job_spec(
        tmp_path, code=support.HANDLER, affinity=PREFER_SPOT, annotations={"mlctl.test/run-duration": "15s"}
    )
    attached = spawn("run", str(spec), "--preemption-mode", "allow", "-o", "json", "--timeout", "150s")
    run_id = _run_id(kube)
    first = kube.running_pod(run_id)
    assert first.spec.node_name in support.SPOT_NODES  # the spot preference won while spot was there

    for node in [*sorted(support.SPOT_NODES - {first.spec.node_name}), first.spec.node_name]:
        reclaim(node)
    result = attached.wait(timeout=180)

    assert result.code == 0, result
    first_try, second_try = result.json()["attempts"]
    assert first_try["outcome"] == "disrupted"
    assert second_try["outcome"] == "succeeded"
    assert second_try["node"] not in support.SPOT_NODES


@pytest.mark.usefixtures("spot_profile")
def test_constrain_keeps_the_retried_attempt_waiting_for_spot_and_its_own_pending_time_is_measured(
    spawn: support.Spawner, kube: support.Kube, reclaim: Any, tmp_path: Path
) -> None:
    spec = support.job_spec(tmp_path, code=support.HANDLER, annotations={"mlctl.test/run-duration": "20s"})
    attached = spawn(
        "run",
        str(spec),
        "--preemption-mode",
        "constrain",
        "--threshold",
        "pending_not_scheduled=5s",
        "-o",
        "json",
        "--timeout",
        "150s",
    )
    run_id = _run_id(kube)
    first = kube.running_pod(run_id)

    for node in [*sorted(support.SPOT_NODES - {first.spec.node_name}), first.spec.node_name]:
        reclaim(node)
    result = attached.wait(timeout=180)

    assert result.code == 6, result
    record = result.json()
    disrupted, waiting = record["attempts"]
    assert disrupted["outcome"] == "disrupted"
    # the second attempt waited for a spot node, and its own time in that state was what the threshold measured
    # (the time between the attempts is the Job controller's back-off, not a wait for a node)
    assert (waiting["outcome"], waiting["node"]) == ("stopped", "")
    waited = support.ABORT_TEXT.match(record["status_text"])
    assert waited and waited.group("state") == "pending_not_scheduled", record
    assert "no pod" not in record["status_text"]
    assert waiting["message"] == record["status_text"]
