"""Runs on the real control plane end with a verdict that says what happened.

A run whose controller cannot create its pod (a quota, a missing service
account) is held to ``pending_not_scheduled`` from its run object's
creation and names the controller's reason; a followed MPIJob ends on the
MPIJob's own condition; a failing handler says so in the record (an evicted
pod: ``test_retries.py``).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from tests.integration import support

pytest_plugins = ["tests.integration.fixtures"]

MPIJOBS = ("kubeflow.org", "v2beta1")


def _quota(kube: support.Kube, pods: int = 0) -> None:
    """A ResourceQuota allowing ``pods`` pods, once the quota controller has counted what it limits."""
    kube.core.create_namespaced_resource_quota(
        kube.namespace, {"metadata": {"name": "tiny"}, "spec": {"hard": {"pods": str(pods)}}}
    )
    support.wait_for(
        lambda: (kube.core.read_namespaced_resource_quota("tiny", kube.namespace).status.hard or {}).get("pods"),
        "the quota controller to count the quota",
    )


def _record(mlctl: support.Mlctl, run_id: str) -> dict[str, Any]:
    result = mlctl("runs", "get", run_id, "-o", "json")
    assert result.code == 0, result
    return dict(result.json())


# ------------------------------------------------------------------ runs that never get a pod


def test_a_run_refused_by_a_quota_is_aborted_after_pending_not_scheduled_with_the_quota_named(
    mlctl: support.Mlctl, kube: support.Kube, tmp_path: Path
) -> None:
    _quota(kube)
    spec = support.job_spec(tmp_path, code=support.HANDLER)

    started = time.monotonic()
    result = mlctl("run", str(spec), "--threshold", "pending_not_scheduled=3s", "--timeout", "40s")
    took = time.monotonic() - started

    assert result.code == 6, result
    assert took < 20, result
    assert "exceeded quota: tiny" in result.stderr
    run_id = support.run_id_of(result)
    record = _record(mlctl, run_id)
    assert record["state"] == "aborted"
    match = support.ABORT_TEXT.match(record["status_text"])
    assert match and match.group("state") == "pending_not_scheduled", record
    assert "exceeded quota: tiny" in record["status_text"]
    assert kube.job_of(run_id).spec.suspend is True


def test_the_monitor_aborts_a_detached_run_that_has_no_pod(
    mlctl: support.Mlctl, kube: support.Kube, tmp_path: Path
) -> None:
    _quota(kube)
    spec = support.job_spec(tmp_path, code=support.HANDLER)
    started = mlctl("run", str(spec), "--detach", "--threshold", "pending_not_scheduled=2s")
    assert started.code == 0, started
    run_id = started.stdout.strip()

    support.wait_for(
        lambda: mlctl("monitor", "--once").code == 0 and _record(mlctl, run_id)["state"] == "aborted",
        "the monitor to abort the run without a pod",
        timeout=30,
        every=1.0,
    )

    record = _record(mlctl, run_id)
    assert record["status_text"].startswith("Run aborted due to exceeded state threshold: pending_not_scheduled")
    assert "exceeded quota: tiny" in record["status_text"]


def test_a_run_without_a_pod_and_without_a_threshold_says_why_while_it_waits(
    mlctl: support.Mlctl, spawn: support.Spawner, kube: support.Kube, tmp_path: Path
) -> None:
    _quota(kube)
    spec = support.job_spec(tmp_path, code=support.HANDLER)

    waiting = spawn("run", str(spec), "--timeout", "10s", label="no-pod")
    result = waiting.wait(timeout=60)

    assert result.code == 7, result  # still waiting when --timeout came: the run goes on
    assert "no pod: Error creating: pods" in result.stderr
    assert "exceeded quota: tiny" in result.stderr
    run_id = support.run_id_of(result)
    record = _record(mlctl, run_id)
    assert record["state"] == "pending"
    assert record["status_text"].startswith("no pod: Error creating: pods")
    assert "exceeded quota: tiny" in record["status_text"]


def test_a_missing_service_account_fails_the_preflight_of_run_and_deploy(
    mlctl: support.Mlctl, kube: support.Kube, tmp_path: Path
) -> None:
    spec = support.job_spec(tmp_path, code=support.HANDLER, service_account="ghost-sa")

    ran = mlctl("run", str(spec))
    deployed = mlctl("deploy", str(spec))

    for result in (ran, deployed):
        assert result.code == 4, result
        assert f"ServiceAccount 'ghost-sa' does not exist in namespace {kube.namespace}" in result.stderr
        assert "nothing was written" in result.stderr
    assert kube.written() == []


def test_a_service_account_that_exists_passes_the_preflight(
    mlctl: support.Mlctl, kube: support.Kube, tmp_path: Path
) -> None:
    kube.core.create_namespaced_service_account(kube.namespace, {"metadata": {"name": "trainer-sa"}})
    spec = support.job_spec(tmp_path, code=support.HANDLER, service_account="trainer-sa")

    result = mlctl("run", str(spec))

    assert result.code == 0, result


# ------------------------------------------------------------------ verdicts


def _hold_the_verdict(kube: support.Kube, name: str) -> Callable[[], None]:
    """Refuse, in the test's namespace, any MPIJob status that says Succeeded; return what lifts the refusal.

    A ValidatingAdmissionPolicy: the API server turns down the MPI Operator's
    status update, and the operator retries it until the policy is gone, as
    an operator that is slow to decide would.
    """
    admission = client.AdmissionregistrationV1Api(kube.api)
    admission.create_validating_admission_policy(
        {
            "metadata": {"name": name},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "resourceRules": [
                        {
                            "apiGroups": [MPIJOBS[0]],
                            "apiVersions": [MPIJOBS[1]],
                            "operations": ["UPDATE"],
                            "resources": ["mpijobs/status"],
                        }
                    ]
                },
                "validations": [
                    {
                        "expression": "!has(object.status.conditions)"
                        " || !object.status.conditions.exists(c, c.type == 'Succeeded')",
                        "message": "the MPIJob's verdict is held",
                    }
                ],
            },
        }
    )
    admission.create_validating_admission_policy_binding(
        {
            "metadata": {"name": name},
            "spec": {
                "policyName": name,
                "validationActions": ["Deny"],
                "matchResources": {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": kube.namespace}}
                },
            },
        }
    )

    def lift() -> None:
        admission.delete_validating_admission_policy_binding(name)
        admission.delete_validating_admission_policy(name)

    return lift


def _refused(kube: support.Kube, mpijob: str) -> bool:
    """Whether the API server refuses a Succeeded condition on the MPIJob now (a dry run: nothing is written)."""
    condition = {"type": "Succeeded", "status": "True", "reason": "MPIJobSucceeded", "message": "probe"}
    try:
        kube.custom.patch_namespaced_custom_object_status(
            *MPIJOBS, kube.namespace, "mpijobs", mpijob, {"status": {"conditions": [condition]}}, dry_run="All"
        )
    except client.ApiException as e:
        return e.status == 422 and "verdict is held" in str(e.body)
    return False


def _mpijobs(kube: support.Kube) -> list[dict[str, Any]]:
    return list(kube.custom.list_namespaced_custom_object(*MPIJOBS, kube.namespace, "mpijobs")["items"])


def _launcher_complete(kube: support.Kube, mpijob: str) -> bool:
    """Whether the operator's launcher Job (``<MPIJob>-launcher``) has the Job controller's Complete condition."""
    jobs = kube.batch.list_namespaced_job(kube.namespace, field_selector=f"metadata.name={mpijob}-launcher").items
    return any(c.type == "Complete" and c.status == "True" for j in jobs for c in j.status.conditions or [])


def test_a_followed_mpijob_ends_on_the_mpijobs_own_condition(
    spawn: support.Spawner, kube: support.Kube, tmp_path: Path
) -> None:
    spec = tmp_path / "allreduce.yaml"
    code = base64.b64encode(support.HANDLER.encode()).decode()
    spec.write_text(
        yaml.safe_dump(
            {
                "kind": "mpijob",
                "metadata": {"name": "allreduce", "project": "itest", "annotations": {"mlctl.test/run-duration": "1s"}},
                "spec": {
                    "image": "python:3.11-slim",
                    "default_handler": "handler",
                    "replicas": 1,
                    "build": {"functionSourceCode": code, "origin_filename": "allreduce.py"},
                },
            }
        )
    )
    lift = _hold_the_verdict(kube, f"hold-{kube.namespace}")
    try:
        attached = spawn("run", str(spec), "-o", "json", "--timeout", "120s", label="mpijob")
        name = support.wait_for(lambda: next(iter(_mpijobs(kube)), None), "the MPIJob")["metadata"]["name"]
        support.wait_for(lambda: _refused(kube, name), "the API server to hold the MPIJob's verdict")
        # the real operator makes the launcher Job; its pod ends, and the Job controller says so
        support.wait_for(lambda: _launcher_complete(kube, name), "the launcher Job to complete", timeout=60)
        time.sleep(2)  # the launcher has ended; the run is not over until the operator says so
        assert attached.popen.poll() is None, attached.stderr
        conditions = kube.custom.get_namespaced_custom_object(*MPIJOBS, kube.namespace, "mpijobs", name)["status"]
        assert "Succeeded" not in {c["type"] for c in conditions.get("conditions") or []}
    finally:
        lift()

    result = attached.wait(timeout=90)

    assert result.code == 0, result
    assert result.json()["state"] == "completed"
    verdict = kube.custom.get_namespaced_custom_object(*MPIJOBS, kube.namespace, "mpijobs", name)["status"]
    assert {c["type"]: c["status"] for c in verdict["conditions"]}.get("Succeeded") == "True"


def _bootstrap_report(tmp_path: Path, code: str) -> str:
    """What the bootstrap writes to the termination-message file when the handler raises (run here for real)."""
    source = tmp_path / "greeter.py"
    source.write_text(code)
    out = tmp_path / "termination-log"
    run = {"run_id": "x", "function": "greeter", "handler": "handler", "code": str(source)}
    env = {**os.environ, "MLCTL_RUN": json.dumps(run), "MLCTL_RESULT_PATH": str(out)}
    bootstrap = support.REPO / "mlctl" / "payloads" / "bootstrap.py"
    done = subprocess.run([sys.executable, str(bootstrap)], env=env, capture_output=True, check=False)
    assert done.returncode == 1, done.stderr
    return out.read_text()


def test_a_failing_handler_is_recorded_with_its_exception_and_the_exit_code(
    mlctl: support.Mlctl, kube: support.Kube, tmp_path: Path
) -> None:
    spec = support.failing_spec(tmp_path)
    started = mlctl("run", str(spec), "--detach")
    assert started.code == 0, started
    run_id = started.stdout.strip()
    pod = support.wait_for(
        lambda: next((p for p in kube.pods(run_id) if p.status.phase == "Failed"), None), "the pod to fail"
    )
    # the kubelet copies the bootstrap's termination-message file into the container's status
    status = kube.core.read_namespaced_pod_status(pod.metadata.name, kube.namespace).status
    terminated = status.container_statuses[0].state.terminated
    kube.core.patch_namespaced_pod_status(
        pod.metadata.name,
        kube.namespace,
        {
            "status": {
                "containerStatuses": [
                    {
                        **kube.api.sanitize_for_serialization(status.container_statuses[0]),
                        "state": {
                            "terminated": {
                                **kube.api.sanitize_for_serialization(terminated),
                                "message": _bootstrap_report(tmp_path, support.FAILING),
                            }
                        },
                    }
                ]
            }
        },
    )
    support.wait_for(lambda: (kube.job_of(run_id).status.failed or 0) >= 1, "the Job to count the failure")

    record = support.wait_for(
        lambda: (r := _record(mlctl, run_id))["state"] == "error" and r, "the run to be recorded as failed"
    )

    assert record["status_text"].startswith("ValueError: cannot greet zed (container base exited with code 1")
    assert "in handler" in record["traceback"]
    assert record["traceback"].endswith("ValueError: cannot greet zed")


# ------------------------------------------------------------------ code pinned per run


def _code_of(kube: support.Kube, run_id: str) -> tuple[str, str]:
    """(ConfigMap name, code) that the run's pod template mounts."""
    job = kube.job_of(run_id)
    (volume,) = [v for v in job.spec.template.spec.volumes if v.name == "mlctl-code"]
    name = volume.config_map.name
    return name, kube.core.read_namespaced_config_map(name, kube.namespace).data["trainer.py"]


def _gone(kube: support.Kube, name: str) -> bool:
    return name not in {c.metadata.name for c in kube.core.list_namespaced_config_map(kube.namespace).items}


def test_a_queued_run_keeps_its_code_when_the_function_changes_and_the_code_goes_with_its_runs(
    mlctl: support.Mlctl, kube: support.Kube, tmp_path: Path
) -> None:
    queued = ("--detach", "--node-selector", "mlctl.test/pool=nowhere")
    first_code = 'def handler(context=None):\n    return "A"\n'
    second_code = 'def handler(context=None):\n    return "B"\n'
    spec = support.job_spec(tmp_path, code=first_code)
    run_a = mlctl("run", str(spec), *queued).stdout.strip()
    spec = support.job_spec(tmp_path, code=second_code)
    run_b = mlctl("run", str(spec), *queued).stdout.strip()
    run_b2 = mlctl("run", str(spec), *queued).stdout.strip()

    name_a, code_a = _code_of(kube, run_a)
    name_b, code_b = _code_of(kube, run_b)
    assert code_a == first_code
    assert code_b == second_code
    assert _code_of(kube, run_b2)[0] == name_b  # the same code: one copy
    owners = {o.name for o in kube.core.read_namespaced_config_map(name_b, kube.namespace).metadata.owner_references}
    assert owners == {kube.job_of(run_b).metadata.name, kube.job_of(run_b2).metadata.name}

    assert mlctl("runs", "delete", run_a).code == 0
    support.wait_for(lambda: _gone(kube, name_a), "Kubernetes to collect the deleted run's code", timeout=60)
    assert mlctl("runs", "delete", run_b).code == 0
    time.sleep(2)
    assert not _gone(kube, name_b)  # still owned by the other run of that code
    assert mlctl("runs", "delete", run_b2).code == 0
    support.wait_for(lambda: _gone(kube, name_b), "Kubernetes to collect the code of the last run", timeout=60)


# ------------------------------------------------------------------ runs list, cluster unreachable


def test_runs_list_with_the_cluster_unreachable_shows_local_runs_and_says_the_list_is_incomplete(
    mlctl: support.Mlctl, kubeconfig: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLCTL_STATE_DIR", str(tmp_path / "state"))  # this test's local runs only
    local = mlctl.offline("run", "--local", str(support.job_spec(tmp_path, code=support.HANDLER)))
    assert local.code == 0, local
    run_id = support.run_id_of(local)
    unreachable = support.unreachable_kubeconfig(kubeconfig, tmp_path)

    listed = mlctl("runs", "list", "-o", "json", kubeconfig=unreachable)

    assert listed.code == 4, listed
    assert [r["run_id"] for r in listed.json()] == [run_id]
    assert "cluster's runs could not be read" in listed.stderr
