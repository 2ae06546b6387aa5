"""Checks of what the testbed adds to the control plane: kubelets that answer on
127.0.0.1, metrics-server behind the metrics.k8s.io API, the operators, the
ContainerCreating stage and a spot node reclaimed as a cloud would.
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from tests.cluster.testbed import NODES, Testbed
from tests.integration.test_testbed import pod_manifest, wait_for

SPOT_TOLERATION = {"key": "node-lifecycle", "operator": "Equal", "value": "spot", "effect": "NoSchedule"}


@pytest.fixture
def core(api_client: Any) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


def test_every_node_is_reached_at_127_0_0_1_on_kwoks_kubelet_port(core: client.CoreV1Api) -> None:
    for node in core.list_node().items:
        addresses = {a.type: a.address for a in node.status.addresses}
        assert addresses["InternalIP"] == "127.0.0.1", node.metadata.name
        assert node.status.daemon_endpoints.kubelet_endpoint.port > 0


def test_pod_logs_come_from_the_file_the_test_writes(core: client.CoreV1Api, testbed: Testbed, namespace: str) -> None:
    # The node names (cpu-1, ...) resolve nowhere: the log request reaching
    # kwok shows the API server went to the InternalIP, not to a name.
    log = testbed.serve_logs(namespace)
    testbed.append_log(log, "hello from the pod", "second line")
    core.create_namespaced_pod(namespace, pod_manifest("talker", annotations={"mlctl.test/run-duration": "1h"}))
    wait_for(lambda: core.read_namespaced_pod("talker", namespace).status.phase == "Running", "the pod to run")

    text = wait_for(lambda: core.read_namespaced_pod_log("talker", namespace), "the pod's log")

    assert text.splitlines() == ["hello from the pod", "second line"]


@pytest.mark.long
def test_metrics_server_reports_the_simulated_usage(
    core: client.CoreV1Api, api_client: Any, testbed: Testbed, namespace: str
) -> None:
    testbed.set_cpu_usage(namespace, "300m", memory="100Mi")
    core.create_namespaced_pod(
        namespace, pod_manifest("busy", restart_policy="Always", requests={"cpu": "500m", "memory": "128Mi"})
    )
    custom = client.CustomObjectsApi(api_client)

    def usage() -> dict[str, Any] | None:
        items = custom.list_namespaced_custom_object("metrics.k8s.io", "v1beta1", namespace, "pods")["items"]
        return items[0]["containers"][0]["usage"] if items else None

    found = wait_for(usage, "metrics.k8s.io to report the pod", timeout=90)

    cpu = found["cpu"]
    millicores = int(cpu[:-1]) / 1e6 if cpu.endswith("n") else float(cpu.rstrip("m"))
    assert 250 <= millicores <= 350, found
    nodes = custom.list_cluster_custom_object("metrics.k8s.io", "v1beta1", "nodes")["items"]
    assert {n["metadata"]["name"] for n in nodes} <= {n.name for n in NODES}


def test_the_operators_hold_their_leases_and_answer(api_client: Any) -> None:
    lease = client.CoordinationV1Api(api_client).read_namespaced_lease("mpi-operator", "mpi-operator")
    assert lease.spec.holder_identity


def test_a_container_creating_pod_is_pending_and_scheduled(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_pod(
        namespace,
        pod_manifest(
            "slow-start",
            labels={"mlctl.test/behavior": "container-creating"},
            annotations={"mlctl.test/creating-duration": "3s"},
        ),
    )

    def waiting_reason() -> str | None:
        pod = core.read_namespaced_pod("slow-start", namespace)
        statuses = pod.status.container_statuses or []
        if pod.status.phase == "Pending" and statuses and statuses[0].state.waiting:
            scheduled = {c.type: c.status for c in pod.status.conditions or []}.get("PodScheduled")
            return f"{statuses[0].state.waiting.reason}/{scheduled}"
        return None

    assert wait_for(waiting_reason, "ContainerCreating") == "ContainerCreating/True"
    assert wait_for(
        lambda: core.read_namespaced_pod("slow-start", namespace).status.phase == "Running", "the pod to start"
    )


def test_a_reclaimed_spot_node_evicts_its_pods_with_a_disruption_target(
    core: client.CoreV1Api, testbed: Testbed, namespace: str
) -> None:
    manifest = pod_manifest(
        "spot-worker",
        annotations={"mlctl.test/run-duration": "1h"},
        nodeName="spot-1",
        tolerations=[SPOT_TOLERATION],
    )
    manifest["metadata"]["finalizers"] = ["mlctl.test/hold"]  # keep the evicted pod to read it
    core.create_namespaced_pod(namespace, manifest)
    wait_for(lambda: core.read_namespaced_pod("spot-worker", namespace).status.phase == "Running", "the pod to run")
    try:
        testbed.reclaim_node("spot-1")

        # The taint-eviction controller writes the condition to the pod's
        # status first and deletes the pod in a second request: a pod read in
        # between has the condition but no deletion yet. Once the deletion is
        # there, the condition is too.
        def evicted() -> Any:
            pod = core.read_namespaced_pod("spot-worker", namespace)
            return pod if pod.metadata.deletion_timestamp else None

        pod = wait_for(evicted, "the taint-eviction controller to delete the pod", timeout=30)
        condition = next((c for c in pod.status.conditions or [] if c.type == "DisruptionTarget"), None)
        assert condition is not None, pod.status.conditions
        assert (condition.status, condition.reason) == ("True", "DeletionByTaintManager")
    finally:
        testbed.restore_node("spot-1")
        core.patch_namespaced_pod("spot-worker", namespace, {"metadata": {"finalizers": None}})
    node = core.read_node("spot-1")
    assert "mlctl.test/reclaimed" not in {t.key for t in node.spec.taints or []}
