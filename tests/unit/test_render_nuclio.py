"""Kinds nuclio / remote / serving / application: one NuclioFunction, as MLRun compiles it."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlctl import config as config_
from mlctl import pipeline
from mlctl.errors import InvalidInput
from mlctl.render import nuclio, serving
from mlctl.render.context import RenderContext
from mlctl.spec import loader, validate
from tests.unit import manifest_schemas, render_support
from tests.unit.render_support import (
    CODE,
    DEFAULT,
    SPOT_TOLERATION,
    by_kind,
    encoded,
    env_of,
    kinds,
    render,
    spec_of,
)
from tests.unit.support import CORPUS, EXAMPLES, SPOT_ENV

# how MLRun exports a remote function: its code and handler in base_spec
BASE_SPEC = {
    "apiVersion": "nuclio.io/v1",
    "kind": "Function",
    "metadata": {"name": "scorer", "labels": {}, "annotations": {"nuclio.io/generated_by": "function generated"}},
    "spec": {
        "runtime": "python:3.6",
        "handler": "scorer:handler",
        "env": [],
        "volumes": [],
        "build": {
            "commands": [],
            "noBaseImagesPull": True,
            "functionSourceCode": encoded(),
            "baseImage": "mlrun/ml-models",
        },
    },
}
HTTP = {"kind": "http", "maxWorkers": 8, "attributes": {"ingresses": {}}, "annotations": {}}


def function(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return by_kind(objects, "NuclioFunction")


def remote(**spec: Any) -> dict[str, Any]:
    return spec_of("remote", name="scorer", code=None, base_spec=BASE_SPEC, **spec)


def test_replicas_set_both_min_and_max() -> None:
    spec = function(render(remote(replicas=3, min_replicas=1, max_replicas=4)))["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (3, 3)


def test_min_and_max_replicas_default_to_one_and_four() -> None:
    spec = function(render(remote()))["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (1, 4)
    spec = function(render(remote(min_replicas=2, max_replicas=10)))["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 10)


def test_an_application_defaults_to_one_replica() -> None:
    spec = function(render(spec_of("application", code=None)))["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (1, 1)


def test_name_is_project_name_and_tag() -> None:
    objects = render(spec_of("nuclio", name="scorer", project="shop", tag="v2"))
    assert function(objects)["metadata"]["name"] == "shop-scorer-v2"
    assert function(objects)["apiVersion"] == "nuclio.io/v1beta1"


def test_target_cpu_and_triggers_come_from_the_raw_config() -> None:
    objects = render(remote(config={"spec.targetCPU": 60, "spec.triggers.http": HTTP}))
    spec = function(objects)["spec"]
    assert spec["targetCPU"] == 60
    assert spec["triggers"]["http"]["maxWorkers"] == 8
    manifest_schemas.check(objects)


def test_http_trigger_settings_pass_through() -> None:
    trigger = {
        "kind": "http",
        "maxWorkers": 2,
        "workerAvailabilityTimeoutMilliseconds": 5000,
        "attributes": {"ingresses": {"0": {"host": "x", "paths": ["/"]}}},
        "annotations": {"nginx.ingress.kubernetes.io/proxy-read-timeout": "65"},
    }
    spec = function(render(remote(config={"spec.triggers.http": trigger})))["spec"]
    assert spec["triggers"]["http"] == trigger


def test_base_spec_is_the_starting_point_and_mlrun_fields_win() -> None:
    objects = render(remote(env=[{"name": "MODEL", "value": "m1"}], nuclio_runtime="python:3.11"))
    fn = function(objects)
    spec = fn["spec"]
    assert spec["handler"] == "scorer:handler"
    assert spec["runtime"] == "python:3.11"  # base_spec said python:3.6
    assert spec["build"]["functionSourceCode"] == encoded()
    assert spec["build"]["baseImage"] == "mlrun/ml-models"
    assert env_of(spec) == {"MODEL": "m1"}
    assert fn["metadata"]["annotations"] == {"nuclio.io/generated_by": "function generated"}


def test_runtime_defaults_to_python_3_11() -> None:
    assert function(render(remote()))["spec"]["runtime"] == "python:3.11"


def test_own_code_is_built_onto_the_image_with_its_handler() -> None:
    spec = function(
        render(
            spec_of(
                "nuclio",
                build={
                    "functionSourceCode": encoded(),
                    "origin_filename": "/src/score.py",
                    "commands": ["pip install scikit-learn"],
                },
            )
        )
    )["spec"]
    assert spec["handler"] == "score:handler"
    assert spec["build"] == {
        "functionSourceCode": encoded(),
        "commands": ["pip install scikit-learn"],
        "baseImage": "example/image:1",
    }
    assert "image" not in spec


def test_function_handler_wins() -> None:
    spec = function(render(spec_of("nuclio", function_handler="app:serve")))["spec"]
    assert spec["handler"] == "app:serve"


def test_code_whose_file_name_is_unknown_lives_in_main() -> None:
    spec = function(render(spec_of("nuclio", build={"functionSourceCode": encoded()})))["spec"]
    assert spec["handler"] == "main:handler"


def test_without_any_code_the_image_is_a_ready_function_image() -> None:
    spec = function(render(spec_of("nuclio", code=None, image="registry/fn:1")))["spec"]
    assert spec["image"] == "registry/fn:1"
    assert spec["build"] == {"codeEntryType": "image"}


def test_requirements_become_a_pip_install_build_command() -> None:
    spec = function(
        render(spec_of("nuclio", build={"functionSourceCode": encoded(), "requirements": ["pandas>=2", "pyarrow"]}))
    )["spec"]
    assert spec["build"]["commands"] == ["python -m pip install 'pandas>=2' pyarrow"]


def test_env_resources_and_volumes_in_nuclios_shape() -> None:
    objects = render(
        remote(
            env=[{"name": "A", "value": "1"}, {"name": "B", "valueFrom": {"secretKeyRef": {"name": "s", "key": "b"}}}],
            resources={"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"nvidia.com/gpu": 1}},
            volumes=[{"name": "models", "persistentVolumeClaim": {"claimName": "models"}}],
            volume_mounts=[{"name": "models", "mountPath": "/models"}],
        )
    )
    spec = function(objects)["spec"]
    assert spec["env"] == [
        {"name": "A", "value": "1"},
        {"name": "B", "valueFrom": {"secretKeyRef": {"name": "s", "key": "b"}}},
    ]
    assert spec["resources"] == {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"nvidia.com/gpu": 1}}
    assert spec["volumes"] == [
        {
            "volume": {"name": "models", "persistentVolumeClaim": {"claimName": "models"}},
            "volumeMount": {"name": "models", "mountPath": "/models"},
        }
    ]
    manifest_schemas.check(objects)


def test_no_bootstrap_run_or_code_volume_in_a_nuclio_function() -> None:
    spec = function(render(spec_of("nuclio")))["spec"]
    assert "MLCTL_RUN" not in env_of(spec)
    assert "volumes" not in spec


def test_placement_after_preemption_and_the_mode_for_nuclio() -> None:
    config = config_.resolve({**SPOT_ENV, "MLCTL_VALID_FUNCTION_PRIORITY_CLASS_NAMES": "high"}, [])
    objects = render(
        remote(
            preemption_mode="constrain", node_selector={"zone": "a"}, node_name="node-1", priority_class_name="high"
        ),
        config,
    )
    spec = function(objects)["spec"]
    assert spec["preemptionMode"] == "constrain"
    assert spec["tolerations"] == [SPOT_TOLERATION]
    assert spec["nodeSelector"] == {"zone": "a"}
    assert spec["nodeName"] == "node-1"
    assert spec["priorityClassName"] == "high"
    terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchExpressions": [{"key": "node-lifecycle", "operator": "In", "values": ["spot"]}]}]
    manifest_schemas.check(objects)


def test_prevent_is_the_default_mode() -> None:
    assert function(render(remote()))["spec"]["preemptionMode"] == "prevent"


def test_service_type_defaults_to_node_port() -> None:
    assert function(render(remote()))["spec"]["serviceType"] == "NodePort"
    assert function(render(remote(service_type="ClusterIP")))["spec"]["serviceType"] == "ClusterIP"


def test_readiness_timeout_in_seconds() -> None:
    assert function(render(remote(readiness_timeout=300)))["spec"]["readinessTimeoutSeconds"] == 300


def test_labels_carry_the_functions_own_and_mlctls() -> None:
    data = remote()
    data["metadata"]["labels"] = {"author": "me"}
    labels = function(render(data))["metadata"]["labels"]
    assert labels["author"] == "me"
    assert labels["mlctl.io/kind"] == "nuclio"
    assert "mlctl.io/run-id" not in labels  # a deployed service, not a run


def test_state_thresholds_on_nuclio_kinds_are_refused_with_mlruns_words() -> None:
    for kind in ("nuclio", "remote", "serving", "application"):
        with pytest.raises(InvalidInput) as caught:
            render(spec_of(kind, state_thresholds={"running": "1h"}))
        assert [p.message for p in caught.value.problems] == [
            "State thresholds do not apply for nuclio as it has its own function pods healthiness monitoring"
        ]


def test_an_unknown_engine_is_refused() -> None:
    with pytest.raises(InvalidInput, match="serving engine 'knative'"):
        render(remote(), engine="knative")


# --- serving -------------------------------------------------------------------

GRAPH = {
    "kind": "router",
    "routes": {"m1": {"kind": "task", "class_name": "MyModel", "class_args": {"model_path": "s3://models/m1"}}},
}


def serving_spec(objects: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(env_of(function(objects)["spec"])["SERVING_SPEC_ENV"])
    return spec


def test_serving_graph_travels_as_mlruns_serving_spec() -> None:
    objects = render(
        spec_of(
            "serving",
            name="srv",
            project="shop",
            tag="v1",
            graph=GRAPH,
            parameters={"threshold": 0.5},
            default_content_type="application/json",
        )
    )
    spec = serving_spec(objects)
    assert spec["graph"] == GRAPH
    assert spec["parameters"] == {"threshold": 0.5}
    assert spec["function_uri"] == "shop/srv:v1"
    assert spec["version"] == "v2"
    assert spec["default_content_type"] == "application/json"
    manifest_schemas.check(objects)


def test_serving_without_a_graph_serves_an_empty_router() -> None:
    assert serving_spec(render(spec_of("serving")))["graph"] == {"kind": "router"}


def test_serving_without_code_gets_mlruns_serving_wrapper() -> None:
    spec = function(render(spec_of("serving", code=None)))["spec"]
    source = base64.b64decode(spec["build"]["functionSourceCode"]).decode()
    assert 'nuclio_init_hook(context, globals(), "serving_v2")' in source
    assert spec["handler"] == "main:handler"


def test_a_large_graph_goes_into_a_config_map_file() -> None:
    graph = {
        "kind": "router",
        "routes": {f"m{i}": {"class_name": "M", "class_args": {"pad": "x" * 1000}} for i in range(80)},
    }
    objects = render(spec_of("serving", graph=graph))
    spec = function(objects)["spec"]
    assert "SERVING_SPEC_ENV" not in env_of(spec)
    config_map = by_kind(objects, "ConfigMap")
    assert json.loads(config_map["data"]["serving_spec.json"])["graph"] == graph
    assert spec["volumes"][0]["volumeMount"]["mountPath"] == "/tmp/mlrun/serving-conf"
    manifest_schemas.check(objects)


# --- application -----------------------------------------------------------------


def test_an_application_runs_its_image_beside_the_proxy() -> None:
    objects = render(
        spec_of(
            "application",
            code=None,
            image="me/app:1",
            internal_application_port=9000,
            command="uvicorn app:api",
            args=["--port", "9000"],
            env=[{"name": "A", "value": "1"}],
        )
    )
    spec = function(objects)["spec"]
    assert spec["runtime"] == "golang"
    assert spec["handler"] == "main:Handler"
    (sidecar,) = spec["sidecars"]
    assert sidecar["image"] == "me/app:1"
    assert sidecar["ports"] == [{"name": "application", "containerPort": 9000, "protocol": "TCP"}]
    assert sidecar["command"] == ["uvicorn", "app:api"]
    assert env_of(spec)["SIDECAR_PORT"] == "9000"
    assert env_of(sidecar)["A"] == "1"
    assert "func Handler" in base64.b64decode(spec["build"]["functionSourceCode"]).decode()
    manifest_schemas.check(objects)


def test_an_application_listens_on_8050_by_default() -> None:
    spec = function(render(spec_of("application", code=None)))["spec"]
    assert spec["sidecars"][0]["ports"][0]["containerPort"] == 8050


# --- secrets -----------------------------------------------------------------------

STREAM = {
    "kind": "v3ioStream",
    "url": "http://v3io-webapi:8081",
    "maxWorkers": 1,
    "password": "0e6e0aa5-9d3c-4b5e-8b2e-7d0e2a1c9f00",
    "attributes": {"containerName": "projects", "streamPath": "x/y", "consumerGroup": "serving"},
}


def test_a_stream_triggers_access_key_is_moved_into_a_secret() -> None:
    objects = render(remote(config={"spec.triggers.stream": STREAM}))
    text = yaml.safe_dump([o for o in objects if o["kind"] != "Secret"])
    assert STREAM["password"] not in text
    spec = function(objects)["spec"]
    assert spec["triggers"]["stream"]["password"] == "$generate"
    secret = by_kind(objects, "Secret")
    assert secret["stringData"] == {"accessKey": STREAM["password"]}
    assert env_of(spec)["V3IO_ACCESS_KEY"] == {"secretKeyRef": {"name": secret["metadata"]["name"], "key": "accessKey"}}
    manifest_schemas.check(objects)


def test_a_generated_access_key_needs_no_secret() -> None:
    objects = render(remote(config={"spec.triggers.stream": {**STREAM, "password": "$generate"}}))
    assert "Secret" not in kinds(objects)


def test_different_keys_in_two_stream_triggers_are_refused() -> None:
    with pytest.raises(InvalidInput, match="different access keys"):
        render(remote(config={"spec.triggers.a": STREAM, "spec.triggers.b": {**STREAM, "password": "other"}}))


def test_dotted_config_paths_may_escape_dots() -> None:
    assert serving.split_path("metadata.labels.\\app.kubernetes.io/name\\") == [
        "metadata",
        "labels",
        "app.kubernetes.io/name",
    ]
    document: dict[str, Any] = {}
    nuclio.set_path(document, "spec.build.noCache", True)
    assert document == {"spec": {"build": {"noCache": True}}}


# --- the lint that pairs HTTP workers with GPUs -------------------------------------


def problems(data: dict[str, Any]) -> list[str]:
    document = loader.load_text(yaml.safe_dump(data), "f.yaml")
    return [p.message for p in validate.check(document, DEFAULT) if p.severity == "warning"]


def test_more_workers_than_gpus_is_flagged() -> None:
    data = remote(resources={"limits": {"nvidia.com/gpu": 2}}, config={"spec.triggers.http": HTTP})
    assert "8 HTTP worker(s) share 2 GPU(s) per pod" in problems(data)


def test_as_many_workers_as_gpus_is_quiet() -> None:
    data = remote(resources={"limits": {"nvidia.com/gpu": 2}}, config={"spec.triggers.http": {**HTTP, "maxWorkers": 2}})
    assert not [p for p in problems(data) if "GPU" in p]


# --- the corpus -----------------------------------------------------------------------

CONFLICTED = "rnn_serving__b7b630e4a8.yaml"


def corpus_files(kind: str) -> list[Path]:
    line = re.compile(rf"^kind: {kind}$", re.MULTILINE)
    return sorted(p for p in CORPUS.glob("*.yaml") if line.search(p.read_text(encoding="utf-8")))


@pytest.mark.parametrize("engine", ["nuclio", "kubernetes"])
@pytest.mark.parametrize(("kind", "count"), [("remote", 86), ("serving", 69)])
def test_every_hub_nuclio_function_renders_to_valid_objects(kind: str, count: int, engine: str) -> None:
    files = corpus_files(kind)
    assert len(files) == count
    rendered = 0
    for path in files:
        if path.name == CONFLICTED:
            with pytest.raises(InvalidInput) as caught:
                pipeline.load(str(path), DEFAULT)
            assert "conflict" in " ".join(p.message for p in caught.value.problems).lower()
            continue
        loaded = pipeline.load(str(path), DEFAULT)
        objects = pipeline.render(loaded, DEFAULT, RenderContext(namespace="ns", engine=engine))
        manifest_schemas.check(objects)
        rendered += 1
    assert rendered == (68 if kind == "serving" else 86)


def test_config_can_make_kubernetes_the_default_engine() -> None:
    config = config_.resolve({"MLCTL_SERVING_ENGINE": "kubernetes"}, [])
    assert "Deployment" in kinds(render(remote(), config))
    assert "NuclioFunction" in kinds(render(remote(), config, engine="nuclio"))


def test_base_specs_code_is_the_functions_code() -> None:
    assert serving.source_code(render_support.function(remote())) == CODE


@pytest.mark.parametrize("engine", ["nuclio", "kubernetes"])
def test_the_serving_http_example_renders_to_valid_objects(engine: str) -> None:
    config = config_.resolve(SPOT_ENV, [])
    loaded = pipeline.load(str(EXAMPLES / "serving-http.yaml"), config)
    assert not [w for w in loaded.warnings if "GPU" in w.message]  # 2 workers for 2 GPUs
    objects = pipeline.render(loaded, config, RenderContext(engine=engine))
    manifest_schemas.check(objects)
    if engine == "nuclio":
        assert function(objects)["spec"]["triggers"]["http"]["maxWorkers"] == 2
    else:
        hpa = by_kind(objects, "HorizontalPodAutoscaler")["spec"]
        assert (hpa["minReplicas"], hpa["maxReplicas"]) == (1, 4)
        assert hpa["metrics"][0]["resource"]["target"]["averageUtilization"] == 70
