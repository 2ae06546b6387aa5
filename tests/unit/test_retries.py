"""Run-level retries: the task file, the flags, each attempt in the record, the disruption bound, the backoff."""

from __future__ import annotations

import base64
import importlib.util
import json
import sqlite3
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from mlctl import config as config_
from mlctl import errors, payloads
from mlctl.errors import InvalidInput
from mlctl.kube import labels
from mlctl.local import runner
from mlctl.pipeline import run as run_
from mlctl.runs import local_store, states
from mlctl.runs import record as record_
from mlctl.runs.cluster import monitor
from mlctl.spec import loader, task
from mlctl.spec import overrides as overrides_
from mlctl.spec import retry as retry_
from tests.unit.support import Cli

CONFIG = config_.resolve({}, [])
CREATED = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
# what mlrun.new_task(name="train", params={"a": 1}, retry={"count": 3, "backoff": {"base_delay": "1m"}})
# with task.spec.state_thresholds = {"executing": "1h"} writes with to_yaml()
MLRUN_TASK = """\
spec:
  retry:
    backoff:
      base_delay: 1m
    count: 3
  state_thresholds:
    executing: 1h
  parameters:
    a: 1
metadata:
  iteration: 0
  name: train
"""


def stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def load_task(text: str, validation: str = "warn") -> task.Task:
    config = config_.with_value(CONFIG, "validation", validation, "--validate")
    return task.read(loader.load_text(textwrap.dedent(text), "task.yaml"), config)


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "state"
    monkeypatch.setenv(local_store.STATE_DIR_ENV, str(folder))
    return folder


# ------------------------------------------------------------------ the task file and the flags


def test_a_task_as_mlrun_exports_it_gives_the_runs_parameters_retry_and_thresholds() -> None:
    loaded = load_task(MLRUN_TASK)

    assert loaded.params == {"a": 1}
    assert loaded.retry == retry_.Retry(count=3, backoff="1m")
    assert loaded.retry.backoff_seconds == 60
    assert loaded.thresholds == {"executing": "1h"}
    assert loaded.warnings == ()


def test_a_task_without_a_count_asks_for_no_retry_and_a_count_without_backoff_waits_mlruns_default() -> None:
    assert load_task("spec: {parameters: {a: 1}}").retry.count is None
    assert load_task("spec: {retry: {}}").retry.count is None
    asked = load_task("spec: {retry: {count: 2}}").retry
    assert (asked.count, asked.backoff, asked.backoff_seconds) == (2, "30s", 30)


def test_every_problem_of_a_task_file_is_reported_at_once_where_it_is() -> None:
    text = """\
    spec:
      retyr: {count: 1}
      retry:
        count: -1
        backoff: {base_delay: soon}
      state_thresholds:
        runing: 1h
    """
    with pytest.raises(InvalidInput) as raised:
        load_task(text)

    found = [(p.line, p.path, p.message, p.hint) for p in raised.value.problems]
    assert found[0][:3] == (2, "spec.retyr", "unknown key 'retyr'") and found[0][3] == "did you mean 'retry'?"
    assert found[1][:2] == (4, "spec.retry.count") and "minimum" in found[1][2]
    assert found[2][:2] == (5, "spec.retry.backoff.base_delay") and "not a valid time string" in found[2][2]
    assert found[3][:3] == (7, "spec.state_thresholds.runing", "unknown state 'runing'")


def test_unknown_task_keys_follow_the_validation_level_and_unused_mlrun_keys_are_said() -> None:
    text = "spec: {parameters: {a: 1}, inputs: {data: 's3://bucket/x'}, newer_mlrun_key: 1}\n"

    warned = load_task(text)
    assert [(p.path, p.severity) for p in warned.warnings] == [
        ("spec.inputs", "warning"),
        ("spec.newer_mlrun_key", "warning"),
    ]
    assert "not used by mlctl" in warned.warnings[0].message
    with pytest.raises(InvalidInput) as raised:
        load_task(text, "strict")
    assert [p.path for p in raised.value.problems if p.severity == "error"] == ["spec.newer_mlrun_key"]


def test_flags_win_over_the_task_file_key_by_key(tmp_path: Path) -> None:
    path = tmp_path / "task.yaml"
    path.write_text(MLRUN_TASK.replace("    a: 1\n", "    a: 1\n    b: 2\n"), encoding="utf-8")
    flags = overrides_.Overrides(thresholds={"pending_scheduled": "5m"})

    asked = run_.request(CONFIG, {"b": 3}, flags, task_file=str(path), retry=1, max_disruptions=0)

    assert asked.params == {"a": 1, "b": 3}
    assert asked.overrides.thresholds == {"executing": "1h", "pending_scheduled": "5m"}
    assert asked.retry == retry_.Retry(count=1, backoff="1m", max_disruptions=0)
    assert run_.request(CONFIG, {}, flags, task_file=str(path), backoff="0").retry.backoff_seconds == 0


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--retry", "-1"], "--retry: -1 is not a retry count"),
        (["--retry-backoff", "soon"], "--retry-backoff: 'soon' is not a valid time string"),
        (["--retry-backoff", "-1"], "--retry-backoff: '-1' is not a wait"),
        (["--max-disruptions", "-2"], "--max-disruptions: -2 is not a bound"),
    ],
)
def test_retry_flags_that_make_no_sense_are_refused(cli: Cli, tmp_path: Path, flags: list[str], message: str) -> None:
    spec = tmp_path / "f.yaml"
    spec.write_text("kind: job\nmetadata: {name: f}\nspec: {image: python:3.11, command: 'true'}\n", encoding="utf-8")

    result = cli("run", "--local", spec, *flags)

    assert result.code == 3, result.err
    assert message in result.err


# ------------------------------------------------------------------ attempts, read from the cluster


def job(*, conditions: list[dict[str, Any]] | None = None, retry: str = "", **annotations: str) -> dict[str, Any]:
    meta_annotations = {labels.THRESHOLDS: json.dumps({"pending_not_scheduled": "5s"}), **annotations}
    if retry:
        meta_annotations[labels.RETRY] = retry
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "trainer-1a2b",
            "namespace": "ns",
            "uid": "job-uid",
            "creationTimestamp": stamp(CREATED),
            "labels": {labels.RUN_ID: "1a2b", labels.KIND: "job"},
            "annotations": meta_annotations,
        },
        "status": {"conditions": conditions or []},
    }


def pod(
    name: str,
    phase: str,
    created: int,
    *,
    failed: int = 0,
    disrupted: int = 0,
    disruption: str = "",
    exit_code: int | None = None,
    error: str = "",
) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase, "conditions": []}
    if disruption:
        status["conditions"].append(
            {"type": "DisruptionTarget", "status": "True", "reason": disruption, "message": "Taint manager: deleting"}
        )
    if exit_code is not None:
        terminated: dict[str, Any] = {"exitCode": exit_code, "reason": "Error", "finishedAt": stamp(CREATED)}
        if error:
            terminated["message"] = json.dumps({"error": error, "traceback": "", "results": {}})
        status["containerStatuses"] = [{"name": "base", "state": {"terminated": terminated}}]
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": f"uid-{name}",
            "creationTimestamp": stamp(CREATED + timedelta(seconds=created)),
            "labels": {labels.RUN_ID: "1a2b", labels.KIND: "job"},
            "annotations": {labels.JOB_INDEX_FAILURES: str(failed), labels.JOB_INDEX_IGNORED_FAILURES: str(disrupted)},
        },
        "spec": {"nodeName": "spot-1"},
        "status": status,
    }


FAILED_JOB = [{"type": "Failed", "status": "True", "message": "Job has failed indexes"}]


def test_each_pod_of_a_job_run_is_an_attempt_that_says_how_it_ended() -> None:
    pods = [
        pod("t-0-ccc", "Running", 60, failed=1, disrupted=1),
        pod("t-0-aaa", "Failed", 0, disruption="DeletionByTaintManager", exit_code=143),
        pod("t-0-bbb", "Failed", 30, disrupted=1, exit_code=1, error="ValueError: bad input"),
    ]

    tries = states.attempts(job(), pods)

    assert [(a.number, a.pod, a.outcome) for a in tries] == [
        (1, "t-0-aaa", "disrupted"),
        (2, "t-0-bbb", "failed"),
        (3, "t-0-ccc", "running"),
    ]
    assert tries[0].reason == "DeletionByTaintManager"
    assert tries[0].message.startswith("pod t-0-aaa deleted by the node's taint manager (node taint) on node spot-1")
    assert (tries[1].exit_code, tries[1].message) == (1, "ValueError: bad input")
    record = states.run_record(job(), pods)
    assert record.state == "running"  # an earlier attempt failed; the run goes on
    assert [a["outcome"] for a in record.to_json()["attempts"]] == ["disrupted", "failed", "running"]


def test_a_job_run_whose_last_attempt_ended_is_not_failed_until_its_job_says_so() -> None:
    disrupted = pod("t-0-aaa", "Failed", 0, disruption="DeletionByTaintManager", exit_code=143)
    failed = pod("t-0-bbb", "Failed", 30, disrupted=1, exit_code=1, error="ValueError: bad input")

    # between two attempts: the Job controller makes the next, or fails the Job
    assert states.run_record(job(), [disrupted]).state == "pending"
    assert states.run_record(job(), [disrupted, failed]).state == "pending"
    assert states.run_record(job(conditions=FAILED_JOB), [disrupted, failed]).state == "error"


def test_a_run_that_failed_every_attempt_says_the_last_attempts_error_and_how_many_there_were() -> None:
    pods = [
        pod("t-0-aaa", "Failed", 0, exit_code=1, error="ValueError: first"),
        pod("t-0-bbb", "Failed", 30, failed=1, exit_code=1, error="ValueError: second"),
    ]

    record = states.run_record(job(conditions=FAILED_JOB), pods)

    assert record.state == "error"
    assert record.status_text.startswith("ValueError: second (container base exited with code 1 (Error))")
    assert record.status_text.endswith("; failed after 2 attempts")


def test_attempts_kept_on_the_run_object_stand_in_for_pods_that_are_gone() -> None:
    gone = pod("t-0-aaa", "Failed", 0, disruption="EvictionByEvictionAPI", exit_code=143)
    key, value = states.attempt_annotation(gone)
    done = pod("t-0-bbb", "Succeeded", 30, disrupted=1, exit_code=0)

    record = states.run_record(job(**{key: value}), [done])

    assert key == "attempt.mlctl.io/uid-t-0-aaa"
    assert [(a.number, a.pod, a.outcome, a.reason) for a in record.attempts] == [
        (1, "t-0-aaa", "disrupted", "EvictionByEvictionAPI"),
        (2, "t-0-bbb", "succeeded", ""),
    ]


def test_attempts_kubernetes_counted_whose_pods_nobody_saw_are_listed_with_what_is_known() -> None:
    newest = pod("t-0-ccc", "Running", 60, failed=1, disrupted=1)
    failed = pod("t-0-aaa", "Failed", 0, exit_code=1)

    tries = states.attempts(job(), [newest, failed])

    assert [(a.number, a.outcome, a.pod) for a in tries] == [
        (1, "disrupted", ""),
        (2, "failed", "t-0-aaa"),
        (3, "running", "t-0-ccc"),
    ]
    assert "before mlctl saw how it ended" in tries[0].message


def test_the_attempts_kubernetes_counted_stay_in_the_record_once_every_pod_is_gone() -> None:
    # the watcher came late: the first attempt's pod was gone; then the abort stopped the second one
    second = pod("t-0-bbb", "Running", 30, disrupted=1)
    key, value = states.attempt_annotation(second, stopped_by="aborted by user")

    tries = states.attempts(job(**{key: value}), [])

    assert [(a.number, a.outcome, a.pod) for a in tries] == [(1, "disrupted", ""), (2, "stopped", "t-0-bbb")]
    assert tries[1].message == "aborted by user"


def test_an_abort_keeps_every_attempt_even_one_that_ended_before_anyone_kept_it() -> None:
    # the second disruption breached the bound; its pod had already ended when the watcher aborted
    first = pod("t-0-aaa", "Failed", 0, disruption="DeletionByTaintManager", exit_code=143)
    second = pod("t-0-bbb", "Failed", 30, disrupted=1, disruption="DeletionByTaintManager", exit_code=143)
    third = pod("t-0-ccc", "Running", 60, disrupted=2)

    kept = states.kept_on_abort("job", [second, third], "Run failed: disrupted 2 times")
    first_key, first_value = states.attempt_annotation(first)

    tries = states.attempts(job(**{first_key: first_value}, **kept), [])  # every pod gone
    assert [(a.pod, a.outcome) for a in tries] == [
        ("t-0-aaa", "disrupted"),
        ("t-0-bbb", "disrupted"),
        ("t-0-ccc", "stopped"),
    ]
    assert tries[2].message == "Run failed: disrupted 2 times"


def test_a_job_run_disrupted_more_often_than_its_bound_fails_and_within_it_goes_on() -> None:
    fourth = pod("t-0-ddd", "Running", 90, disrupted=3, disruption="PreemptionByScheduler")
    bound = '{"count": 0, "backoff": "30s", "max_disruptions": 3}'

    text = states.disruption_breach(job(retry=bound), [fourth])

    assert text is not None and text.startswith("Run failed: disrupted 4 times, more than the 3 its disruption bound")
    assert "preempted by the scheduler" in text
    assert states.disruption_breach(job(retry=bound.replace(": 3", ": 4")), [fourth]) is None
    assert states.disruption_breach(job(retry=bound, conditions=FAILED_JOB), [fourth]) is None  # already over


def test_the_monitor_fails_a_run_past_its_disruption_bound_and_keeps_the_disrupted_attempts() -> None:
    tracker = monitor.Tracker()
    tracker.reset_objects("Job", [job(retry='{"count": 0, "backoff": "30s", "max_disruptions": 1}')])
    tracker.reset([pod("t-0-aaa", "Failed", 0, disruption="DeletionByTaintManager", exit_code=143)])
    assert tracker.disruption_breaches() == []

    second = pod("t-0-bbb", "Running", 30, disrupted=1)
    tracker.observe("ADDED", second)
    tracker.observe("MODIFIED", {**second, "status": {**second["status"], "conditions": [_disrupted()]}})
    [(run_id, namespace, text)] = tracker.disruption_breaches()

    assert (run_id, namespace) == ("1a2b", "ns")
    assert text.startswith("Run failed: disrupted 2 times, more than the 1")
    [(obj, kept)] = tracker.take_to_keep()
    assert obj["metadata"]["name"] == "trainer-1a2b"
    assert [p["metadata"]["name"] for p in kept] == ["t-0-aaa"]  # the running one is kept once it ends


def test_an_abort_refused_by_a_busy_run_object_is_tried_again_on_the_next_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    # the Job controller kept writing the Job's status under every conditional write of the abort
    tracker = monitor.Tracker()
    tracker.reset_objects("Job", [job(retry='{"count": 0, "backoff": "30s", "max_disruptions": 1}')])
    tracker.reset([pod("t-0-aaa", "Failed", 0, disruption="DeletionByTaintManager", exit_code=143)])
    tracker.observe("ADDED", pod("t-0-bbb", "Failed", 30, disrupted=1, disruption="DeletionByTaintManager"))
    answers: list[Any] = [errors.Conflict("changed under each try"), True]

    def abort(*args: Any, **kwargs: Any) -> bool:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return bool(answer)

    monkeypatch.setattr(monitor.control, "abort", abort)
    ended: list[str] = []
    at = datetime.now(UTC)

    aborts = monitor.Aborts(None, tracker, lambda run, ns, text: ended.append(run))  # type: ignore[arg-type]
    aborts.start(at)
    aborts.report(wait=True)
    assert ended == [] and "1a2b" not in tracker.handled  # not recorded: not yet handled
    aborts.start(at)
    aborts.close()
    assert ended == ["1a2b"] and "1a2b" in tracker.handled


def _disrupted() -> dict[str, str]:
    return {"type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager", "message": "x"}


def test_between_two_attempts_the_time_without_a_pod_counts_from_the_end_of_the_controllers_back_off() -> None:
    tracker = monitor.Tracker()
    tracker.reset_objects("Job", [job()])
    first = pod("t-0-aaa", "Running", 0)
    tracker.reset([first])

    tracker.observe("DELETED", first, CREATED + timedelta(seconds=60))  # disrupted after a minute of work

    # the Job controller makes the next pod 10 s after the first attempt ended: the run waits for no node before
    assert tracker.breaches(CREATED + timedelta(seconds=72)) == []
    [(_, _, text)] = tracker.breaches(CREATED + timedelta(seconds=76))
    assert text.startswith("Run aborted due to exceeded state threshold: pending_not_scheduled (waited 6s")
    assert states.retry_pause(job(), 3) == 40  # doubling with each ended attempt
    assert states.retry_pause(job(), 12) == 600  # up to 10 minutes


# ------------------------------------------------------------------ the backoff, in the pod's bootstrap


def _bootstrap() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bootstrap_under_test", payloads.path("bootstrap.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("failures", "disruptions", "waited"),
    [("0", "0", 0.0), ("1", "0", 45.0), ("2", "1", 45.0), ("0", "2", 0.0), ("", "", 0.0)],
)
def test_an_attempt_after_a_failure_waits_the_backoff_before_its_handler_and_after_disruptions_only_does_not(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], failures: str, disruptions: str, waited: float
) -> None:
    monkeypatch.setenv("MLCTL_ATTEMPT_FAILURES", failures)
    monkeypatch.setenv("MLCTL_ATTEMPT_DISRUPTIONS", disruptions)
    slept: list[float] = []

    assert _bootstrap()._wait_before_retry({"retry_backoff": 45}, sleep=slept.append) == waited

    assert slept == ([waited] if waited else [])
    if waited:
        attempt = int(failures) + int(disruptions) + 1
        assert f"mlctl: attempt {attempt} ({failures} failed, {disruptions} disrupted before it): waiting 45s" in (
            capsys.readouterr().err
        )


# ------------------------------------------------------------------ local runs


def _spec(tmp_path: Path, code: str) -> Path:
    encoded = base64.b64encode(textwrap.dedent(code).encode()).decode()
    document = {
        "kind": "job",
        "metadata": {"name": "flaky", "project": "demo"},
        "spec": {
            "image": "python:3.11",
            "default_handler": "handler",
            "build": {"functionSourceCode": encoded, "origin_filename": "flaky.py"},
        },
    }
    path = tmp_path / "flaky.yaml"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_a_local_run_that_fails_once_is_tried_again_and_its_record_lists_both_attempts(tmp_path: Path) -> None:
    marker = tmp_path / "tried"
    code = f"""
    from pathlib import Path
    def handler():
        marker = Path({str(marker)!r})
        if not marker.exists():
            marker.write_text("once")
            raise RuntimeError("first try fails")
        return "second try works"
    """
    from mlctl import pipeline

    fn = pipeline.load(str(_spec(tmp_path, code)), CONFIG).function
    said: list[str] = []

    record = runner.run(
        fn,
        CONFIG,
        run_id="flaky1",
        retry=retry_.Retry(count=2, backoff="0"),
        on_output=lambda _s, line: said.append(line),
    )

    assert record.state == record_.SUCCEEDED
    assert record.result == {"return": "second try works"}
    assert [(a.number, a.outcome) for a in record.attempts] == [(1, "failed"), (2, "succeeded")]
    assert record.attempts[0].message == "RuntimeError: first try fails"
    assert "mlctl: attempt 1 failed (RuntimeError: first try fails); attempt 2 of 3 in 0s" in said
    assert local_store.get("flaky1").attempts == record.attempts


def test_a_local_run_failing_every_time_ends_after_count_plus_one_attempts(cli: Cli, tmp_path: Path) -> None:
    spec = _spec(tmp_path, "def handler():\n    raise ValueError('always')\n")

    result = cli("run", "--local", spec, "--retry", "1", "--retry-backoff", "0", "-o", "json")

    assert result.code == 5, result.err
    record = json.loads(result.out)
    assert [(a["number"], a["outcome"], a["exit_code"]) for a in record["attempts"]] == [
        (1, "failed", 1),
        (2, "failed", 1),
    ]
    assert record["status_text"] == "ValueError: always; failed after 2 attempts"
    shown = cli("runs", "get", record["run_id"])
    assert "attempts:" in shown.out and shown.out.count("outcome: failed") == 2


def test_a_run_store_of_the_previous_format_keeps_its_runs(state_dir: Path) -> None:
    state_dir.mkdir(parents=True)
    with sqlite3.connect(state_dir / local_store.FILENAME) as conn:
        conn.execute(
            "CREATE TABLE runs (run_id TEXT PRIMARY KEY, function TEXT NOT NULL, project TEXT NOT NULL, "
            "kind TEXT NOT NULL, namespace TEXT NOT NULL, state TEXT NOT NULL, status_text TEXT NOT NULL DEFAULT '', "
            "started TEXT NOT NULL, finished TEXT NOT NULL DEFAULT '', result TEXT NOT NULL DEFAULT '{}', "
            "params TEXT NOT NULL DEFAULT '{}', thresholds TEXT NOT NULL DEFAULT '{}', pid INTEGER NOT NULL, "
            "pid_start TEXT NOT NULL DEFAULT '', host TEXT NOT NULL DEFAULT '')"
        )
        conn.execute("CREATE TABLE logs (seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT, stream TEXT, line TEXT)")
        conn.execute(
            "INSERT INTO runs (run_id, function, project, kind, namespace, state, started, pid) "
            "VALUES ('old1', 'f', 'p', 'job', '', 'completed', '2025-01-01T00:00:00Z', 1)"
        )
        conn.execute("PRAGMA user_version = 1")

    (old,) = local_store.list()

    assert (old.run_id, old.state, old.attempts) == ("old1", "completed", ())
