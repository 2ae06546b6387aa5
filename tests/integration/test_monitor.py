"""``mlctl monitor``: detached runs are held to their thresholds by a separate process.

The monitor runs as a child process, as it would beside CI jobs or in the
cluster; it is killed and restarted, run twice at once, and installed into
the namespace with its own least-privilege identity.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from tests.cluster.testbed import Testbed
from tests.integration.support import (
    ABORT_TEXT,
    Kube,
    Mlctl,
    Process,
    Spawner,
    job_spec,
    long_running,
    seconds,
    wait_for,
)

pytest_plugins = ["tests.integration.fixtures"]

NOWHERE = "mlctl.test/pool=nowhere"  # a node selector no node matches: the pod stays unscheduled


def start_stuck_run(mlctl: Mlctl, spec: Path, limit: str, namespace: str = "") -> str:
    """A detached run whose pod can never be scheduled, aborted after ``limit`` unscheduled."""
    result = mlctl(
        "run",
        str(spec),
        "--detach",
        "--node-selector",
        NOWHERE,
        "--threshold",
        f"pending_not_scheduled={limit}",
        namespace=namespace,
    )
    assert result.code == 0, result
    return result.stdout.strip()


def state_of(mlctl: Mlctl, run_id: str, namespace: str = "") -> str:
    result = mlctl("runs", "get", run_id, "-o", "json", namespace=namespace)
    assert result.code == 0, result
    return str(result.json()["state"])


def wait_until_aborted(mlctl: Mlctl, run_id: str, timeout: float = 30.0, namespace: str = "") -> dict[str, Any]:
    wait_for(lambda: state_of(mlctl, run_id, namespace) == "aborted", f"run {run_id} to be aborted", timeout, every=0.5)
    return dict(mlctl("runs", "get", run_id, "-o", "json", namespace=namespace).json())


def watching(monitor: Process) -> bool:
    return "monitoring runs in namespace" in monitor.stderr


def abort_lines(monitor: Process, run_id: str) -> list[str]:
    return [line for line in monitor.stderr.splitlines() if line.startswith(f"run {run_id} ")]


def test_a_monitor_aborts_a_detached_run_past_its_threshold(
    mlctl: Mlctl, spawn: Spawner, kube: Kube, tmp_path: Path, namespace: str
) -> None:
    monitor = spawn("monitor", label="monitor")
    run_id = start_stuck_run(mlctl, job_spec(tmp_path), "3s")

    record = wait_until_aborted(mlctl, run_id)

    match = ABORT_TEXT.fullmatch(record["status_text"])
    assert match, record
    assert (match["state"], match["limit"]) == ("pending_not_scheduled", "3s")
    assert 3 <= seconds(match["waited"]) <= 5  # aborted when the limit passed, not at some later poll
    assert wait_for(lambda: not kube.pods(run_id), "the run's pods to be deleted", timeout=10)
    assert wait_for(lambda: abort_lines(monitor, run_id), "the monitor to report the abort", timeout=5) == [
        f"run {run_id} ({namespace}): {record['status_text']}"
    ]


def test_a_monitor_killed_mid_way_and_restarted_aborts_on_time(
    mlctl: Mlctl, spawn: Spawner, kube: Kube, tmp_path: Path
) -> None:
    first = spawn("monitor", label="first")
    wait_for(lambda: watching(first), "the first monitor to start")
    run_id = start_stuck_run(mlctl, job_spec(tmp_path), "8s")
    time.sleep(3)  # the first monitor has seen the pod and is waiting for its deadline
    first.kill()  # SIGKILL: no goodbye
    time.sleep(1)

    spawn("monitor", label="second")
    record = wait_until_aborted(mlctl, run_id)

    assert abort_lines(first, run_id) == []
    match = ABORT_TEXT.fullmatch(record["status_text"])
    assert match, record
    # time in state comes from the pod, not from when the second monitor started
    assert 8 <= seconds(match["waited"]) <= 10
    assert wait_for(lambda: not kube.pods(run_id), "the run's pods to be deleted", timeout=10)


def test_monitor_once_aborts_only_the_runs_already_past_their_limit(mlctl: Mlctl, kube: Kube, tmp_path: Path) -> None:
    soon = start_stuck_run(mlctl, job_spec(tmp_path, "soon"), "2s")
    later = start_stuck_run(mlctl, job_spec(tmp_path, "later"), "1h")
    kube.pod_of(soon)
    kube.pod_of(later)

    early = mlctl("monitor", "--once")
    assert early.code == 0, early
    assert (state_of(mlctl, soon), state_of(mlctl, later)) == ("pending", "pending")
    time.sleep(2.5)
    result = mlctl("monitor", "--once")

    assert result.code == 0, result
    assert f"run {soon} " in result.stderr
    assert f"run {later} " not in result.stderr
    assert (state_of(mlctl, soon), state_of(mlctl, later)) == ("aborted", "pending")
    assert wait_for(lambda: not kube.pods(soon), "the aborted run's pods to be deleted", timeout=10)
    assert kube.pods(later)


def test_two_monitors_at_once_abort_each_run_once(mlctl: Mlctl, spawn: Spawner, tmp_path: Path) -> None:
    monitors = [spawn("monitor", label=f"monitor-{i}") for i in (1, 2)]
    for monitor in monitors:
        wait_for(lambda m=monitor: watching(m), "both monitors to start")  # type: ignore[misc]
    spec = job_spec(tmp_path)
    runs = [start_stuck_run(mlctl, spec, "3s") for _ in range(4)]

    records = {run_id: wait_until_aborted(mlctl, run_id) for run_id in runs}
    time.sleep(1)  # a monitor that lost the race would have reported by now

    reports = Counter(run_id for run_id in runs for m in monitors for _ in abort_lines(m, run_id))
    assert reports == dict.fromkeys(runs, 1)
    for record in records.values():
        assert ABORT_TEXT.fullmatch(record["status_text"]), record


def test_a_monitor_of_all_namespaces_aborts_a_stuck_run_in_each_and_ends_an_abort_left_half_done(
    mlctl: Mlctl, spawn: Spawner, kube: Kube, tmp_path: Path, namespace: str, testbed: Testbed
) -> None:
    other = testbed.create_namespace("monitor-all-other")
    elsewhere = Kube(kube.api, other)
    try:
        # in the other namespace, a Spark run whose abort a killed watcher recorded but whose driver it never
        # deleted (nothing suspends a SparkApplication: the abort deletes its pods itself)
        half_done, driver = start_spark_run(mlctl, elsewhere, tmp_path)
        finished = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        record = {"mlctl.io/state": "aborted", "mlctl.io/status-text": "aborted by user", "mlctl.io/finished": finished}
        elsewhere.custom.patch_namespaced_custom_object(
            *SPARK, other, "sparkapplications", f"etl-{half_done}", {"metadata": {"annotations": record}}
        )
        monitor = spawn("monitor", "--all-namespaces", label="monitor", namespace=None)
        wait_for(lambda: "monitoring runs in all namespaces" in monitor.stderr, "the monitor to start")
        spec = job_spec(tmp_path)

        stuck = {namespace: start_stuck_run(mlctl, spec, "3s"), other: start_stuck_run(mlctl, spec, "3s", other)}

        for where, run_id in stuck.items():
            aborted = wait_until_aborted(mlctl, run_id, namespace=where)
            assert ABORT_TEXT.fullmatch(aborted["status_text"]), aborted
            assert wait_for(lambda r=run_id: abort_lines(monitor, r), "the monitor to report the abort", 10) == [  # type: ignore[misc]
                f"run {run_id} ({where}): {aborted['status_text']}"
            ]
        assert wait_for(lambda: not kube.pods(stuck[namespace]), "the aborted run's pods to go", 10)
        assert wait_for(lambda: not elsewhere.pods(stuck[other]), "the other aborted run's pods to go", 10)
        assert wait_for(lambda: not elsewhere.pods(half_done), f"the half-aborted run's pod {driver} to go", 30)
        app = elsewhere.custom.get_namespaced_custom_object(*SPARK, other, "sparkapplications", f"etl-{half_done}")
        assert app["metadata"]["annotations"]["mlctl.io/finished"] == finished  # its record is not written again
        assert abort_lines(monitor, half_done) == []
    finally:
        testbed.delete_namespace(other)


SPARK = ("sparkoperator.k8s.io", "v1beta2")


def start_spark_run(mlctl: Mlctl, kube: Kube, folder: Path) -> tuple[str, str]:
    """A detached Spark run and its driver pod, Running, made as the Spark operator would (none runs here)."""
    spec = folder / "etl.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "kind": "spark",
                "metadata": {"name": "etl", "project": "itest"},
                "spec": {"image": "python:3.11-slim", "command": "local:///app/etl.py", "replicas": 1},
            }
        )
    )
    result = mlctl("run", str(spec), "--detach", namespace=kube.namespace)
    assert result.code == 0, result
    run_id = result.stdout.strip()
    app = kube.custom.get_namespaced_custom_object(*SPARK, kube.namespace, "sparkapplications", f"etl-{run_id}")
    driver = f"etl-{run_id}-driver"
    kube.core.create_namespaced_pod(
        kube.namespace,
        {
            "metadata": {
                "name": driver,
                "labels": {**app["metadata"]["labels"], "spark-role": "driver"},
                "annotations": long_running(),
            },
            "spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "spark-kubernetes-driver", "image": app["spec"]["image"]}],
            },
        },
    )
    kube.running_pod(run_id)
    return run_id, driver


# --------------------------------------------------------------------------- monitor --install


def test_monitor_install_dry_run_prints_the_manifests_and_writes_nothing(mlctl: Mlctl, kube: Kube) -> None:
    result = mlctl("monitor", "--install", "--dry-run", "--image", "registry.example/mlctl:1")

    assert result.code == 0, result
    documents = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert sorted(d["kind"] for d in documents) == ["Deployment", "Role", "RoleBinding", "ServiceAccount"]
    deployment = next(d for d in documents if d["kind"] == "Deployment")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example/mlctl:1"
    assert kube.written() == []


def can(api: Any, user: str, verb: str, resource: str, namespace: str, group: str = "") -> bool:
    review = client.AuthorizationV1Api(api).create_subject_access_review(
        {
            "spec": {
                "user": user,
                "groups": ["system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"],
                "resourceAttributes": {"namespace": namespace, "verb": verb, "group": group, "resource": resource},
            }
        }
    )
    return bool(review.status.allowed)


def service_account_kubeconfig(api: Any, admin_kubeconfig: Path, namespace: str, name: str, path: Path) -> Path:
    token = client.CoreV1Api(api).create_namespaced_service_account_token(
        name, namespace, {"spec": {"expirationSeconds": 600}}
    )
    cluster = yaml.safe_load(admin_kubeconfig.read_text())["clusters"][0]
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [cluster],
                "users": [{"name": name, "user": {"token": token.status.token}}],
                "contexts": [{"name": name, "context": {"cluster": cluster["name"], "user": name}}],
                "current-context": name,
            }
        )
    )
    return path


def test_monitor_install_runs_the_monitor_with_just_the_permissions_it_needs(
    mlctl: Mlctl, kube: Kube, tmp_path: Path, api_client: Any, kubeconfig: Path, namespace: str
) -> None:
    result = mlctl("monitor", "--install")

    assert result.code == 0, result
    assert {"deployment/mlctl-monitor", "role/mlctl-monitor", "serviceaccount/mlctl-monitor"} <= set(kube.written())
    binding = kube.rbac.read_namespaced_role_binding("mlctl-monitor", namespace)
    assert (binding.role_ref.kind, binding.role_ref.name) == ("Role", "mlctl-monitor")
    assert [(s.kind, s.name) for s in binding.subjects] == [("ServiceAccount", "mlctl-monitor")]
    deployment = wait_for(
        lambda: (d := kube.apps.read_namespaced_deployment("mlctl-monitor", namespace)).status.available_replicas and d,
        "the monitor Deployment to be available",
    )
    assert deployment.spec.template.spec.service_account_name == "mlctl-monitor"
    again = mlctl("monitor", "--install")
    assert again.code == 0, again
    assert "deployment/mlctl-monitor unchanged" in again.stderr

    identity = f"system:serviceaccount:{namespace}:mlctl-monitor"
    needed = [("watch", "pods", ""), ("delete", "pods", ""), ("list", "jobs", "batch"), ("patch", "jobs", "batch")]
    needed.append(("patch", "pods", ""))  # a stopped Job pod's tracking finalizer is released
    for verb, resource, group in needed:
        assert can(api_client, identity, verb, resource, namespace, group), f"may not {verb} {resource}"
    beyond = [("create", "pods", ""), ("get", "secrets", ""), ("delete", "jobs", "batch"), ("update", "pods", "")]
    for verb, resource, group in beyond:
        assert not can(api_client, identity, verb, resource, namespace, group), f"may {verb} {resource}"
    assert not can(api_client, identity, "list", "pods", "default")

    # and with just those permissions, the monitor does its job
    as_monitor = service_account_kubeconfig(
        api_client, kubeconfig, namespace, "mlctl-monitor", tmp_path / "sa.kubeconfig"
    )
    run_id = start_stuck_run(mlctl, job_spec(tmp_path), "2s")
    kube.pod_of(run_id)
    time.sleep(2.5)
    checked = mlctl("monitor", "--once", kubeconfig=as_monitor)
    assert checked.code == 0, checked
    assert state_of(mlctl, run_id) == "aborted"
    assert wait_for(lambda: not kube.pods(run_id), "the run's pods to be deleted", timeout=10)
