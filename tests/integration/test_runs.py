"""``mlctl run`` and ``mlctl runs`` against a real API server.

Runs complete, fail, get stuck and get aborted; the preemption mode decides
where their pods may go; the preflight refuses what cannot work before
anything is written. Pods on the fake nodes behave as their spec's metadata
asks (``mlctl.test/behavior``, ``mlctl.test/run-duration``), which mlctl
carries onto the pods as MLRun does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlctl.cluster import apply, client
from tests.cluster.testbed import NODES
from tests.integration.support import (
    ABORT_TEXT,
    HANDLER,
    SPOT_NODES,
    SPOT_TOLERATION,
    Kube,
    Mlctl,
    job_spec,
    long_running,
    run_id_of,
    seconds,
    wait_for,
)

pytest_plugins = ["tests.integration.fixtures"]

FAKE_NODES = {n.name for n in NODES}
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


def aborted_by(result_text: str) -> dict[str, str]:
    match = ABORT_TEXT.search(result_text)
    assert match, f"no abort status text in:\n{result_text}"
    return match.groupdict()


# --------------------------------------------------------------------------- runs that end


def test_a_job_runs_on_a_fake_node_and_completes(mlctl: Mlctl, kube: Kube, tmp_path: Path) -> None:
    spec = job_spec(tmp_path, code=HANDLER)

    result = mlctl("run", str(spec), "--param", "x=41", "-o", "json")

    assert result.code == 0, result
    run_id = result.json()["run_id"]
    assert result.json()["state"] == "completed"
    record = mlctl("runs", "get", run_id, "-o", "json")
    assert record.code == 0, record
    assert record.json()["state"] == "completed"
    assert record.json()["params"] == {"x": 41}
    assert record.json()["where"] == "cluster"
    pod = kube.pod_of(run_id)
    assert pod.spec.node_name in FAKE_NODES
    assert pod.status.phase == "Succeeded"
    listed = mlctl("runs", "list", "-o", "json").json()
    assert [r["state"] for r in listed if r["run_id"] == run_id] == ["completed"]


def test_a_run_whose_container_fails_exits_5_with_the_exit_code(mlctl: Mlctl, tmp_path: Path) -> None:
    spec = job_spec(tmp_path, labels={"mlctl.test/behavior": "fail"})

    result = mlctl("run", str(spec))

    assert result.code == 5, result
    assert "exited with code 1" in result.stderr
    record = mlctl("runs", "get", run_id_of(result), "-o", "json").json()
    assert record["state"] == "error"
    assert "exited with code 1" in record["status_text"]


def test_a_run_past_its_timeout_exits_7_and_goes_on(mlctl: Mlctl, kube: Kube, tmp_path: Path) -> None:
    spec = job_spec(tmp_path, annotations=long_running())

    result = mlctl("run", str(spec), "--timeout", "3s")

    assert result.code == 7, result
    run_id = run_id_of(result)
    assert mlctl("runs", "get", run_id, "-o", "json").json()["state"] == "running"
    assert kube.running_pod(run_id).metadata.deletion_timestamp is None


# --------------------------------------------------------------------------- preemption


@pytest.mark.usefixtures("spot_profile")
@pytest.mark.parametrize(
    ("mode", "spec", "on_spot"),
    [
        pytest.param("constrain", {}, True, id="constrain-lands-on-spot"),
        pytest.param("allow", {"affinity": PREFER_SPOT}, True, id="allow-lets-a-spot-preference-win"),
        pytest.param(
            "prevent", {"affinity": PREFER_SPOT, "tolerations": [SPOT_TOLERATION]}, False, id="prevent-never-on-spot"
        ),
    ],
)
def test_the_preemption_mode_decides_whether_the_pod_may_use_spot_nodes(
    mlctl: Mlctl, kube: Kube, tmp_path: Path, mode: str, spec: dict[str, Any], on_spot: bool
) -> None:
    path = job_spec(tmp_path, **spec)

    result = mlctl("run", str(path), "--preemption-mode", mode)

    assert result.code == 0, result
    node = kube.pod_of(run_id_of(result)).spec.node_name
    assert node in FAKE_NODES
    assert (node in SPOT_NODES) is on_spot, f"{mode}: the pod ran on {node}"


@pytest.mark.usefixtures("spot_profile")
def test_prevent_aborts_a_run_only_spot_nodes_could_take(mlctl: Mlctl, kube: Kube, tmp_path: Path) -> None:
    # the user even tolerates the spot taint; prevent takes that toleration away
    spec = job_spec(tmp_path, node_selector={"mlctl.test/pool": "spot"}, tolerations=[SPOT_TOLERATION])

    result = mlctl("run", str(spec), "--threshold", "pending_not_scheduled=5s")

    assert result.code == 6, result
    assert "untolerated taint" in result.stderr  # the scheduler's reason, shown while waiting
    verdict = aborted_by(result.stderr)
    assert verdict["state"] == "pending_not_scheduled"
    assert verdict["limit"] == "5s"
    assert 5 <= seconds(verdict["waited"]) <= 8
    run_id = run_id_of(result)
    assert wait_for(lambda: not kube.pods(run_id), "the run's pods to be deleted", timeout=10)
    record = mlctl("runs", "get", run_id, "-o", "json")
    assert record.code == 0, record
    assert record.json()["state"] == "aborted"
    assert ABORT_TEXT.fullmatch(record.json()["status_text"])
    assert kube.job_of(run_id).spec.suspend is True  # the Job stays as the record, and makes no new pod


# --------------------------------------------------------------------------- thresholds


def test_a_pod_held_in_image_pull_backoff_is_aborted(mlctl: Mlctl, kube: Kube, tmp_path: Path) -> None:
    spec = job_spec(tmp_path, labels={"mlctl.test/behavior": "image-pull-backoff"})

    result = mlctl("run", str(spec), "--threshold", "image_pull_backoff=3s")

    assert result.code == 6, result
    assert "Back-off pulling image" in result.stderr
    verdict = aborted_by(result.stderr)
    assert (verdict["state"], verdict["limit"]) == ("image_pull_backoff", "3s")
    run_id = run_id_of(result)
    assert wait_for(lambda: not kube.pods(run_id), "the run's pods to be deleted", timeout=10)
    assert mlctl("runs", "get", run_id, "-o", "json").json()["state"] == "aborted"


def test_a_run_longer_than_its_running_threshold_is_aborted(mlctl: Mlctl, kube: Kube, tmp_path: Path) -> None:
    # MLRun's own name for the state, `executing`, in the spec
    spec = job_spec(tmp_path, annotations=long_running(), state_thresholds={"executing": "3s"})

    result = mlctl("run", str(spec))

    assert result.code == 6, result
    verdict = aborted_by(result.stderr)
    assert (verdict["state"], verdict["limit"]) == ("running", "3s")
    assert 3 <= seconds(verdict["waited"]) <= 6
    run_id = run_id_of(result)
    assert wait_for(lambda: not kube.pods(run_id), "the run's pods to be deleted", timeout=10)
    record = mlctl("runs", "get", run_id, "-o", "json").json()
    assert record["state"] == "aborted"
    assert record["thresholds"]["running"] == "3s"


# --------------------------------------------------------------------------- runs abort / delete


def test_runs_abort_stops_a_running_run_and_keeps_its_record(mlctl: Mlctl, kube: Kube, tmp_path: Path) -> None:
    started = mlctl("run", str(job_spec(tmp_path, annotations=long_running())), "--detach")
    assert started.code == 0, started
    run_id = started.stdout.strip()
    kube.running_pod(run_id)

    result = mlctl("runs", "abort", run_id)

    assert result.code == 0, result
    assert f"run {run_id} aborted" in result.stderr
    record = mlctl("runs", "get", run_id, "-o", "json").json()
    assert (record["state"], record["status_text"]) == ("aborted", "aborted by user")
    assert record["finished"]
    assert wait_for(lambda: not kube.pods(run_id), "the run's pods to be deleted", timeout=10)
    again = mlctl("runs", "abort", run_id)
    assert again.code == 0, again
    assert "already ended (aborted)" in again.stderr
    listed = mlctl("runs", "list")
    assert run_id in listed.stdout
    assert "aborted" in listed.stdout


def test_runs_delete_removes_the_run_and_its_record(mlctl: Mlctl, kube: Kube, tmp_path: Path) -> None:
    started = mlctl("run", str(job_spec(tmp_path)), "-o", "json")
    assert started.code == 0, started
    run_id = started.json()["run_id"]

    result = mlctl("runs", "delete", run_id)

    assert result.code == 0, result
    assert f"run {run_id} deleted" in result.stderr
    assert kube.job_of(run_id) is None
    gone = mlctl("runs", "get", run_id)
    assert gone.code == 4, gone
    assert "not found" in gone.stderr
    assert run_id not in mlctl("runs", "list").stdout


# --------------------------------------------------------------------------- preflight and permissions


def test_a_missing_priority_class_fails_the_preflight_and_writes_nothing(
    mlctl: Mlctl, kube: Kube, tmp_path: Path
) -> None:
    spec = job_spec(tmp_path, code=HANDLER)  # a code ConfigMap and a Job, neither written

    result = mlctl("run", str(spec), "--priority-class", "urgent")

    assert result.code == 4, result
    assert "PriorityClass 'urgent' does not exist" in result.stderr
    assert "nothing was written" in result.stderr
    assert kube.written() == []


def test_a_missing_volume_claim_fails_the_preflight_and_writes_nothing(
    mlctl: Mlctl, kube: Kube, tmp_path: Path, namespace: str
) -> None:
    spec = job_spec(
        tmp_path,
        code=HANDLER,
        volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "training-data"}}],
        volume_mounts=[{"name": "data", "mountPath": "/data"}],
    )

    result = mlctl("run", str(spec))

    assert result.code == 4, result
    assert f"PersistentVolumeClaim 'training-data' does not exist in namespace {namespace}" in result.stderr
    assert kube.written() == []


def test_an_mpijob_version_the_installed_crd_does_not_serve_fails_the_preflight(
    mlctl: Mlctl, kube: Kube, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tmp_path / "mpi.yaml"
    spec.write_text(
        "kind: mpijob\nmetadata:\n  name: allreduce\n"
        "spec:\n  image: mpioperator/openmpi:latest\n  command: python train.py\n  replicas: 2\n"
    )
    monkeypatch.setenv("MLCTL_MPIJOB_CRD_VERSION", "v1")  # the old operator MLRun targets

    result = mlctl("run", str(spec))

    assert result.code == 4, result
    assert "kubeflow.org/v1 is not served by the installed CRD (served: v2beta1)" in result.stderr
    assert kube.written() == []


def test_a_kind_whose_crd_is_not_installed_fails_the_preflight(kubeconfig: Path, namespace: str) -> None:
    cluster = client.connect(str(kubeconfig), namespace=namespace)
    widget = {
        "apiVersion": "widgets.mlctl.test/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": namespace},
    }

    check = apply.preflight(cluster, [widget])

    assert check.problems == [
        "Widget/w: the Widget CRD (widgets.widgets.mlctl.test) is not installed; install its operator first"
    ]


def test_a_user_who_may_only_read_pods_is_told_what_permission_is_missing(
    mlctl: Mlctl, kube: Kube, tmp_path: Path, restricted_kubeconfig: Path, namespace: str
) -> None:
    spec = job_spec(tmp_path)

    result = mlctl("run", str(spec), kubeconfig=restricted_kubeconfig)

    assert result.code == 4, result
    assert "forbidden: you may not patch" in result.stderr
    assert (
        f'User "mlctl-restricted" cannot patch resource "jobs" in API group "batch" in the namespace "{namespace}"'
        in (result.stderr)
    )
    assert "Traceback" not in result.stderr
    assert kube.written() == []
    listing = mlctl("runs", "list", kubeconfig=restricted_kubeconfig)
    assert listing.code == 4, listing
    assert f"you may not list jobs in namespace {namespace}" in listing.stderr
