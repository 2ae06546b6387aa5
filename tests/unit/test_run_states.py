"""Where a cluster run stands, read from its objects: runs without pods, handler errors, disruptions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mlctl import payloads
from mlctl.kube import labels
from mlctl.runs import states
from mlctl.runs.cluster import monitor

CREATED = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
QUOTA = 'Error creating: pods "trainer-1a2b-x" is forbidden: exceeded quota: tiny, requested: pods=1'


def stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def job(run_id: str = "1a2b", limit: str = "5s", conditions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": f"trainer-{run_id}",
            "namespace": "ns",
            "uid": f"uid-{run_id}",
            "creationTimestamp": stamp(CREATED),
            "labels": {labels.RUN_ID: run_id, "mlctl.io/kind": "job"},
            "annotations": {labels.THRESHOLDS: json.dumps({"pending_not_scheduled": limit})},
        },
        "status": {"conditions": conditions or []},
    }


def pod(run_id: str = "1a2b", phase: str = "Running", **status: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"trainer-{run_id}-x",
            "namespace": "ns",
            "uid": f"pod-{run_id}",
            "creationTimestamp": stamp(CREATED),
            "labels": {labels.RUN_ID: run_id},
        },
        "spec": {"nodeName": "cpu-1"},
        "status": {"phase": phase, **status},
    }


def failed_condition() -> dict[str, Any]:
    return {"type": "Failed", "status": "True", "message": "Job has reached the specified backoff limit"}


def test_a_run_without_a_pod_breaches_pending_not_scheduled_from_its_objects_creation() -> None:
    obj = job(limit="5s")

    assert states.no_pod_deadline(obj) == CREATED + timedelta(seconds=5)
    assert states.no_pod_breach(obj, CREATED + timedelta(seconds=4)) is None
    text = states.no_pod_breach(obj, CREATED + timedelta(seconds=6))
    assert text is not None and "pending_not_scheduled" in text


def test_a_finished_run_without_pods_never_breaches() -> None:
    obj = job(limit="5s", conditions=[failed_condition()])

    assert states.no_pod_deadline(obj) is None
    assert states.no_pod_breach(obj, CREATED + timedelta(hours=1)) is None


def test_the_tracker_aborts_a_podless_run_only_once_the_pods_are_known() -> None:
    tracker = monitor.Tracker()
    tracker.reset_objects("Job", [job()])
    late = CREATED + timedelta(seconds=10)

    assert tracker.breaches(late) == []  # pods not listed yet: the run may well have one
    tracker.reset([])
    assert tracker.next_deadline() == CREATED + timedelta(seconds=5)
    [(run_id, namespace, text)] = tracker.breaches(late)
    assert (run_id, namespace) == ("1a2b", "ns")
    assert text.startswith("Run aborted due to exceeded state threshold: pending_not_scheduled")


def test_the_tracker_leaves_a_run_with_a_pod_to_the_pods_thresholds() -> None:
    tracker = monitor.Tracker()
    tracker.reset([pod()])
    tracker.reset_objects("Job", [job()])

    assert tracker.breaches(CREATED + timedelta(seconds=10)) == []
    tracker.observe("DELETED", pod(), CREATED + timedelta(seconds=1))
    # no pod since the Job controller's back-off (10 s) after the pod went: 1 + 10 + 5
    assert [b[0] for b in tracker.breaches(CREATED + timedelta(seconds=17))] == ["1a2b"]


def test_the_reason_no_pod_exists_is_the_controllers_newest_failed_create_verbatim() -> None:
    events = [
        {"type": "Warning", "reason": "FailedCreate", "message": "older", "lastTimestamp": "2026-01-01T12:00:01Z"},
        {"type": "Warning", "reason": "FailedCreate", "message": QUOTA, "lastTimestamp": "2026-01-01T12:00:09Z"},
        {"type": "Normal", "reason": "SuccessfulCreate", "message": "x", "lastTimestamp": "2026-01-01T12:00:10Z"},
    ]

    assert states.failed_create(events) == QUOTA
    record = states.run_record(job(), [], QUOTA)
    assert record.state == "pending"
    assert record.status_text == f"no pod: {QUOTA}"


def test_a_failed_handler_is_recorded_with_its_exception_and_exit_code() -> None:
    message = {
        "error": "ValueError: cannot greet zed",
        "traceback": '  File "/opt/mlctl/code/greet.py", line 3, in handler\nValueError: cannot greet zed',
        "results": {},
    }
    failed = pod(
        phase="Failed",
        containerStatuses=[
            {
                "name": "base",
                "state": {
                    "terminated": {"exitCode": 1, "reason": "Error", "message": json.dumps(message)},
                },
            }
        ],
    )

    record = states.run_record(job(conditions=[failed_condition()]), [failed])

    assert record.state == "error"
    assert record.status_text == "ValueError: cannot greet zed (container base exited with code 1 (Error))"
    assert record.traceback.endswith("line 3, in handler\nValueError: cannot greet zed")


def test_a_preempted_pod_says_so_in_the_record() -> None:
    preempted = pod(
        phase="Failed",
        conditions=[
            {
                "type": "DisruptionTarget",
                "status": "True",
                "reason": "PreemptionByScheduler",
                "message": "ns/urgent: preempting to accommodate a higher priority pod",
            }
        ],
    )

    record = states.run_record(job(conditions=[failed_condition()]), [preempted])

    assert record.state == "error"
    assert record.status_text == (
        "pod trainer-1a2b-x preempted by the scheduler on node cpu-1: "
        "ns/urgent: preempting to accommodate a higher priority pod"
    )


def test_an_mpijob_whose_launcher_ended_is_not_over_until_its_operator_says_so() -> None:
    mpijob = {**job(), "apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob"}

    assert states.object_state(mpijob) == "pending"
    mpijob["status"] = {"conditions": [{"type": "Succeeded", "status": "True", "lastTransitionTime": "x"}]}
    assert states.object_state(mpijob) == "completed"


def test_the_bootstrap_reports_the_handlers_exception_and_its_last_traceback_lines(tmp_path: Path) -> None:
    code = tmp_path / "greet.py"
    code.write_text("def handler(name='zed'):\n    raise ValueError('cannot greet ' + name)\n")
    result = tmp_path / "result.json"
    env = {
        **os.environ,
        "MLCTL_RUN": json.dumps({"run_id": "1", "function": "greet", "handler": "handler", "code": str(code)}),
        "MLCTL_RESULT_PATH": str(result),
    }
    bootstrap = payloads.path("bootstrap.py")

    done = subprocess.run([sys.executable, str(bootstrap)], env=env, capture_output=True, text=True, check=False)

    assert done.returncode == 1
    payload = json.loads(result.read_text())
    assert payload["error"] == "ValueError: cannot greet zed"
    assert "line 2, in handler" in payload["traceback"]
    assert payload["traceback"].endswith("ValueError: cannot greet zed")


def test_a_result_too_large_for_a_termination_message_keeps_the_error(tmp_path: Path) -> None:
    from mlctl.payloads import bootstrap

    out = tmp_path / "result.json"
    bootstrap._write_result(str(out), {"error": "KeyError: 'x'", "traceback": "t", "results": {"big": "y" * 10000}})

    payload = json.loads(out.read_text())
    assert len(out.read_bytes()) <= bootstrap.RESULT_LIMIT
    assert (payload["error"], payload["traceback"], payload["truncated"]) == ("KeyError: 'x'", "t", True)
