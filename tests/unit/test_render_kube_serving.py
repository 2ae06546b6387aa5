"""``--engine kubernetes``: a Nuclio-kind function as Deployment + Service + HPA, no Nuclio needed."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from mlctl import config as config_
from mlctl.errors import InvalidInput
from mlctl.payloads import nuclio_shim
from tests.unit import manifest_schemas
from tests.unit.render_support import CODE, by_kind, encoded, env_of, kinds, render, spec_of


def kube(data: dict[str, Any], config: config_.Config | None = None, **ctx: Any) -> list[dict[str, Any]]:
    if config is None:
        return render(data, engine="kubernetes", **ctx)
    return render(data, config, engine="kubernetes", **ctx)


def box(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (found,) = by_kind(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    return dict(found)


def test_a_range_of_replicas_becomes_an_hpa_at_the_target_cpu() -> None:
    objects = kube(
        spec_of(
            "nuclio",
            min_replicas=2,
            max_replicas=6,
            config={"spec.targetCPU": 60},
            resources={"requests": {"cpu": "500m"}},
        )
    )
    assert kinds(objects) == ["ConfigMap", "Service", "Deployment", "HorizontalPodAutoscaler"]
    hpa = by_kind(objects, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": by_kind(objects, "Deployment")["metadata"]["name"],
    }
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"] == {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}
    assert "replicas" not in by_kind(objects, "Deployment")["spec"]  # the HPA owns the count
    manifest_schemas.check(objects)


def test_target_cpu_defaults_to_75_percent_and_the_range_to_one_to_four() -> None:
    hpa = by_kind(kube(spec_of("nuclio")), "HorizontalPodAutoscaler")
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 75
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 4)


def test_fixed_replicas_need_no_hpa() -> None:
    objects = kube(spec_of("nuclio", replicas=3))
    assert "HorizontalPodAutoscaler" not in kinds(objects)
    assert by_kind(objects, "Deployment")["spec"]["replicas"] == 3


def test_scale_to_zero_becomes_a_minimum_of_one() -> None:
    hpa = by_kind(kube(spec_of("nuclio", min_replicas=0, max_replicas=3)), "HorizontalPodAutoscaler")
    assert hpa["spec"]["minReplicas"] == 1


def test_the_handler_is_served_by_the_shim_from_a_config_map() -> None:
    objects = kube(spec_of("nuclio", config={"spec.triggers.http": {"kind": "http", "maxWorkers": 4}}))
    code = by_kind(objects, "ConfigMap")
    assert code["data"]["fn.py"] == CODE
    assert "def serve(" in code["data"]["nuclio_shim.py"]
    container = box(objects)
    assert container["command"] == ["python", "/opt/mlctl/nuclio_shim.py"]
    assert json.loads(env_of(container)["MLCTL_SERVE"]) == {
        "code": "/opt/mlctl/fn.py",
        "handler": "fn:handler",
        "port": 8080,
        "workers": 4,
    }
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]


def test_service_selects_the_pods_and_keeps_the_service_type() -> None:
    objects = kube(spec_of("nuclio", service_type="ClusterIP"))
    service = by_kind(objects, "Service")
    assert service["spec"]["type"] == "ClusterIP"
    labels = by_kind(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert by_kind(kube(spec_of("nuclio")), "Service")["spec"]["type"] == "NodePort"


def test_serving_carries_its_graph_in_the_environment() -> None:
    graph = {"kind": "router", "routes": {}}
    objects = kube(spec_of("serving", graph=graph))
    assert json.loads(env_of(box(objects))["SERVING_SPEC_ENV"])["graph"] == graph
    manifest_schemas.check(objects)


def test_an_application_runs_its_own_image_on_its_port() -> None:
    objects = kube(
        spec_of("application", code=None, image="me/app:1", internal_application_port=9000, command="uvicorn app:api")
    )
    container = box(objects)
    assert container["image"] == "me/app:1"
    assert container["command"] == ["uvicorn", "app:api"]
    assert container["ports"][0]["containerPort"] == 9000
    assert by_kind(objects, "Service")["spec"]["ports"][0]["port"] == 9000
    assert "ConfigMap" not in kinds(objects)
    manifest_schemas.check(objects)


def test_pod_settings_reach_the_deployment() -> None:
    config = config_.resolve({"MLCTL_VALID_FUNCTION_PRIORITY_CLASS_NAMES": "high"}, [])
    objects = kube(
        spec_of(
            "nuclio",
            priority_class_name="high",
            node_selector={"pool": "cpu"},
            env=[{"name": "A", "value": "1"}],
            resources={"limits": {"cpu": "1"}},
        ),
        config,
    )
    pod = by_kind(objects, "Deployment")["spec"]["template"]["spec"]
    assert pod["priorityClassName"] == "high"
    assert pod["nodeSelector"] == {"pool": "cpu"}
    assert env_of(box(objects))["A"] == "1"
    assert box(objects)["resources"] == {"limits": {"cpu": "1"}}
    manifest_schemas.check(objects)


def test_non_http_triggers_need_nuclio() -> None:
    stream = {"kind": "v3ioStream", "password": "$generate", "attributes": {}}
    with pytest.raises(InvalidInput, match="need Nuclio"):
        kube(spec_of("nuclio", config={"spec.triggers.stream": stream}))


def test_a_ready_nuclio_image_without_code_needs_nuclio() -> None:
    with pytest.raises(InvalidInput, match="no code to serve"):
        kube(spec_of("nuclio", code=None))


# --- the shim the pods run -----------------------------------------------------------


def test_shim_decodes_json_bodies_and_query_fields() -> None:
    event = nuclio_shim.Event("POST", "/predict?model=m1", {"Content-Type": "application/json"}, b'{"x": 1}')
    assert event.body == {"x": 1}
    assert event.path == "/predict"
    assert event.fields == {"model": "m1"}
    assert event.trigger.kind == "http"


def test_shim_encodes_what_handlers_return() -> None:
    assert nuclio_shim.encode({"a": 1}) == (200, {"Content-Type": "application/json"}, b'{"a": 1}')
    assert nuclio_shim.encode("hi")[2] == b"hi"
    response = nuclio_shim.Response(body=b"no", status_code=404, content_type="text/plain")
    assert nuclio_shim.encode(response) == (404, {"Content-Type": "text/plain"}, b"no")
    assert nuclio_shim.encode(None) == (200, {}, b"")


def test_shim_loads_a_handler_from_a_file_with_any_module_name(tmp_path: Path) -> None:
    path = tmp_path / "my-model.py"
    path.write_text(
        "def init_context(context):\n    context.user_data.n = 41\n\n"
        "def handler(context, event):\n    return context.user_data.n + event.body['x']\n"
    )
    module, handler = nuclio_shim.load_handler(str(path), "my-model:handler")
    context = nuclio_shim.Context("test")
    module.init_context(context)
    event = nuclio_shim.Event("POST", "/", {"Content-Type": "application/json"}, b'{"x": 1}')
    assert handler(context, event) == 42
    sys.modules.pop("my-model", None)


def test_shim_needs_its_settings() -> None:
    assert nuclio_shim.main() == 2  # MLCTL_SERVE unset in the unit tier


def test_shim_runs_on_the_standard_library_alone() -> None:
    tree = ast.parse(Path(nuclio_shim.__file__).read_text(encoding="utf-8"))
    imported = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    imported |= {str(node.module).split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "mlctl" not in imported
    assert imported <= set(sys.stdlib_module_names), imported - set(sys.stdlib_module_names)


def test_base_spec_code_is_shipped_under_its_handlers_module() -> None:
    base = {"spec": {"handler": "scorer:handler", "build": {"functionSourceCode": encoded()}}}
    objects = kube(spec_of("remote", code=None, base_spec=base))
    assert by_kind(objects, "ConfigMap")["data"]["scorer.py"] == CODE
