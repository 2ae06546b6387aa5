"""Checks that the integration testbed behaves like a real cluster.

Each test drives the real API server (through the official ``kubernetes``
client) and asserts what a cluster with kubelets would show: Jobs complete,
taints and resources steer the scheduler, admission and RBAC refuse requests,
and the ``mlctl.test/behavior`` label produces the pod failures mlctl must
report.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tests.cluster.testbed import NODES, PRIORITY_CLASSES

T = TypeVar("T")
SPOT_NODES = {n.name for n in NODES if n.pool == "spot"}
FAKE_NODES = {n.name for n in NODES}
SPOT_TOLERATION = {"key": "node-lifecycle", "operator": "Equal", "value": "spot", "effect": "NoSchedule"}


def wait_for(check: Callable[[], T | None], what: str, timeout: float = 30.0) -> T:
    """Poll ``check`` until it returns something truthy; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.25)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


def pod_manifest(
    name: str,
    *,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    restart_policy: str = "Never",
    requests: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "main", "image": "registry.example/mlctl/job:1"}
    if requests:
        container["resources"] = {"requests": requests, "limits": requests}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}, "annotations": annotations or {}},
        "spec": {"containers": [container], "restartPolicy": restart_policy, **spec},
    }


def message(error: ApiException) -> str:
    """The message of the Status object the API server answered with."""
    return str(json.loads(error.body)["message"])


def scheduled_condition(pod: Any) -> Any:
    return next((c for c in pod.status.conditions or [] if c.type == "PodScheduled"), None)


@pytest.fixture
def core(api_client: Any) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


def read_pod(core: client.CoreV1Api, namespace: str, name: str) -> Any:
    return core.read_namespaced_pod(name, namespace)


def test_fake_nodes_are_ready_with_their_pools(core: client.CoreV1Api) -> None:
    nodes = {n.metadata.name: n for n in core.list_node().items}
    assert set(nodes) >= FAKE_NODES
    for name in FAKE_NODES:
        ready = {c.type: c.status for c in nodes[name].status.conditions}["Ready"]
        assert ready == "True", name
    for name in SPOT_NODES:
        assert nodes[name].metadata.labels["node-lifecycle"] == "spot"
        assert [(t.key, t.value, t.effect) for t in nodes[name].spec.taints] == [
            ("node-lifecycle", "spot", "NoSchedule")
        ]
    gpu = nodes["gpu-1"]
    assert gpu.status.allocatable["nvidia.com/gpu"] == "4"
    assert gpu.metadata.labels["accelerator"] == "nvidia"
    classes = client.SchedulingV1Api(core.api_client).list_priority_class().items
    values = {pc.metadata.name: (pc.value, pc.global_default) for pc in classes}
    for name, value in PRIORITY_CLASSES.items():
        assert values[name][0] == value and not values[name][1], name


def test_job_completes_on_a_fake_node(core: client.CoreV1Api, namespace: str) -> None:
    batch = client.BatchV1Api(core.api_client)
    template = pod_manifest("ignored", annotations={"mlctl.test/run-duration": "2s"})
    del template["apiVersion"], template["kind"], template["metadata"]["name"]
    batch.create_namespaced_job(
        namespace,
        {
            "metadata": {"name": "train"},
            "spec": {"backoffLimit": 0, "template": template},
        },
    )

    job = wait_for(
        lambda: (j := batch.read_namespaced_job("train", namespace)).status.succeeded and j, "Job train to succeed"
    )
    assert any(c.type == "Complete" and c.status == "True" for c in job.status.conditions)
    (pod,) = core.list_namespaced_pod(namespace, label_selector="job-name=train").items
    assert pod.spec.node_name in FAKE_NODES - SPOT_NODES
    assert pod.status.phase == "Succeeded"
    terminated = pod.status.container_statuses[0].state.terminated
    assert (terminated.exit_code, terminated.reason) == (0, "Completed")
    # The run-duration annotation kept the container running for about 2s.
    ran = (terminated.finished_at - pod.status.start_time).total_seconds()
    assert 1.5 <= ran < 15, ran


def test_long_running_pods_keep_running(core: client.CoreV1Api, namespace: str) -> None:
    apps = client.AppsV1Api(core.api_client)
    labels = {"app": "serve"}
    template = pod_manifest("ignored", labels=labels, restart_policy="Always")
    del template["apiVersion"], template["kind"], template["metadata"]["name"]
    apps.create_namespaced_deployment(
        namespace,
        {
            "metadata": {"name": "serve"},
            "spec": {"replicas": 2, "selector": {"matchLabels": labels}, "template": template},
        },
    )
    wait_for(lambda: apps.read_namespaced_deployment("serve", namespace).status.ready_replicas == 2, "2 ready replicas")
    time.sleep(3)  # longer than the default run duration of completing pods
    pods = core.list_namespaced_pod(namespace, label_selector="app=serve").items
    assert [p.status.phase for p in pods] == ["Running", "Running"]


def test_pod_without_spot_toleration_never_lands_on_spot(core: client.CoreV1Api, namespace: str) -> None:
    spot_only = {"node-lifecycle": "spot"}
    core.create_namespaced_pod(namespace, pod_manifest("no-toleration", node_selector=spot_only))
    core.create_namespaced_pod(
        namespace, pod_manifest("tolerates", node_selector=spot_only, tolerations=[SPOT_TOLERATION])
    )
    for i in range(10):
        core.create_namespaced_pod(
            namespace, pod_manifest(f"plain-{i}", restart_policy="Always", requests={"cpu": "100m"})
        )

    tolerating = wait_for(
        lambda: (p := read_pod(core, namespace, "tolerates")).spec.node_name and p, "the tolerating pod to be scheduled"
    )
    assert tolerating.spec.node_name in SPOT_NODES

    def refused() -> Any:
        cond = scheduled_condition(read_pod(core, namespace, "no-toleration"))
        return cond if cond is not None and cond.status == "False" else None

    cond = wait_for(refused, "the scheduler to refuse the pod without toleration")
    assert cond.reason == "Unschedulable"
    assert f"{len(SPOT_NODES)} node(s) had untolerated taint" in cond.message

    def all_placed() -> list[str] | None:
        nodes = [
            p.spec.node_name for p in core.list_namespaced_pod(namespace).items if p.metadata.name.startswith("plain-")
        ]
        return nodes if len(nodes) == 10 and all(nodes) else None

    nodes = wait_for(all_placed, "10 plain pods to be scheduled")
    assert not SPOT_NODES & set(nodes), nodes
    assert read_pod(core, namespace, "no-toleration").spec.node_name is None


def test_unschedulable_pod_reports_the_scheduler_reason(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_pod(namespace, pod_manifest("too-big", requests={"cpu": "64"}))

    def condition() -> Any:
        cond = scheduled_condition(read_pod(core, namespace, "too-big"))
        return cond if cond is not None and cond.status == "False" else None

    cond = wait_for(condition, "PodScheduled=False")
    assert cond.reason == "Unschedulable"
    assert f"0/{len(NODES)} nodes are available" in cond.message
    assert "Insufficient cpu" in cond.message
    assert read_pod(core, namespace, "too-big").status.phase == "Pending"


def test_gpu_pod_lands_on_the_gpu_node(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_pod(
        namespace, pod_manifest("cuda", restart_policy="Always", requests={"nvidia.com/gpu": "2"})
    )
    core.create_namespaced_pod(namespace, pod_manifest("greedy", requests={"nvidia.com/gpu": "8"}))

    pod = wait_for(
        lambda: (p := read_pod(core, namespace, "cuda")).status.phase == "Running" and p, "the GPU pod to run"
    )
    assert pod.spec.node_name == "gpu-1"
    cond = wait_for(
        lambda: scheduled_condition(read_pod(core, namespace, "greedy")), "the greedy GPU pod to be refused"
    )
    assert cond.reason == "Unschedulable"
    assert "Insufficient nvidia.com/gpu" in cond.message


def test_image_pull_backoff(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_pod(
        namespace, pod_manifest("bad-image", labels={"mlctl.test/behavior": "image-pull-backoff"})
    )

    def waiting() -> Any:
        statuses = read_pod(core, namespace, "bad-image").status.container_statuses
        return statuses and statuses[0].state.waiting

    state = wait_for(waiting, "the container to wait")
    assert state.reason == "ImagePullBackOff"
    assert "registry.example/mlctl/job:1" in state.message
    time.sleep(2)  # it stays that way
    pod = read_pod(core, namespace, "bad-image")
    assert pod.status.phase == "Pending"
    assert pod.status.container_statuses[0].state.waiting.reason == "ImagePullBackOff"
    events = wait_for(
        lambda: (
            core.list_namespaced_event(namespace, field_selector="involvedObject.name=bad-image,reason=Failed").items
        ),
        "the Failed event",
    )
    assert "ImagePullBackOff" in events[0].message


def test_pod_labelled_fail_ends_failed(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_pod(namespace, pod_manifest("crash", labels={"mlctl.test/behavior": "fail"}))
    pod = wait_for(lambda: (p := read_pod(core, namespace, "crash")).status.phase == "Failed" and p, "the pod to fail")
    terminated = pod.status.container_statuses[0].state.terminated
    assert (terminated.exit_code, terminated.reason) == (1, "Error")


def test_job_with_failing_pod_fails(core: client.CoreV1Api, namespace: str) -> None:
    batch = client.BatchV1Api(core.api_client)
    template = pod_manifest("ignored", labels={"mlctl.test/behavior": "fail"})
    del template["apiVersion"], template["kind"], template["metadata"]["name"]
    batch.create_namespaced_job(
        namespace, {"metadata": {"name": "broken"}, "spec": {"backoffLimit": 0, "template": template}}
    )

    def failed() -> Any:
        conditions = batch.read_namespaced_job("broken", namespace).status.conditions or []
        return next((c for c in conditions if c.type == "Failed" and c.status == "True"), None)

    assert wait_for(failed, "the Job to fail").reason == "BackoffLimitExceeded"


def test_crash_loop_backoff(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_pod(
        namespace, pod_manifest("flaky", restart_policy="Always", labels={"mlctl.test/behavior": "crash-loop-backoff"})
    )

    def backing_off() -> Any:
        statuses = read_pod(core, namespace, "flaky").status.container_statuses
        return statuses and statuses[0].state.waiting and statuses[0]

    status = wait_for(backing_off, "CrashLoopBackOff")
    assert status.state.waiting.reason == "CrashLoopBackOff"
    assert status.restart_count == 1 and status.last_state.terminated.exit_code == 1
    assert read_pod(core, namespace, "flaky").status.phase == "Running"


def test_priority_admission(core: client.CoreV1Api, namespace: str) -> None:
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_pod(namespace, pod_manifest("ghost-priority", priority_class_name="does-not-exist"))
    assert refused.value.status in (403, 422)
    assert "no PriorityClass with name does-not-exist was found" in message(refused.value)

    high = core.create_namespaced_pod(namespace, pod_manifest("urgent", priority_class_name="high"))
    assert high.spec.priority == PRIORITY_CLASSES["high"]
    # No class is the global default, so a pod without one gets priority 0.
    plain = core.create_namespaced_pod(namespace, pod_manifest("plain"))
    assert plain.spec.priority == 0


def test_restricted_user_is_refused(core: client.CoreV1Api, namespace: str, restricted_kubeconfig: Path) -> None:
    core.create_namespaced_pod(namespace, pod_manifest("visible"))
    restricted = config.new_client_from_config(config_file=str(restricted_kubeconfig))
    try:
        rcore = client.CoreV1Api(restricted)
        # Granted: reading pods in its namespace.
        names = [p.metadata.name for p in rcore.list_namespaced_pod(namespace).items]
        assert names == ["visible"]
        assert rcore.read_namespaced_pod("visible", namespace).metadata.name == "visible"

        refused: list[Callable[[], Any]] = [
            lambda: rcore.list_namespaced_pod("default"),
            lambda: rcore.list_pod_for_all_namespaces(),
            lambda: rcore.create_namespaced_pod(namespace, pod_manifest("sneaky")),
            lambda: rcore.delete_namespaced_pod("visible", namespace),
            lambda: rcore.list_namespaced_secret(namespace),
            lambda: rcore.list_node(),
            lambda: client.BatchV1Api(restricted).list_namespaced_job(namespace),
        ]
        for call in refused:
            with pytest.raises(ApiException) as err:
                call()
            assert err.value.status == 403, err.value.body
            assert 'User "mlctl-restricted" cannot' in message(err.value)
    finally:
        restricted.close()


def test_crds_validate_against_upstream_schemas(core: client.CoreV1Api, namespace: str) -> None:
    custom = client.CustomObjectsApi(core.api_client)
    worker = {
        "replicas": 2,
        "template": {"spec": {"containers": [{"name": "worker", "image": "mpioperator/mpi-pi:openmpi"}]}},
    }

    def mpijob(**spec: Any) -> dict[str, Any]:
        return {
            "apiVersion": "kubeflow.org/v2beta1",
            "kind": "MPIJob",
            "metadata": {"name": "pi"},
            "spec": {"mpiReplicaSpecs": {"Launcher": {**worker, "replicas": 1}, "Worker": worker}, **spec},
        }

    def create(group: str, version: str, plural: str, body: dict[str, Any]) -> Any:
        return custom.create_namespaced_custom_object(
            group, version, namespace, plural, body, dry_run="All", field_validation="Strict"
        )

    accepted = create("kubeflow.org", "v2beta1", "mpijobs", mpijob(slotsPerWorker=1))
    assert accepted["spec"]["mpiImplementation"] == "OpenMPI"  # upstream default applied
    with pytest.raises(ApiException) as bad_type:
        create("kubeflow.org", "v2beta1", "mpijobs", mpijob(slotsPerWorker="two"))
    assert bad_type.value.status == 422 and "slotsPerWorker" in message(bad_type.value)
    with pytest.raises(ApiException) as unknown:
        create("kubeflow.org", "v2beta1", "mpijobs", mpijob(workers=3))
    assert unknown.value.status == 400
    assert 'unknown field "spec.workers"' in message(unknown.value)

    create(
        "sparkoperator.k8s.io",
        "v1beta2",
        "sparkapplications",
        {
            "apiVersion": "sparkoperator.k8s.io/v1beta2",
            "kind": "SparkApplication",
            "metadata": {"name": "pi"},
            "spec": {
                "type": "Python",
                "sparkVersion": "3.5.0",
                "mode": "cluster",
                "mainApplicationFile": "local:///app/pi.py",
                "driver": {"cores": 1, "memory": "512m"},
                "executor": {"instances": 2, "cores": 1, "memory": "512m"},
            },
        },
    )
    with pytest.raises(ApiException) as missing:
        create(
            "sparkoperator.k8s.io",
            "v1beta2",
            "sparkapplications",
            {
                "apiVersion": "sparkoperator.k8s.io/v1beta2",
                "kind": "SparkApplication",
                "metadata": {"name": "pi"},
                "spec": {"type": "Python"},
            },
        )
    assert missing.value.status == 422 and "sparkVersion" in message(missing.value)

    pod_spec = {"containers": [{"name": "dask", "image": "ghcr.io/dask/dask:latest"}]}
    create(
        "kubernetes.dask.org",
        "v1",
        "daskclusters",
        {
            "apiVersion": "kubernetes.dask.org/v1",
            "kind": "DaskCluster",
            "metadata": {"name": "dask"},
            "spec": {
                "worker": {"replicas": 2, "spec": pod_spec},
                "scheduler": {
                    "spec": pod_spec,
                    "service": {"type": "ClusterIP", "ports": [{"name": "comm", "port": 8786, "protocol": "TCP"}]},
                },
            },
        },
    )

    # NuclioFunction keeps upstream's schema-less spec: anything goes.
    created = create(
        "nuclio.io",
        "v1beta1",
        "nucliofunctions",
        {
            "apiVersion": "nuclio.io/v1beta1",
            "kind": "NuclioFunction",
            "metadata": {"name": "fn"},
            "spec": {"runtime": "python:3.11", "anything": {"x": 1}},
        },
    )
    assert created["spec"]["anything"] == {"x": 1}

    crds = client.ApiextensionsV1Api(core.api_client).list_custom_resource_definition().items
    served = {(c.spec.names.kind, v.name) for c in crds for v in c.spec.versions if v.served}
    assert served >= {
        ("MPIJob", "v2beta1"),
        ("DaskCluster", "v1"),
        ("DaskWorkerGroup", "v1"),
        ("DaskJob", "v1"),
        ("DaskAutoscaler", "v1"),
        ("SparkApplication", "v1beta2"),
        ("NuclioFunction", "v1beta1"),
    }
