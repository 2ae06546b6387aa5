"""mpijob runs through the real MPI Operator (kubeflow/mpi-operator, MPIJob v2beta1).

The operator runs in the testbed: it turns the MPIJob mlctl writes into a
launcher Job and worker pods, sets the MPIJob's conditions, and removes the
pods when the MPIJob is suspended. The pods' containers are kwok's: a pod's
termination message (``mlctl.test/termination-message``) stands for what
mlctl's bootstrap would write there in a real container.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests.integration.support import ABORT_TEXT, Kube, Mlctl, run_id_of, wait_for

pytest_plugins = ["tests.integration.fixtures"]

GROUP, VERSION, PLURAL = "kubeflow.org", "v2beta1", "mpijobs"
LAUNCHER = "training.kubeflow.org/job-role"


def mpi_spec(
    folder: Path,
    name: str = "allreduce",
    *,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    **spec: Any,
) -> Path:
    metadata: dict[str, Any] = {"name": name, "project": "itest"}
    if labels:
        metadata["labels"] = labels
    if annotations:
        metadata["annotations"] = annotations
    body = {"image": "mpioperator/openmpi:latest", "command": "python train.py", "replicas": 2, **spec}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"kind": "mpijob", "metadata": metadata, "spec": body}, sort_keys=False))
    return path


def mpijob_of(kube: Kube, run_id: str) -> dict[str, Any] | None:
    items = kube.custom.list_namespaced_custom_object(
        GROUP, VERSION, kube.namespace, PLURAL, label_selector=f"mlctl.io/run-id={run_id}"
    )["items"]
    return items[0] if items else None


def conditions(mpijob: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in (mpijob.get("status") or {}).get("conditions") or []}


def roles(kube: Kube, run_id: str) -> list[str]:
    return sorted((p.metadata.labels or {}).get(LAUNCHER, "") for p in kube.pods(run_id))


def test_an_mpijob_runs_to_completion_through_the_operator(mlctl: Mlctl, kube: Kube, tmp_path: Path) -> None:
    message = json.dumps({"results": {"return": {"ranks": 2}}})
    spec = mpi_spec(tmp_path, annotations={"mlctl.test/termination-message": message, "mlctl.test/run-duration": "3s"})

    result = mlctl("run", str(spec), "-o", "json")

    assert result.code == 0, result
    run_id = result.json()["run_id"]
    assert result.json()["state"] == "completed"
    assert result.json()["result"] == {"return": {"ranks": 2}}
    mpijob = mpijob_of(kube, run_id)
    assert mpijob is not None
    assert conditions(mpijob).get("Succeeded") == "True"  # the operator's verdict, not a guess
    (launcher,) = kube.batch.list_namespaced_job(kube.namespace, label_selector=f"mlctl.io/run-id={run_id}").items
    assert launcher.metadata.owner_references[0].kind == "MPIJob"  # the operator made it
    record = mlctl("runs", "get", run_id, "-o", "json")
    assert record.code == 0, record
    assert (record.json()["state"], record.json()["kind"]) == ("completed", "mpijob")
    assert record.json()["result"] == {"return": {"ranks": 2}}


def test_the_operator_makes_a_launcher_and_the_workers(mlctl: Mlctl, kube: Kube, tmp_path: Path) -> None:
    spec = mpi_spec(tmp_path, annotations={"mlctl.test/run-duration": "10m"}, replicas=3)

    started = mlctl("run", str(spec), "--detach")

    assert started.code == 0, started
    run_id = started.stdout.strip()
    assert wait_for(
        lambda: roles(kube, run_id) == ["launcher", "worker", "worker", "worker"],
        "the operator's launcher and three worker pods",
        timeout=60,
    )
    assert wait_for(
        lambda: conditions(mpijob_of(kube, run_id) or {}).get("Running") == "True", "the MPIJob Running", timeout=60
    )
    assert mlctl("runs", "get", run_id, "-o", "json").json()["state"] == "running"
    assert mlctl("runs", "abort", run_id).code == 0


def test_workers_stuck_in_image_pull_are_aborted_and_the_operator_removes_the_pods(
    mlctl: Mlctl, kube: Kube, tmp_path: Path
) -> None:
    spec = mpi_spec(tmp_path, labels={"mlctl.test/behavior": "image-pull-backoff"})

    result = mlctl("run", str(spec), "--threshold", "image_pull_backoff=5s")

    assert result.code == 6, result
    verdict = ABORT_TEXT.search(result.stderr)
    assert verdict, result
    assert (verdict["state"], verdict["limit"]) == ("image_pull_backoff", "5s")
    run_id = run_id_of(result)
    mpijob = mpijob_of(kube, run_id)
    assert mpijob is not None
    assert mpijob["spec"]["runPolicy"]["suspend"] is True
    assert wait_for(lambda: not kube.pods(run_id), "the operator to remove the suspended MPIJob's pods", timeout=60)
    assert wait_for(
        lambda: conditions(mpijob_of(kube, run_id) or {}).get("Suspended") == "True",
        "the operator to mark the MPIJob Suspended",
        timeout=30,
    )
    record = mlctl("runs", "get", run_id, "-o", "json").json()
    assert record["state"] == "aborted"
    assert ABORT_TEXT.fullmatch(record["status_text"])


def test_runs_abort_suspends_a_running_mpijob(mlctl: Mlctl, kube: Kube, tmp_path: Path) -> None:
    started = mlctl("run", str(mpi_spec(tmp_path, annotations={"mlctl.test/run-duration": "10m"})), "--detach")
    assert started.code == 0, started
    run_id = started.stdout.strip()
    wait_for(lambda: len(kube.pods(run_id)) == 3, "the launcher and two workers", timeout=60)

    result = mlctl("runs", "abort", run_id)

    assert result.code == 0, result
    record = mlctl("runs", "get", run_id, "-o", "json").json()
    assert (record["state"], record["status_text"]) == ("aborted", "aborted by user")
    assert (mpijob_of(kube, run_id) or {})["spec"]["runPolicy"]["suspend"] is True
    assert wait_for(lambda: not kube.pods(run_id), "the operator to remove the pods", timeout=60)


def test_a_failing_launcher_exits_5_with_the_handlers_error(mlctl: Mlctl, kube: Kube, tmp_path: Path) -> None:
    message = json.dumps({"error": "ValueError: the learning rate must be positive"})
    spec = mpi_spec(
        tmp_path,
        labels={"mlctl.test/behavior": "fail"},
        annotations={"mlctl.test/termination-message": message, "mlctl.test/run-duration": "2s"},
    )

    result = mlctl("run", str(spec))

    assert result.code == 5, result
    assert "ValueError: the learning rate must be positive" in result.stderr
    run_id = run_id_of(result)
    record = mlctl("runs", "get", run_id, "-o", "json").json()
    assert record["state"] == "error"
    assert "ValueError: the learning rate must be positive" in record["status_text"]
    assert conditions(mpijob_of(kube, run_id) or {}).get("Failed") == "True"
