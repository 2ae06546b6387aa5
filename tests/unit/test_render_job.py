"""Kind ``job``: one run is one Job with one pod and no retries; the code rides in a ConfigMap."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from mlctl import config as config_
from mlctl import pipeline
from mlctl import render as render_
from mlctl.errors import InvalidInput
from mlctl.render import pod
from mlctl.render.context import RenderContext
from mlctl.spec import loader, model, mutations, quantity, validate
from mlctl.spec import retry as retry_
from tests.unit.support import K8S_VERSION, SPOT_ENV, Cli, SpecFile, assert_valid_manifest

DEFAULT = config_.resolve({}, [])
CODE = 'def greet(name="world"):\n    return f"hello {name}"\n'


def job_spec(spec: str = "", code: str | None = CODE, handler: str = "greet") -> str:
    lines = [
        "kind: job",
        "metadata:",
        "  name: trainer",
        "  project: demo",
        "  tag: v1",
        "spec:",
        "  image: python:3.11-slim",
    ]
    if code is not None:
        lines += [
            f"  default_handler: {handler}",
            "  build:",
            f"    functionSourceCode: {base64.b64encode(code.encode()).decode()}",
            "    origin_filename: /home/me/greet.py",
        ]
    lines += textwrap.indent(textwrap.dedent(spec).strip("\n"), "  ").splitlines()
    return "\n".join(lines) + "\n"


def render(text: str, config: config_.Config = DEFAULT, **ctx: Any) -> list[dict[str, Any]]:
    document = loader.load_text(text, "f.yaml")
    pipeline.check(document, config)
    function = model.build(document.data, "f.yaml", config)
    return render_.render(function, config, RenderContext(**{"run_id": "0000test", **ctx}))


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind]
    return found


def pod_spec(objects: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = by_kind(objects, "Job")["spec"]["template"]["spec"]
    return spec


def container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (only,) = pod_spec(objects)["containers"]
    return dict(only)


def env(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(objects).get("env", [])}


def assert_valid_manifests(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        assert_valid_manifest(obj)


# --- the setters, then the rendered pod ---------------------------------------------------


def tree() -> dict[str, Any]:
    return yaml.safe_load(job_spec())  # type: ignore[no-any-return]


def test_requests_replace_unless_patched() -> None:
    data = tree()
    mutations.set_resources(data, {"mem": "1G", "cpu": "500m"}, {}, None, "nvidia.com/gpu")
    assert data["spec"]["resources"]["requests"] == {"memory": "1G", "cpu": "500m"}

    mutations.set_resources(data, {"cpu": "2"}, {}, None, "nvidia.com/gpu")
    assert {k: str(v) for k, v in data["spec"]["resources"]["requests"].items()} == {"cpu": "2"}

    mutations.set_resources(data, {"mem": "3G"}, {}, None, "nvidia.com/gpu", patch=True)
    assert {k: str(v) for k, v in data["spec"]["resources"]["requests"].items()} == {"cpu": "2", "memory": "3G"}

    objects = render(yaml.safe_dump(data))
    assert container(objects)["resources"] == {"requests": {"cpu": 2, "memory": "3G"}}


def test_gpu_limits_of_two_types() -> None:
    data = tree()
    mutations.set_resources(data, {}, {"mem": "2G", "cpu": "2", "gpus": "1"}, None, "nvidia.com/gpu")
    assert data["spec"]["resources"]["limits"] == {"memory": "2G", "cpu": 2, "nvidia.com/gpu": 1}

    mutations.set_resources(data, {}, {"gpus": "2"}, "amd.com/gpu", "nvidia.com/gpu", patch=True)

    objects = render(yaml.safe_dump(data))
    assert container(objects)["resources"] == {
        "limits": {"memory": "2G", "cpu": 2, "nvidia.com/gpu": 1, "amd.com/gpu": 2}
    }
    assert_valid_manifests(objects)


@pytest.mark.parametrize("memory", ["1 GB", "1GB", "1Gb"])
def test_malformed_memory_is_refused_by_the_setter_and_by_validation(memory: str) -> None:
    with pytest.raises(InvalidInput, match="is not a Kubernetes quantity"):
        mutations.set_resources(tree(), {"mem": memory}, {}, None, "nvidia.com/gpu")
    data = tree()
    data["spec"]["resources"] = {"requests": {"memory": memory}}
    with pytest.raises(InvalidInput):
        render(yaml.safe_dump(data))


@pytest.mark.parametrize("memory", ["1Gi", "1e3"])
def test_well_formed_memory_renders(memory: str) -> None:
    data = tree()
    mutations.set_resources(data, {"mem": memory}, {}, None, "nvidia.com/gpu")

    rendered = container(render(yaml.safe_dump(data)))["resources"]["requests"]["memory"]
    assert quantity.parse(rendered) == quantity.parse(memory)


def test_setting_an_env_var_again_keeps_its_position() -> None:
    data = tree()
    mutations.set_env(data, [("A", "1"), ("B", "2")])
    mutations.set_env(data, [("A", "3")])

    assert data["spec"]["env"] == [{"name": "A", "value": "3"}, {"name": "B", "value": "2"}]
    rendered = container(render(yaml.safe_dump(data)))["env"]
    assert [(e["name"], e.get("value")) for e in rendered][:2] == [("A", "3"), ("B", "2")]


# --- the Job -----------------------------------------------------------------------------


def test_one_run_is_one_job_of_one_index_whose_failures_are_not_retried_by_default() -> None:
    job = by_kind(render(job_spec()), "Job")

    assert job["apiVersion"] == "batch/v1"
    assert job["metadata"]["name"] == "trainer-0000test"
    spec = job["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 1, 1)
    assert (spec["backoffLimitPerIndex"], spec["maxFailedIndexes"]) == (0, 0)
    assert "backoffLimit" not in spec  # Kubernetes makes it unbounded beside a per-index limit
    assert spec["template"]["spec"]["restartPolicy"] == "Never"  # a pod failure policy needs it
    assert [c["name"] for c in spec["template"]["spec"]["containers"]] == ["base"]


def test_a_disruption_is_retried_by_kubernetes_without_spending_the_retry_count() -> None:
    job = by_kind(render(job_spec()), "Job")

    assert job["spec"]["podFailurePolicy"] == {
        "rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}]
    }
    policy = json.loads(job["metadata"]["annotations"]["mlctl.io/retry"])
    assert policy == {"count": 0, "backoff": "30s", "max_disruptions": 3}  # the bound its watchers enforce


def test_the_retry_count_is_the_jobs_back_off_limit_and_the_backoff_reaches_the_bootstrap() -> None:
    objects = render(job_spec(), retry=retry_.Retry(count=3, backoff="1m", max_disruptions=5))
    job = by_kind(objects, "Job")

    assert job["spec"]["backoffLimitPerIndex"] == 3
    assert job["spec"]["maxFailedIndexes"] == 0  # the one index out of retries fails the Job
    assert json.loads(env(objects)["MLCTL_RUN"])["retry_backoff"] == 60
    for notes in (job["metadata"]["annotations"], job["spec"]["template"]["metadata"]["annotations"]):
        assert json.loads(notes["mlctl.io/retry"]) == {"count": 3, "backoff": "1m", "max_disruptions": 5}
    assert_valid_manifests(objects)


def test_a_disruption_bound_of_zero_lets_kubernetes_fail_the_run_at_the_first_disruption() -> None:
    job = by_kind(render(job_spec(), retry=retry_.Retry(max_disruptions=0)), "Job")

    (rule,) = job["spec"]["podFailurePolicy"]["rules"]
    assert rule["action"] == "FailJob"
    assert rule["onPodConditions"] == [{"type": "DisruptionTarget", "status": "True"}]


def test_each_attempt_reads_its_earlier_failures_and_disruptions_from_the_job_controllers_annotations() -> None:
    objects = render(job_spec())

    assert env(objects)["MLCTL_ATTEMPT_FAILURES"] == {
        "fieldRef": {"fieldPath": "metadata.annotations['batch.kubernetes.io/job-index-failure-count']"}
    }
    assert env(objects)["MLCTL_ATTEMPT_DISRUPTIONS"] == {
        "fieldRef": {"fieldPath": "metadata.annotations['batch.kubernetes.io/job-index-ignored-failure-count']"}
    }
    assert "retry_backoff" not in json.loads(env(objects)["MLCTL_RUN"])  # no retries: nothing to wait for


def test_labels_name_the_function_and_say_who_manages_it() -> None:
    objects = render(job_spec())
    job = by_kind(objects, "Job")

    expected = {
        "app.kubernetes.io/managed-by": "mlctl",
        "app.kubernetes.io/name": "trainer",
        "mlctl.io/function": "trainer",
        "mlctl.io/kind": "job",
        "mlctl.io/project": "demo",
        "mlctl.io/tag": "v1",
        "mlctl.io/run-id": "0000test",
    }
    assert job["metadata"]["labels"] == expected
    assert job["spec"]["template"]["metadata"]["labels"] == expected
    assert by_kind(objects, "ConfigMap")["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "mlctl"


def test_function_labels_go_on_the_pod_unless_kubernetes_would_refuse_them() -> None:
    text = job_spec().replace(
        "  tag: v1\n",
        "  tag: v1\n  labels:\n    team: ml\n    framework: tensorflow, keras\n"
        "    app.kubernetes.io/managed-by: someone-else\n",
    )

    labels = by_kind(render(text), "Job")["spec"]["template"]["metadata"]["labels"]

    assert labels["team"] == "ml"
    assert "framework" not in labels
    assert labels["app.kubernetes.io/managed-by"] == "mlctl"


def test_the_effective_thresholds_ride_on_the_job() -> None:
    job = by_kind(render(job_spec("state_thresholds: {executing: 2h}")), "Job")

    assert json.loads(job["metadata"]["annotations"]["mlctl.io/thresholds"]) == {
        "pending_scheduled": "1h",
        "pending_not_scheduled": "-1",
        "image_pull_backoff": "1h",
        "running": "2h",
    }


def test_the_objects_come_in_apply_order() -> None:
    text = job_spec("""
        volumes:
        - name: data
          flexVolume: {driver: v3io/fuse, options: {accessKey: abc, container: users}}
        volume_mounts:
        - {name: data, mountPath: /data}
    """)

    assert [o["kind"] for o in render(text)] == ["Secret", "ConfigMap", "Job"]


def test_rendering_the_function_only_gives_no_job() -> None:
    assert [o["kind"] for o in render(job_spec(), run_id="")] == ["ConfigMap"]


def test_a_run_is_pinned_to_an_immutable_copy_of_its_code_named_after_its_content() -> None:
    first = by_kind(render(job_spec()), "ConfigMap")
    again = by_kind(render(job_spec(), run_id="other123"), "ConfigMap")
    changed = by_kind(render(job_spec(code="def greet(context):\n    return 2\n")), "ConfigMap")
    deployed = by_kind(render(job_spec(), run_id=""), "ConfigMap")

    assert first["immutable"] is True
    assert again["metadata"]["name"] == first["metadata"]["name"]  # the same code: one copy, shared
    assert changed["metadata"]["name"] != first["metadata"]["name"]  # new code never overwrites a run's
    assert deployed["metadata"]["name"] == "demo-trainer-v1-code" and "immutable" not in deployed


# --- code delivery -------------------------------------------------------------------------


def test_code_and_bootstrap_ship_in_a_config_map_mounted_read_only() -> None:
    objects = render(job_spec())
    config_map = by_kind(objects, "ConfigMap")
    name = config_map["metadata"]["name"]

    assert re.fullmatch(r"demo-trainer-v1-code-[0-9a-f]{12}", name)
    assert config_map["data"] == {"bootstrap.py": pod.bootstrap_source(), "greet.py": CODE}
    assert {"name": "mlctl-code", "configMap": {"name": name}} in pod_spec(objects)["volumes"]
    assert {"name": "mlctl-code", "mountPath": "/opt/mlctl", "readOnly": True} in container(objects)["volumeMounts"]
    assert container(objects)["command"] == ["python", "/opt/mlctl/bootstrap.py"]


def test_params_and_handler_reach_the_pod_in_mlctl_run() -> None:
    objects = render(job_spec(), params={"name": "Ada", "epochs": 3})

    run = json.loads(env(objects)["MLCTL_RUN"])

    assert run == {
        "run_id": "0000test",
        "function": "trainer",
        "handler": "greet",
        "params": {"name": "Ada", "epochs": 3},
        "code": "/opt/mlctl/greet.py",
    }


def test_the_rendered_pod_runs_the_handler_with_the_params(tmp_path: Path) -> None:
    objects = render(job_spec(), params={"name": "Ada"})
    for name, text in by_kind(objects, "ConfigMap")["data"].items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    run = env(objects)["MLCTL_RUN"].replace("/opt/mlctl", str(tmp_path))
    result = tmp_path / "result.json"

    done = subprocess.run(
        [sys.executable, str(tmp_path / "bootstrap.py")],
        capture_output=True,
        text=True,
        env={**os.environ, "MLCTL_RUN": run, "MLCTL_RESULT_PATH": str(result)},
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert json.loads(result.read_text()) == {"results": {"return": "hello Ada"}}


def test_a_python_file_in_the_image_with_a_handler_also_gets_the_bootstrap() -> None:
    objects = render(job_spec("command: train.py\ndefault_handler: train", code=None))

    assert by_kind(objects, "ConfigMap")["data"] == {"bootstrap.py": pod.bootstrap_source()}
    assert container(objects)["command"] == ["python", "/opt/mlctl/bootstrap.py"]
    assert json.loads(env(objects)["MLCTL_RUN"])["code"] == "train.py"
    assert {"name": "mlctl-code", "mountPath": "/opt/mlctl", "readOnly": True} in container(objects)["volumeMounts"]


def test_without_code_the_command_and_args_run_as_given() -> None:
    objects = render(job_spec("command: python -m trainer --fast\nargs: [--epochs, '3']", code=None))

    assert [o["kind"] for o in objects] == ["Job"]
    assert container(objects)["command"] == ["python", "-m", "trainer", "--fast"]
    assert container(objects)["args"] == ["--epochs", "3"]
    assert "MLCTL_RUN" not in env(objects)


def test_image_defaults_to_the_configured_one() -> None:
    text = job_spec().replace("  image: python:3.11-slim\n", "")
    config = config_.resolve({"MLCTL_DEFAULT_IMAGE": "python:3.12-slim"}, [])

    assert container(render(text, config))["image"] == "python:3.12-slim"


# --- resources, priority, placement ----------------------------------------------------------


def test_config_default_resources_fill_what_the_spec_leaves_out() -> None:
    config = config_.resolve(
        {"MLCTL_DEFAULT_FUNCTION_POD_RESOURCES__REQUESTS": '{"cpu": "250m", "memory": "256Mi"}'}, []
    )

    objects = render(job_spec("resources: {requests: {cpu: '1'}}"), config)

    assert container(objects)["resources"] == {"requests": {"cpu": "1", "memory": "256Mi"}}


def test_priority_class_is_emitted_whenever_set() -> None:
    assert pod_spec(render(job_spec("priority_class_name: high")))["priorityClassName"] == "high"
    assert "priorityClassName" not in pod_spec(render(job_spec()))
    config = config_.resolve({"MLCTL_DEFAULT_FUNCTION_PRIORITY_CLASS_NAME": "batch-low"}, [])
    assert pod_spec(render(job_spec(), config))["priorityClassName"] == "batch-low"


def test_prevent_by_default_removes_the_spot_toleration_from_the_pod() -> None:
    config = config_.resolve(SPOT_ENV, [])
    text = job_spec("""
        tolerations:
        - {key: node-lifecycle, operator: Equal, value: spot, effect: NoSchedule}
        - {key: gpu, operator: Exists}
    """)

    assert pod_spec(render(text, config))["tolerations"] == [{"key": "gpu", "operator": "Exists"}]


def test_allow_puts_the_spot_toleration_on_the_pod() -> None:
    config = config_.resolve(SPOT_ENV, [])

    spec = pod_spec(render(job_spec("preemption_mode: allow"), config))

    assert spec["tolerations"] == [
        {"key": "node-lifecycle", "operator": "Equal", "value": "spot", "effect": "NoSchedule"}
    ]
    assert "affinity" not in spec


def test_constrain_requires_a_spot_node_on_the_pod() -> None:
    config = config_.resolve(SPOT_ENV, [])

    spec = pod_spec(render(job_spec("preemption_mode: constrain"), config))

    assert spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] == {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "node-lifecycle", "operator": "In", "values": ["spot"]}]}]
    }


# --- volumes, auto-mount, secrets --------------------------------------------------------------


def test_auto_mount_of_a_pvc_from_pvc_mount() -> None:
    config = config_.resolve({"MLRUN_PVC_MOUNT": "shared-data:/mnt/shared"}, [])

    objects = render(job_spec(), config)

    assert {"name": "pipeline", "persistentVolumeClaim": {"claimName": "shared-data"}} in pod_spec(objects)["volumes"]
    assert {"name": "pipeline", "mountPath": "/mnt/shared"} in container(objects)["volumeMounts"]
    assert_valid_manifests(objects)


def test_auto_mount_type_pvc_with_params() -> None:
    config = config_.resolve(
        {
            "MLCTL_STORAGE__AUTO_MOUNT_TYPE": "pvc",
            "MLCTL_STORAGE__AUTO_MOUNT_PARAMS": "pvc_name=claim,volume_mount_path=/data",
        },
        [],
    )

    objects = render(job_spec(), config)

    assert {"name": "pipeline", "persistentVolumeClaim": {"claimName": "claim"}} in pod_spec(objects)["volumes"]
    assert {"name": "pipeline", "mountPath": "/data"} in container(objects)["volumeMounts"]


def test_disable_auto_mount_turns_auto_mount_off() -> None:
    config = config_.resolve({"MLRUN_PVC_MOUNT": "shared-data:/mnt/shared"}, [])

    objects = render(job_spec("disable_auto_mount: true"), config)

    assert all(v["name"] != "pvc" for v in pod_spec(objects)["volumes"])


def test_auto_mount_v3io_credentials_puts_the_access_key_in_a_secret() -> None:
    config = config_.resolve(
        {
            "MLCTL_STORAGE__AUTO_MOUNT_TYPE": "v3io_credentials",
            "MLCTL_STORAGE__AUTO_MOUNT_PARAMS": "access_key=AK-123,user=ada",
        },
        [],
    )

    objects = render(job_spec(), config)

    secret = by_kind(objects, "Secret")
    assert secret["stringData"] == {"accessKey": "AK-123"}
    assert env(objects)["V3IO_USERNAME"] == "ada"
    assert env(objects)["V3IO_ACCESS_KEY"] == {"secretKeyRef": {"name": secret["metadata"]["name"], "key": "accessKey"}}
    assert "AK-123" not in json.dumps(by_kind(objects, "Job"))
    assert_valid_manifests(objects)


def test_a_v3io_access_key_in_the_spec_moves_into_a_secret() -> None:
    text = job_spec("""
        volumes:
        - name: data
          flexVolume:
            driver: v3io/fuse
            options: {accessKey: AK-secret, container: projects, subPath: /p/data}
        volume_mounts:
        - {name: data, mountPath: /data}
    """)

    objects = render(text)

    secret = by_kind(objects, "Secret")
    assert secret["stringData"] == {"accessKey": "AK-secret"}
    (volume,) = [v for v in pod_spec(objects)["volumes"] if v["name"] == "data"]
    assert volume["flexVolume"] == {
        "driver": "v3io/fuse",
        "options": {"container": "projects", "subPath": "/p/data"},
        "secretRef": {"name": secret["metadata"]["name"]},
    }
    assert "AK-secret" not in json.dumps(by_kind(objects, "Job"))
    assert_valid_manifests(objects)


def test_redaction_hides_secret_data_and_secret_looking_env_values() -> None:
    text = job_spec("""
        env:
        - {name: DB_PASSWORD, value: hunter2}
        - {name: API_TOKEN, value: tok-1}
        - {name: MODE, value: fast}
        volumes:
        - name: data
          flexVolume: {driver: v3io/fuse, options: {accessKey: AK-secret}}
        volume_mounts:
        - {name: data, mountPath: /data}
    """)

    shown = render_.redact(render(text))

    assert "hunter2" not in json.dumps(shown)
    assert "tok-1" not in json.dumps(shown)
    assert "AK-secret" not in json.dumps(shown)
    assert env(shown)["MODE"] == "fast"
    assert by_kind(shown, "Secret")["stringData"] == {"accessKey": render_.REDACTED}


# --- the CLI --------------------------------------------------------------------------------------


SECRET_SPEC = """
    env:
    - {name: DB_PASSWORD, value: hunter2}
    volumes:
    - name: data
      flexVolume: {driver: v3io/fuse, options: {accessKey: AK-secret}}
    volume_mounts:
    - {name: data, mountPath: /data}
"""


def test_render_redacts_secrets_unless_asked(spec_file: SpecFile, cli: Cli) -> None:
    path = spec_file(job_spec(SECRET_SPEC))

    hidden = cli("render", path, "--run-id", "0000test")
    shown = cli("render", path, "--run-id", "0000test", "--show-secrets")

    assert hidden.code == shown.code == 0
    assert "hunter2" not in hidden.out and "AK-secret" not in hidden.out
    assert "<redacted: --show-secrets to reveal>" in hidden.out
    assert "hunter2" in shown.out and "AK-secret" in shown.out


def test_render_prints_yaml_documents_that_kubectl_can_apply(spec_file: SpecFile, cli: Cli) -> None:
    result = cli("render", spec_file(job_spec()), "--run-id", "0000test", "-p", "name=Ada")

    assert result.code == 0
    documents = list(yaml.safe_load_all(result.out))
    assert [d["kind"] for d in documents] == ["ConfigMap", "Job"]
    assert json.loads(env(documents)["MLCTL_RUN"])["params"] == {"name": "Ada"}
    assert_valid_manifests(documents)


def test_render_json_is_a_v1_list(spec_file: SpecFile, cli: Cli) -> None:
    result = cli("render", spec_file(job_spec()), "--run-id", "0000test", "-o", "json")

    assert result.code == 0
    listed = json.loads(result.out)
    assert set(listed) == {"apiVersion", "kind", "items"}
    assert (listed["apiVersion"], listed["kind"]) == ("v1", "List")
    assert [i["kind"] for i in listed["items"]] == ["ConfigMap", "Job"]
    assert_valid_manifests(listed["items"])


def test_render_names_lists_kind_and_name(spec_file: SpecFile, cli: Cli) -> None:
    result = cli("render", spec_file(job_spec()), "--run-id", "0000test", "-o", "name")

    configmap, job = result.out.splitlines()
    assert (configmap.startswith("configmap/demo-trainer-v1-code-"), job) == (True, "job/trainer-0000test")


def test_render_makes_a_new_run_id_each_time(spec_file: SpecFile, cli: Cli) -> None:
    path = spec_file(job_spec())

    first = cli("render", path, "-o", "name").out
    second = cli("render", path, "-o", "name").out

    assert first != second


def test_render_into_a_namespace(spec_file: SpecFile, cli: Cli) -> None:
    result = cli("render", spec_file(job_spec()), "--run-id", "r1", "-n", "team-a", "-o", "json")

    assert {i["metadata"]["namespace"] for i in json.loads(result.out)["items"]} == {"team-a"}


def test_render_with_an_unknown_output_format_is_a_usage_error(spec_file: SpecFile, cli: Cli) -> None:
    result = cli("render", spec_file(job_spec()), "-o", "xml")

    assert result.code == 2
    assert "'xml' is not one of 'yaml', 'json', 'name'" in result.err


# --- every built-in manifest is valid Kubernetes ------------------------------------------------------


FULL = """
    command: ''
    env:
    - {name: A, value: '1'}
    - {name: FLAG, value: true}
    - {name: FROM_SECRET, valueFrom: {secretKeyRef: {name: creds, key: token}}}
    resources:
      requests: {cpu: 500m, memory: 1Gi}
      limits: {cpu: '1', memory: 2Gi, nvidia.com/gpu: 1}
    volumes:
    - {name: data, persistentVolumeClaim: {claimName: data-claim}}
    - {name: cfg, configMap: {name: settings}}
    - {name: sec, secret: {secretName: creds}}
    volume_mounts:
    - {name: data, mountPath: /data}
    - {name: cfg, mountPath: /etc/settings}
    - {name: sec, mountPath: /etc/creds}
    node_selector: {zone: us-east1}
    tolerations:
    - {key: gpu, operator: Exists, effect: NoSchedule}
    affinity:
      nodeAffinity:
        requiredDuringSchedulingIgnoredDuringExecution:
          nodeSelectorTerms:
          - matchExpressions:
            - {key: arch, operator: In, values: [amd64]}
    priority_class_name: high
    service_account: runner
    image_pull_secret: registry-creds
    image_pull_policy: IfNotPresent
    security_context: {runAsUser: 1000, runAsNonRoot: true}
    state_thresholds: {running: 2h}
"""


@pytest.mark.parametrize("mode", ["none", "allow", "constrain", "prevent"])
def test_a_full_job_renders_valid_kubernetes_in_every_preemption_mode(mode: str) -> None:
    config = config_.resolve({**SPOT_ENV, "MLRUN_PVC_MOUNT": "shared:/mnt/shared"}, [])

    objects = render(job_spec(textwrap.dedent(FULL) + f"preemption_mode: {mode}\n"), config, params={"x": [1, 2]})

    assert_valid_manifests(objects)
    assert env(objects)["FLAG"] == "true"


def test_the_manifest_check_can_fail() -> None:
    objects = render(job_spec())
    by_kind(objects, "Job")["spec"]["template"]["spec"]["containers"][0]["resources"] = {"limits": {"cpu": []}}

    with pytest.raises(kubernetes_validate.ValidationError):
        assert_valid_manifests(objects)


def test_kubernetes_validate_knows_the_version_we_check_against() -> None:
    versions = {v.rsplit(".", 1)[0] for v in kubernetes_validate.utils.all_versions()}

    assert K8S_VERSION in versions


def test_the_model_is_checked_before_rendering() -> None:
    with pytest.raises(InvalidInput):
        pipeline.check(loader.load_text(job_spec("preemption_mode: sometimes"), "f.yaml"), DEFAULT)
    assert validate.errors(validate.check(loader.load_text(job_spec(), "f.yaml"), DEFAULT)) == []
