"""Log lines from a kubelet that answers, and every threshold state aborting a run.

kwok serves each fake node's kubelet API on 127.0.0.1 (the nodes' InternalIP);
the API server reaches it there for ``pods/log`` and never asks the machine's
resolver for a node name. ``Testbed.serve_logs`` makes a file the log of
every container in a namespace; the test appends lines while the run goes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cluster.testbed import Testbed
from tests.integration.support import (
    ABORT_TEXT,
    Kube,
    Mlctl,
    Spawner,
    job_spec,
    run_id_of,
    seconds,
    wait_for,
)

pytest_plugins = ["tests.integration.fixtures"]


@pytest.mark.long
def test_run_prints_the_pods_log_lines_as_they_come_and_runs_logs_after_the_end(
    mlctl: Mlctl, spawn: Spawner, testbed: Testbed, namespace: str, tmp_path: Path
) -> None:
    log = testbed.serve_logs(namespace)
    testbed.append_log(log, "epoch 1 loss 0.91")
    spec = job_spec(tmp_path, annotations={"mlctl.test/run-duration": "15s"})

    attached = spawn("run", str(spec), "--timeout", "90s", label="attached")

    wait_for(lambda: "epoch 1 loss 0.91" in attached.stdout, "the first log line", timeout=30)
    testbed.append_log(log, "epoch 2 loss 0.42")
    testbed.append_log(log, "mlctl: warning on stderr", stream="stderr")
    wait_for(lambda: "epoch 2 loss 0.42" in attached.stdout, "a line written while the run goes", timeout=10)
    assert attached.popen.poll() is None  # still running: the line came as it was written
    result = attached.wait(timeout=60)
    assert result.code == 0, result
    run_id = run_id_of(result)

    logs = mlctl("runs", "logs", run_id)

    assert logs.code == 0, logs
    assert logs.stdout.splitlines() == ["epoch 1 loss 0.91", "epoch 2 loss 0.42", "mlctl: warning on stderr"]


@pytest.mark.parametrize(
    ("state", "spec"),
    [
        pytest.param(
            "pending_not_scheduled", {"node_selector": {"mlctl.test/pool": "none"}}, id="pending_not_scheduled"
        ),
        pytest.param(
            "pending_scheduled", {"labels": {"mlctl.test/behavior": "container-creating"}}, id="pending_scheduled"
        ),
        pytest.param(
            "image_pull_backoff", {"labels": {"mlctl.test/behavior": "image-pull-backoff"}}, id="image_pull_backoff"
        ),
        pytest.param("running", {"annotations": {"mlctl.test/run-duration": "10m"}}, id="running"),
    ],
)
def test_each_threshold_state_aborts_a_run(
    mlctl: Mlctl, kube: Kube, tmp_path: Path, state: str, spec: dict[str, dict[str, str]]
) -> None:
    path = job_spec(tmp_path, **spec)

    result = mlctl("run", str(path), "--threshold", f"{state}=4s")

    assert result.code == 6, result
    verdict = ABORT_TEXT.search(result.stderr)
    assert verdict, result
    assert (verdict["state"], verdict["limit"]) == (state, "4s")
    assert 4 <= seconds(verdict["waited"]) <= 8
    run_id = run_id_of(result)
    assert wait_for(lambda: not kube.pods(run_id), "the run's pods to be deleted", timeout=15)
    record = mlctl("runs", "get", run_id, "-o", "json").json()
    assert record["state"] == "aborted"
    assert ABORT_TEXT.fullmatch(record["status_text"])


def test_a_pod_in_container_creating_is_pending_scheduled_then_runs(mlctl: Mlctl, kube: Kube, tmp_path: Path) -> None:
    spec = job_spec(
        tmp_path,
        labels={"mlctl.test/behavior": "container-creating"},
        annotations={"mlctl.test/creating-duration": "3s"},
    )

    result = mlctl("run", str(spec), "--threshold", "pending_scheduled=30s")

    assert result.code == 0, result
    assert "pending_scheduled" in result.stderr
    pod = kube.pod_of(run_id_of(result))
    assert pod.status.phase == "Succeeded"
