"""``mlctl runs explain`` on the real control plane: every reason produced for real.

Runs too large for the nodes, kept off spot nodes by their taint, pinned by a
selector no node matches, refused by a quota, waiting for a claim, a service
account or a priority class that does not exist, stuck pulling their image,
crashing. Each is explained, and where the explanation suggests a change,
making it lets the run complete.
"""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import pytest

from mlctl import config as config_
from mlctl import pipeline
from mlctl.cluster import apply, client
from mlctl.render.context import RenderContext
from mlctl.runs import explain, ids
from tests.integration.support import HANDLER, Kube, Mlctl, job_spec, long_running, run_id_of, wait_for

pytest_plugins = ["tests.integration.fixtures"]


def start(mlctl: Mlctl, spec: Path, *args: str) -> str:
    started = mlctl("run", str(spec), "--detach", *args)
    assert started.code == 0, started
    return started.stdout.strip()


def explained(mlctl: Mlctl, run_id: str, reason: str, *args: str, timeout: float = 20.0) -> dict[str, Any]:
    """The run's explanation (JSON) once a blocker with ``reason`` appears in it."""
    last: dict[str, Any] = {}

    def check() -> dict[str, Any] | None:
        nonlocal last
        result = mlctl("runs", "explain", run_id, "-o", "json", *args)
        assert result.code == 0, result
        last = result.json()
        return last if any(b["reason"] == reason for b in last["blockers"]) else None

    try:
        return wait_for(check, f"reason {reason}", timeout=timeout, every=0.5)
    except BaseException:
        print(last)
        raise


def blocker(data: dict[str, Any], reason: str) -> dict[str, Any]:
    (found,) = [b for b in data["blockers"] if b["reason"] == reason]
    return found


def apply_rendered(kubeconfig: Path, namespace: str, spec: Path) -> str:
    """Start a run the way `mlctl render | kubectl apply -f -` would: no preflight stands in the way."""
    cluster = client.connect(str(kubeconfig), namespace=namespace)
    config = config_.load()
    run_id = ids.new_run_id()
    objects = pipeline.render(
        pipeline.load(str(spec), config), config, RenderContext(namespace=namespace, run_id=run_id)
    )
    apply.apply_all(cluster, objects)
    return run_id


# --------------------------------------------------------------------------- nodes


def test_more_gpus_than_any_node_names_the_largest_and_the_suggestion_makes_it_run(
    mlctl: Mlctl, tmp_path: Path
) -> None:
    spec = job_spec(tmp_path, resources={"limits": {"cpu": "1", "nvidia.com/gpu": 8}})
    run_id = start(mlctl, spec)

    data = explained(mlctl, run_id, explain.TOO_LARGE, "--file", str(spec))

    found = blocker(data, explain.TOO_LARGE)
    assert found["message"] == "needs nvidia.com/gpu: 8; the largest node (gpu-1) has 4"
    assert found["never_fits"] is True
    assert found["suggestion"] == f"mlctl set-resources {spec} --limits gpus=4 --patch"
    assert data["state"] == "pending_not_scheduled"
    text = mlctl("runs", "explain", run_id, "--file", str(spec))
    assert "    no node in the cluster could ever fit the pod as it is" in text.stdout
    mlctl("runs", "abort", run_id)
    changed = mlctl.offline(*found["suggestion"].split()[1:])
    assert changed.code == 0, changed
    again = mlctl("run", str(spec))
    assert again.code == 0, again  # the suggested change lets it fit


def test_memory_short_on_every_node_names_the_most_free(mlctl: Mlctl, kube: Kube, tmp_path: Path) -> None:
    hog = job_spec(
        tmp_path,
        "hog",
        annotations=long_running(),
        node_selector={"mlctl.test/pool": "gpu"},
        resources={"requests": {"memory": "40Gi"}},
    )
    kube.running_pod(start(mlctl, hog))
    spec = job_spec(tmp_path, resources={"requests": {"memory": "40Gi"}})
    run_id = start(mlctl, spec)

    data = explained(mlctl, run_id, explain.INSUFFICIENT, "--file", str(spec))

    found = blocker(data, explain.INSUFFICIENT)
    assert found["message"] in {
        f"insufficient memory: needs 40Gi, the most free on a node is 32Gi ({node})" for node in ("cpu-1", "cpu-2")
    }
    assert found["suggestion"] == f"mlctl set-resources {spec} --requests memory=32Gi --patch"
    assert found["never_fits"] is False
    assert explain.TAINT not in {b["reason"] for b in data["blockers"]}  # spot nodes are too small as well


@pytest.mark.usefixtures("spot_profile")
def test_spot_taints_under_prevent_suggest_allow_and_allow_makes_it_run(mlctl: Mlctl, tmp_path: Path) -> None:
    spec = job_spec(tmp_path, node_selector={"mlctl.test/pool": "spot"})
    run_id = start(mlctl, spec)

    data = explained(mlctl, run_id, explain.TAINT, "--file", str(spec))

    found = blocker(data, explain.TAINT)
    assert found["message"] == (
        "2 spot nodes (spot-1, spot-2) have taint node-lifecycle=spot:NoSchedule that the pod does not tolerate "
        "(preemption mode prevent)"
    )
    assert found["suggestion"] == f"mlctl set-preemption {spec} allow"
    mlctl("runs", "abort", run_id)
    assert mlctl.offline(*found["suggestion"].split()[1:]).code == 0
    again = mlctl("run", str(spec))
    assert again.code == 0, again


def test_a_node_selector_no_node_matches(mlctl: Mlctl, tmp_path: Path) -> None:
    spec = job_spec(tmp_path, node_selector={"accelerator": "a100"})
    run_id = start(mlctl, spec)

    data = explained(mlctl, run_id, explain.SELECTOR)

    found = blocker(data, explain.SELECTOR)
    assert found["message"] == "node selector accelerator=a100 matches no node"
    assert found["never_fits"] is True
    assert found["suggestion"] == ""


# --------------------------------------------------------------------------- the namespace's objects


def test_an_exceeded_quota(mlctl: Mlctl, kube: Kube, tmp_path: Path) -> None:
    kube.core.create_namespaced_resource_quota(
        kube.namespace, {"metadata": {"name": "small"}, "spec": {"hard": {"requests.cpu": "1"}}}
    )
    spec = job_spec(tmp_path, resources={"requests": {"cpu": "2"}})
    run_id = start(mlctl, spec)

    data = explained(mlctl, run_id, explain.QUOTA)

    assert blocker(data, explain.QUOTA)["message"] == (
        "resource quota small refuses the pod: it requests requests.cpu=2; requests.cpu=0 is used of requests.cpu=1"
    )
    assert data["state"] == "no pods"


def test_a_missing_volume_claim(mlctl: Mlctl, kubeconfig: Path, namespace: str, tmp_path: Path) -> None:
    spec = job_spec(
        tmp_path,
        volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "training-data"}}],
        volume_mounts=[{"name": "data", "mountPath": "/data"}],
    )
    run_id = apply_rendered(kubeconfig, namespace, spec)

    data = explained(mlctl, run_id, explain.MISSING_PVC)

    assert blocker(data, explain.MISSING_PVC)["message"] == (
        f"volume claim (PVC) training-data does not exist in namespace {namespace}; the pod waits until it is created"
    )
    assert {b["reason"] for b in data["blockers"]} == {explain.MISSING_PVC}


def test_a_missing_service_account(mlctl: Mlctl, kubeconfig: Path, namespace: str, tmp_path: Path) -> None:
    # the preflight refuses such a run; one applied by other means is still explained
    run_id = apply_rendered(kubeconfig, namespace, job_spec(tmp_path, service_account="robot"))

    data = explained(mlctl, run_id, explain.MISSING_SERVICE_ACCOUNT)

    assert blocker(data, explain.MISSING_SERVICE_ACCOUNT)["message"] == (
        f"service account robot does not exist in namespace {namespace}; no pod can be created"
    )


def test_an_unknown_priority_class(mlctl: Mlctl, kubeconfig: Path, namespace: str, tmp_path: Path) -> None:
    run_id = apply_rendered(kubeconfig, namespace, job_spec(tmp_path, priority_class_name="urgent"))

    data = explained(mlctl, run_id, explain.UNKNOWN_PRIORITY_CLASS)

    message = blocker(data, explain.UNKNOWN_PRIORITY_CLASS)["message"]
    assert message.startswith("priority class urgent does not exist")
    assert message.endswith("; no pod can be created")


# --------------------------------------------------------------------------- containers


def test_an_image_pull_failure_names_the_image_and_the_pull_secrets(mlctl: Mlctl, tmp_path: Path) -> None:
    spec = job_spec(tmp_path, labels={"mlctl.test/behavior": "image-pull-backoff"})
    run_id = start(mlctl, spec)

    data = explained(mlctl, run_id, explain.IMAGE_PULL)

    message = blocker(data, explain.IMAGE_PULL)["message"]
    assert message.startswith("cannot pull image python:3.11-slim of container ")
    assert "(ImagePullBackOff)" in message
    assert message.endswith("; pull secrets used: none")
    assert data["state"] == "image_pull_backoff"


def test_a_crash_loop_gives_the_last_exit(mlctl: Mlctl, tmp_path: Path) -> None:
    spec = job_spec(tmp_path, labels={"mlctl.test/behavior": "crash-loop-backoff"}, annotations=long_running("1s"))
    run_id = start(mlctl, spec)

    data = explained(mlctl, run_id, explain.CRASH_LOOP)

    message = blocker(data, explain.CRASH_LOOP)["message"]
    assert "keeps crashing (restarted 1 times): exit code 1, reason Error" in message


def test_a_failed_run_gives_the_exit_code(mlctl: Mlctl, tmp_path: Path) -> None:
    spec = job_spec(tmp_path, code=HANDLER, labels={"mlctl.test/behavior": "fail"})
    result = mlctl("run", str(spec))
    assert result.code == 5, result

    data = explained(mlctl, run_id_of(result), explain.FAILED)

    assert "failed: exit code 1, reason Error" in blocker(data, explain.FAILED)["message"]


# --------------------------------------------------------------------------- other kinds, other identities


def test_mpijob_workers_are_explained_once_for_all(mlctl: Mlctl, kube: Kube, tmp_path: Path) -> None:
    spec = tmp_path / "mpi.yaml"
    spec.write_text(
        "kind: mpijob\nmetadata:\n  name: allreduce\n"
        "spec:\n  image: mpioperator/openmpi:latest\n  command: python train.py\n  replicas: 2\n"
        "  resources:\n    limits:\n      nvidia.com/gpu: '6'\n"
    )
    run_id = start(mlctl, spec)
    mpijob = kube.custom.list_namespaced_custom_object(
        "kubeflow.org", "v2beta1", kube.namespace, "mpijobs", label_selector=f"mlctl.io/run-id={run_id}"
    )["items"][0]
    template = mpijob["spec"]["mpiReplicaSpecs"]["Worker"]["template"]
    for index in range(2):  # as the operator would
        metadata = copy.deepcopy(template["metadata"])
        metadata["name"] = f"{mpijob['metadata']['name']}-worker-{index}"
        kube.core.create_namespaced_pod(kube.namespace, {"metadata": metadata, "spec": template["spec"]})

    data = explained(mlctl, run_id, explain.TOO_LARGE)

    found = blocker(data, explain.TOO_LARGE)
    assert found["message"] == "needs nvidia.com/gpu: 6; the largest node (gpu-1) has 4"
    assert len(found["pods"]) == 2


def test_a_serving_deployment_is_explained_by_its_function_name(mlctl: Mlctl, tmp_path: Path) -> None:
    spec = tmp_path / "serving.yaml"
    code = base64.b64encode(b"def handler(context, event):\n    return 1\n").decode()
    spec.write_text(
        "kind: serving\nmetadata:\n  name: predictor\n"
        "spec:\n  image: python:3.11-slim\n  default_handler: handler\n"
        f"  build:\n    functionSourceCode: {code}\n"
        "  node_selector:\n    accelerator: a100\n"
    )
    assert mlctl("deploy", str(spec), "--engine", "kubernetes").code == 0

    data = explained(mlctl, "predictor", explain.SELECTOR)

    assert blocker(data, explain.SELECTOR)["message"] == "node selector accelerator=a100 matches no node"


def test_a_user_who_may_only_read_pods_gets_the_schedulers_words_and_what_was_not_read(
    mlctl: Mlctl, tmp_path: Path, restricted_kubeconfig: Path
) -> None:
    run_id = start(mlctl, job_spec(tmp_path, resources={"limits": {"nvidia.com/gpu": 8}}))

    def check() -> dict[str, Any] | None:
        result = mlctl("runs", "explain", run_id, "-o", "json", kubeconfig=restricted_kubeconfig)
        assert result.code == 0, result
        data: dict[str, Any] = result.json()
        return data if data["blockers"] and data["blockers"][0]["reason"] == explain.UNSCHEDULABLE else None

    data = wait_for(check, "the scheduler's verdict", timeout=20, every=0.5)

    assert "Insufficient nvidia.com/gpu" in data["blockers"][0]["message"]
    assert any(what.startswith("nodes (forbidden") for what in data["could_not_read"])
    text = mlctl("runs", "explain", run_id, kubeconfig=restricted_kubeconfig)
    assert "  could not read nodes (forbidden)" in text.stdout


# --------------------------------------------------------------------------- where a run explains itself


def test_mlctl_run_explains_a_long_pending_run_once_and_the_abort_keeps_it(mlctl: Mlctl, tmp_path: Path) -> None:
    spec = job_spec(tmp_path, resources={"limits": {"nvidia.com/gpu": 8}})

    result = mlctl("run", str(spec), "--threshold", "pending_not_scheduled=4s")

    assert result.code == 6, result
    assert result.stderr.count("needs nvidia.com/gpu: 8; the largest node (gpu-1) has 4") == 1
    assert f"to change it: mlctl set-resources {spec} --limits gpus=4 --patch" in result.stderr
    record = mlctl("runs", "get", run_id_of(result), "-o", "json").json()
    assert record["state"] == "aborted"
    assert [b["reason"] for b in record["explanation"]] == [explain.TOO_LARGE]
