"""Kind ``mpijob``: one run is one MPIJob; a launcher runs mpirun, N workers run sshd."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mlctl import config as config_
from mlctl import pipeline
from mlctl.errors import InvalidInput
from mlctl.render import mpijob
from mlctl.render.context import RenderContext
from mlctl.spec import retry as retry_
from tests.unit import manifest_schemas
from tests.unit.render_support import DEFAULT, SPOT, SPOT_LABELS_ONLY, SPOT_TOLERATION, by_kind, env_of, render, spec_of
from tests.unit.support import EXAMPLES


def mpi(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return by_kind(objects, "MPIJob")


def template(objects: list[dict[str, Any]], role: str) -> dict[str, Any]:
    found: dict[str, Any] = mpi(objects)["spec"]["mpiReplicaSpecs"][role]["template"]
    return found


def container(objects: list[dict[str, Any]], role: str) -> dict[str, Any]:
    (found,) = template(objects, role)["spec"]["containers"]
    return dict(found)


def test_replicas_are_the_worker_count_and_the_launcher_runs_mpirun() -> None:
    objects = render(spec_of("mpijob", replicas=3))
    job = mpi(objects)
    assert job["apiVersion"] == "kubeflow.org/v2beta1"
    assert job["spec"]["mpiReplicaSpecs"]["Worker"]["replicas"] == 3
    assert job["spec"]["mpiReplicaSpecs"]["Launcher"]["replicas"] == 1
    command = container(objects, "Launcher")["command"]
    assert command[0] == "mpirun"
    assert command[-2:] == ["python", "/opt/mlctl/bootstrap.py"]
    manifest_schemas.check(objects)


def test_one_worker_when_replicas_is_not_set() -> None:
    assert mpi(render(spec_of("mpijob")))["spec"]["mpiReplicaSpecs"]["Worker"]["replicas"] == 1


def test_launcher_passes_mlruns_default_mpi_args_and_exports_the_run() -> None:
    command = container(render(spec_of("mpijob")), "Launcher")["command"]
    joined = " ".join(command)
    assert "-x NCCL_SOCKET_NTHREADS=2 -x NCCL_NSOCKS_PERTHREAD=8 -x NCCL_MIN_NCHANNELS=4" in joined
    assert "-x MLCTL_RUN" in joined
    assert "-x PATH" in joined


def test_ranks_see_the_functions_variables_through_mpirun() -> None:
    token = {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "t"}}}
    objects = render(spec_of("mpijob", env=[{"name": "EPOCHS", "value": "3"}, token]))
    command = container(objects, "Launcher")["command"]
    for name in ("EPOCHS", "TOKEN", "MLCTL_RUN"):
        assert command[command.index(name) - 1] == "-x"


def test_given_mpi_args_replace_the_defaults() -> None:
    command = container(render(spec_of("mpijob", mpi_args=["-np", "4", "--allow-run-as-root"])), "Launcher")["command"]
    assert command[:4] == ["mpirun", "-np", "4", "--allow-run-as-root"]
    assert "NCCL_SOCKET_NTHREADS=2" not in command


def test_the_run_reaches_the_launcher_as_json() -> None:
    objects = render(spec_of("mpijob"), params={"lr": 0.1})
    run = json.loads(env_of(container(objects, "Launcher"))["MLCTL_RUN"])
    assert run["run_id"] == "abc12345"
    assert run["params"] == {"lr": 0.1}
    assert run["handler"] == "handler"


def test_workers_give_no_command_so_the_operator_starts_sshd() -> None:
    worker = container(render(spec_of("mpijob", args=["--epochs", "3"])), "Worker")
    assert "command" not in worker
    assert "args" not in worker


def test_resources_go_to_workers_only() -> None:
    objects = render(
        spec_of(
            "mpijob",
            resources={"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"memory": "4Gi", "nvidia.com/gpu": 1}},
        )
    )
    assert container(objects, "Worker")["resources"] == {
        "requests": {"cpu": "2", "memory": "4Gi"},
        "limits": {"memory": "4Gi", "nvidia.com/gpu": 1},
    }
    assert "resources" not in container(objects, "Launcher")


def test_launcher_gets_the_configured_default_pod_resources() -> None:
    config = config_.resolve({"MLCTL_DEFAULT_FUNCTION_POD_RESOURCES": '{"requests": {"cpu": "100m"}}'}, [])
    objects = render(spec_of("mpijob", resources={"requests": {"cpu": "2"}}), config)
    assert container(objects, "Launcher")["resources"] == {"requests": {"cpu": "100m"}}
    assert container(objects, "Worker")["resources"] == {"requests": {"cpu": "2"}}


def test_both_templates_carry_ipc_lock_and_the_pod_settings() -> None:
    config = config_.resolve({"MLCTL_VALID_FUNCTION_PRIORITY_CLASS_NAMES": "high"}, [])
    objects = render(
        spec_of(
            "mpijob",
            env=[{"name": "A", "value": "1"}],
            priority_class_name="high",
            node_selector={"pool": "gpu"},
            security_context={"runAsUser": 1000},
            volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}],
            volume_mounts=[{"name": "data", "mountPath": "/data"}],
        ),
        config,
    )
    for role in ("Launcher", "Worker"):
        spec = template(objects, role)["spec"]
        box = container(objects, role)
        assert box["securityContext"] == {"runAsUser": 1000, "capabilities": {"add": ["IPC_LOCK"]}}
        assert env_of(box)["A"] == "1"
        assert spec["priorityClassName"] == "high"
        assert spec["nodeSelector"] == {"pool": "gpu"}
        assert {"name": "data", "persistentVolumeClaim": {"claimName": "data"}} in spec["volumes"]
        assert {"name": "data", "mountPath": "/data"} in box["volumeMounts"]
        assert {"name": "mlctl-code", "mountPath": "/opt/mlctl", "readOnly": True} in box["volumeMounts"]
    manifest_schemas.check(objects)


def test_constrain_puts_both_templates_on_spot_nodes() -> None:
    objects = render(spec_of("mpijob", preemption_mode="constrain"), SPOT)
    for role in ("Launcher", "Worker"):
        spec = template(objects, role)["spec"]
        assert spec["tolerations"] == [SPOT_TOLERATION]
        terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        assert terms == [{"matchExpressions": [{"key": "node-lifecycle", "operator": "In", "values": ["spot"]}]}]
    manifest_schemas.check(objects)


def test_prevent_keeps_both_templates_off_spot_nodes() -> None:
    objects = render(spec_of("mpijob", tolerations=[SPOT_TOLERATION]), SPOT_LABELS_ONLY)
    for role in ("Launcher", "Worker"):
        spec = template(objects, role)["spec"]
        terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        assert terms == [{"matchExpressions": [{"key": "node-lifecycle", "operator": "NotIn", "values": ["spot"]}]}]


def test_run_labels_and_annotations_on_the_job_and_both_templates() -> None:
    objects = render(spec_of("mpijob", state_thresholds={"running": "2h"}))
    job = mpi(objects)
    assert job["metadata"]["labels"]["mlctl.io/run-id"] == "abc12345"
    assert json.loads(job["metadata"]["annotations"]["mlctl.io/thresholds"])["running"] == "2h"
    for role in ("Launcher", "Worker"):
        meta = template(objects, role)["metadata"]
        assert meta["labels"] == job["metadata"]["labels"]
        assert meta["annotations"] == job["metadata"]["annotations"]


def test_one_run_no_retries_and_clean_pod_policy_all_by_default() -> None:
    spec = mpi(render(spec_of("mpijob")))["spec"]
    assert spec["runPolicy"] == {"cleanPodPolicy": "All", "backoffLimit": 0}
    assert spec["mpiReplicaSpecs"]["Launcher"]["restartPolicy"] == "Never"
    assert spec["launcherCreationPolicy"] == "WaitForWorkersReady"
    assert spec["mpiImplementation"] == "OpenMPI"
    assert spec["slotsPerWorker"] == 1


def test_clean_pod_policy_and_slots_per_worker_are_taken_from_spec_and_run() -> None:
    spec = mpi(render(spec_of("mpijob", clean_pod_policy="Running"), params={"slots_per_worker": 2}))["spec"]
    assert spec["runPolicy"]["cleanPodPolicy"] == "Running"
    assert spec["slotsPerWorker"] == 2


def test_v1_crd_version_puts_clean_pod_policy_at_the_top() -> None:
    config = config_.resolve({"MLCTL_MPIJOB_CRD_VERSION": "v1"}, [])
    job = mpi(render(spec_of("mpijob", replicas=2), config))
    assert job["apiVersion"] == "kubeflow.org/v1"
    assert job["spec"]["cleanPodPolicy"] == "All"
    assert "runPolicy" not in job["spec"]
    assert job["spec"]["mpiReplicaSpecs"]["Worker"]["replicas"] == 2
    assert job["spec"]["mpiReplicaSpecs"]["Launcher"]["template"]["spec"]["containers"][0]["command"][0] == "mpirun"


def test_an_unknown_crd_version_is_refused() -> None:
    config = config_.resolve({"MLCTL_MPIJOB_CRD_VERSION": "v1alpha2"}, [])
    with pytest.raises(InvalidInput, match="mpijob_crd_version"):
        render(spec_of("mpijob"), config)


def test_without_a_run_id_only_the_functions_objects_render() -> None:
    objects = render(spec_of("mpijob"), run_id="")
    assert [o["kind"] for o in objects] == ["ConfigMap"]


def test_a_plain_command_runs_under_mpirun() -> None:
    objects = render(spec_of("mpijob", code=None, command="python /app/train.py", args=["--lr", "0.1"]))
    assert container(objects, "Launcher")["command"][-4:] == ["python", "/app/train.py", "--lr", "0.1"]
    assert "ConfigMap" not in [o["kind"] for o in objects]


def test_nothing_to_run_is_refused() -> None:
    with pytest.raises(InvalidInput, match="mpirun"):
        render(spec_of("mpijob", code=None))


def test_long_names_leave_room_for_the_operators_pod_names() -> None:
    long_name = "a-very-long-function-name-for-distributed-training-x"
    name = mpi(render(spec_of("mpijob", name=long_name)))["metadata"]["name"]
    assert len(name) <= mpijob.NAME_LIMIT
    assert len(f"{name}-worker-99") <= 63
    assert name.endswith("-abc12345")


def test_the_default_config_renders_v2beta1_with_the_run_policy_nested() -> None:
    job = mpi(render(spec_of("mpijob", replicas=2), DEFAULT))
    assert job["apiVersion"] == "kubeflow.org/v2beta1"
    assert job["spec"]["runPolicy"]["cleanPodPolicy"] == "All"
    assert "cleanPodPolicy" not in job["spec"]


def test_the_mpi_training_example_renders_to_valid_objects() -> None:
    loaded = pipeline.load(str(EXAMPLES / "mpi-training.yaml"), SPOT)
    objects = pipeline.render(loaded, SPOT, RenderContext(run_id="abc12345"))
    manifest_schemas.check(objects)
    assert mpi(objects)["spec"]["mpiReplicaSpecs"]["Worker"]["replicas"] == 2
    assert container(objects, "Worker")["resources"]["limits"]["nvidia.com/gpu"] == 1


def test_the_functions_annotations_ride_on_the_launcher_and_worker_pods() -> None:
    data = spec_of("mpijob", replicas=2)
    data["metadata"]["annotations"] = {"team.example/owner": "vision"}

    objects = render(data)

    for role in ("Launcher", "Worker"):
        annotations = template(objects, role)["metadata"]["annotations"]
        assert annotations["team.example/owner"] == "vision", role
        assert "mlctl.io/thresholds" in annotations, role  # the run's own annotations stay


def test_the_retry_count_is_the_run_policys_back_off_limit_of_the_launcher() -> None:
    objects = render(spec_of("mpijob"), retry=retry_.Retry(count=2))
    spec = mpi(objects)["spec"]

    assert spec["runPolicy"] == {"cleanPodPolicy": "All", "backoffLimit": 2}
    assert json.loads(mpi(objects)["metadata"]["annotations"]["mlctl.io/retry"])["count"] == 2
    manifest_schemas.check(objects)


def test_the_old_mpijob_api_refuses_retries_it_cannot_express() -> None:
    config = config_.resolve({"MLCTL_MPIJOB_CRD_VERSION": "v1"}, [])

    with pytest.raises(InvalidInput, match="retries of an mpijob need the MPIJob v2beta1 API"):
        render(spec_of("mpijob"), config, retry=retry_.Retry(count=1))
    assert "backoffLimit" not in mpi(render(spec_of("mpijob"), config))["spec"]
