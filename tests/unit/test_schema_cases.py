"""What the function schema accepts and what it rejects, case by case.

Each kind has a small valid spec; negative cases change one thing in it and
check that the schema rejects exactly that thing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "function.schema.json"


def _schema() -> dict[str, Any]:
    with SCHEMA_PATH.open(encoding="utf-8") as f:
        schema: dict[str, Any] = json.load(f)
    return schema


SCHEMA = _schema()
VALIDATOR = Draft202012Validator(SCHEMA)

Doc = dict[str, Any]


# ---------------------------------------------------------------- helpers


def function(kind: str, **spec: Any) -> Doc:
    """A minimal function document of the given kind with the given spec keys."""
    return {
        "kind": kind,
        "metadata": {"name": "trainer", "tag": "", "project": "demo"},
        "spec": {"image": "python:3.11", "default_handler": "train", **spec},
        "verbose": False,
    }


def job(**spec: Any) -> Doc:
    return function("job", **spec)


def _flatten(
    errors: Iterator[ValidationError] | list[ValidationError],
) -> Iterator[ValidationError]:
    for error in errors:
        yield error
        yield from _flatten(error.context or [])


def errors_of(doc: Doc) -> list[ValidationError]:
    return list(_flatten(VALIDATOR.iter_errors(doc)))


def assert_valid(doc: Doc) -> None:
    problems = [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in VALIDATOR.iter_errors(doc)]
    assert not problems, "\n".join(problems)


def assert_rejected(doc: Doc, at: tuple[str | int, ...], keyword: str | None = None) -> None:
    """The document is invalid, and one of the errors is at the given path (and keyword)."""
    errors = errors_of(doc)
    assert errors, "expected the document to be rejected"
    found = [e for e in errors if tuple(e.absolute_path) == at and (keyword is None or e.validator == keyword)]
    described = "\n".join(f"{tuple(e.absolute_path)} {e.validator}: {e.message}" for e in errors)
    assert found, f"no error at {at} ({keyword}); errors were:\n{described}"


def spec_keys_of(definition: str) -> set[str]:
    """The spec keys a kind knows: the union of `properties` reachable through allOf and $ref."""
    seen: set[str] = set()
    keys: set[str] = set()

    def walk(node: dict[str, Any]) -> None:
        ref = node.get("$ref")
        if ref:
            name = ref.removeprefix("#/$defs/")
            if name not in seen:
                seen.add(name)
                walk(SCHEMA["$defs"][name])
        keys.update(node.get("properties", {}))
        for sub in node.get("allOf", []):
            walk(sub)

    walk({"$ref": f"#/$defs/{definition}"})
    return keys


# ---------------------------------------------------------------- the schema itself


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(SCHEMA)


def test_schema_names_itself_for_editors() -> None:
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA["$id"].endswith("/function.schema.json")
    assert SCHEMA["title"]
    assert SCHEMA["description"]


COMMON_KEYS = {
    "command", "args", "image", "mode", "build", "entry_points", "description", "workdir",
    "default_handler", "pythonpath", "disable_auto_mount", "allow_empty_resources",
    "clone_target_dir", "reset_on_run", "mount_otlp_secret", "auto_mount_injected_env_names",
    "graph", "parameters", "serving_spec", "track_models",
}  # fmt: skip
KUBE_KEYS = {
    "volumes", "volume_mounts", "env", "resources", "replicas", "image_pull_policy",
    "service_account", "image_pull_secret", "node_name", "node_selector", "affinity",
    "priority_class_name", "tolerations", "preemption_mode", "security_context",
    "state_thresholds", "env_from",
}  # fmt: skip
NUCLIO_KEYS = {
    "min_replicas", "max_replicas", "config", "base_spec", "no_cache", "source", "function_kind",
    "readiness_timeout", "readiness_timeout_before_failure", "function_handler",
    "nuclio_runtime", "base_image_pull", "service_type", "add_templated_ingress_host_mode",
    "disable_default_http_trigger", "auth", "custom_scaling_metric_specs",
    "model_endpoints_instructions",
}  # fmt: skip
LEGACY_KEYS = {"mount_applied", "filename"}
KIND_KEYS = {
    "jobSpec": set(),
    "mpijobSpec": {"mpi_args", "clean_pod_policy"},
    "daskSpec": {
        "extra_pip", "remote", "service_type", "nthreads", "kfp_image", "node_port",
        "min_replicas", "max_replicas", "scheduler_timeout", "scheduler_resources",
        "worker_resources",
    },
    "nuclioFunctionSpec": NUCLIO_KEYS,
    "servingSpec": NUCLIO_KEYS | {
        "graph", "load_mode", "graph_initializer", "function_refs", "parameters", "models",
        "default_content_type", "error_stream", "default_class", "secret_sources",
        "track_models", "tracking_policy", "streaming", "api_handler_config",
        "model_endpoint_creation_task_name",
    },
    "applicationSpec": NUCLIO_KEYS | {"internal_application_port", "application_ports"},
    "sparkSpec": {
        "driver_resources", "executor_resources", "job_type", "python_version", "spark_version",
        "restart_policy", "deps", "main_class", "spark_conf", "hadoop_conf", "use_default_image",
        "monitoring", "driver_node_selector", "executor_node_selector", "dynamic_allocation",
        "driver_tolerations", "executor_tolerations", "driver_affinity", "executor_affinity",
        "driver_preemption_mode", "executor_preemption_mode", "driver_volume_mounts",
        "executor_volume_mounts", "driver_java_options", "executor_java_options",
        "driver_cores", "executor_cores",
    },
}  # fmt: skip


@pytest.mark.parametrize("definition", sorted(KIND_KEYS))
def test_each_kind_knows_exactly_the_keys_mlrun_writes(definition: str) -> None:
    expected = COMMON_KEYS | KUBE_KEYS | LEGACY_KEYS | KIND_KEYS[definition]
    assert spec_keys_of(definition) == expected


@pytest.mark.parametrize("definition", sorted(KIND_KEYS))
def test_each_kind_spec_is_closed_with_plain_property_lists(definition: str) -> None:
    spec = SCHEMA["$defs"][definition]
    assert spec["unevaluatedProperties"] is False
    assert "$ref" not in spec
    groups = [SCHEMA["$defs"][r["$ref"].removeprefix("#/$defs/")] for r in spec["allOf"]]
    for part in [spec, *groups]:
        assert "patternProperties" not in part
        assert "oneOf" not in part
        assert "anyOf" not in part
        assert "additionalProperties" not in part
    for group in groups:
        assert set(group) <= {"description", "type", "properties"}


@pytest.mark.parametrize(
    ("kind", "definition"),
    [
        ("job", "jobSpec"),
        ("mpijob", "mpijobSpec"),
        ("dask", "daskSpec"),
        ("nuclio", "nuclioFunctionSpec"),
        ("remote", "nuclioFunctionSpec"),
        ("serving", "servingSpec"),
        ("application", "applicationSpec"),
        ("spark", "sparkSpec"),
    ],
)
def test_the_kind_selects_its_spec_definition(kind: str, definition: str) -> None:
    selected = [
        branch["then"]["properties"]["spec"]["$ref"]
        for branch in SCHEMA["allOf"]
        if kind in branch["if"]["properties"]["kind"].get("enum", [])
        or branch["if"]["properties"]["kind"].get("const") == kind
    ]
    assert selected == [f"#/$defs/{definition}"]


# ---------------------------------------------------------------- valid specs, one per kind


def test_a_minimal_job_is_valid() -> None:
    assert_valid({"kind": "job", "metadata": {"name": "trainer"}})


def test_a_job_with_every_kubernetes_setting_is_valid() -> None:
    assert_valid(
        job(
            command="train.py",
            args=["--epochs", "3"],
            mode="pass",
            description="trains a model",
            workdir="/code",
            pythonpath="/code/lib",
            disable_auto_mount=True,
            allow_empty_resources=False,
            clone_target_dir="/code",
            reset_on_run=True,
            build={
                "functionSourceCode": "cHJpbnQoJ2hpJyk=",
                "code_origin": "train.py",
                "origin_filename": "train.py",
                "base_image": "python:3.11",
                "commands": ["pip install pandas"],
                "requirements": ["scikit-learn"],
                "with_mlrun": False,
                "auto_build": False,
                "builder_env": {"PIP_INDEX_URL": "https://pypi.example/simple"},
            },
            entry_points={"train": {"name": "train", "doc": "", "parameters": [], "lineno": 3}},
            volumes=[
                {"name": "data", "persistentVolumeClaim": {"claimName": "data-claim"}},
                {"name": "conf", "configMap": {"name": "settings"}},
            ],
            volume_mounts=[
                {"name": "data", "mountPath": "/data"},
                {"name": "conf", "mountPath": "/etc/conf", "readOnly": True, "subPath": "a"},
            ],
            env=[
                {"name": "MODE", "value": "fast"},
                {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "token"}}},
                {"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "lvl"}}},
                {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
                {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory"}}},
            ],
            resources={
                "requests": {"cpu": "500m", "memory": "1Gi"},
                "limits": {"cpu": 2, "memory": "2G", "nvidia.com/gpu": 1},
            },
            replicas=1,
            image_pull_policy="IfNotPresent",
            service_account="runner",
            image_pull_secret="registry-creds",
            node_name="node-1",
            node_selector={"kubernetes.io/os": "linux", "zone": ""},
            affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {}}},
            priority_class_name="batch-low",
            tolerations=[
                {"key": "gpu", "operator": "Exists", "effect": "NoSchedule"},
                {"key": "spot", "operator": "Equal", "value": "true", "tolerationSeconds": 60},
            ],
            preemption_mode="constrain",
            security_context={"runAsUser": 1000, "runAsNonRoot": True},
            state_thresholds={
                "pending_scheduled": "1h",
                "pending_not_scheduled": "-1",
                "image_pull_backoff": "30s",
                "running": "1 minute and 30s",
            },
        )
    )


def test_an_mpijob_with_replicas_and_mpi_args_is_valid() -> None:
    assert_valid(
        function(
            "mpijob",
            replicas=3,
            mpi_args=["-x", "NCCL_SOCKET_NTHREADS=2"],
            clean_pod_policy="All",
            resources={"limits": {"nvidia.com/gpu": 1}},
        )
    )


def test_a_dask_cluster_with_replica_range_and_scheduler_resources_is_valid() -> None:
    assert_valid(
        function(
            "dask",
            min_replicas=0,
            max_replicas=16,
            nthreads=2,
            remote=True,
            service_type="NodePort",
            node_port=30080,
            scheduler_timeout="60 minutes",
            scheduler_resources={"requests": {"cpu": "1", "memory": "1Gi"}},
            worker_resources={"limits": {"cpu": "2", "memory": "4Gi"}},
        )
    )


@pytest.mark.parametrize("kind", ["nuclio", "remote"])
def test_a_nuclio_function_with_replica_range_and_http_trigger_is_valid(kind: str) -> None:
    assert_valid(
        function(
            kind,
            min_replicas=1,
            max_replicas=4,
            config={
                "spec.triggers.http": {
                    "kind": "http",
                    "maxWorkers": 8,
                    "attributes": {"ingresses": {}},
                    "annotations": {},
                },
                "spec.targetCPU": 60,
            },
            base_spec={"apiVersion": "nuclio.io/v1", "kind": "Function", "spec": {}},
            source="",
            function_handler="main:handler",
            readiness_timeout=120,
            service_type="ClusterIP",
        )
    )


def test_a_serving_function_with_a_graph_is_valid() -> None:
    assert_valid(
        function(
            "serving",
            function_kind="serving_v2",
            min_replicas=1,
            max_replicas=4,
            graph={"kind": "router", "routes": {"m1": {"kind": "task", "class_name": "M"}}},
            default_class="mlrun.frameworks.sklearn.SklearnModelServer",
            secret_sources=[],
            track_models=False,
        )
    )


def test_an_application_with_an_internal_port_is_valid() -> None:
    assert_valid(function("application", internal_application_port=8050, max_replicas=1))


def test_a_spark_function_with_driver_and_executor_resources_is_valid() -> None:
    assert_valid(
        function(
            "spark",
            replicas=2,
            driver_resources={"requests": {"cpu": 1, "memory": "2g"}, "limits": {"cpu": "2"}},
            executor_resources={"requests": {"cpu": "1", "memory": "5g"}, "limits": {"cpu": 2}},
            dynamic_allocation={
                "enabled": True,
                "minExecutors": 1,
                "maxExecutors": 5,
                "initialExecutors": 2,
            },
            driver_cores=1,
            executor_cores=2,
            spark_conf={"spark.eventLog.enabled": "true"},
            restart_policy={"type": "OnFailure", "retries": 1, "retry_interval": 10},
            deps={"jars": ["local:///jars/x.jar"]},
            driver_node_selector={"pool": "drivers"},
            executor_tolerations=[{"key": "spot", "operator": "Exists"}],
            executor_preemption_mode="allow",
            driver_volume_mounts=[{"name": "data", "mountPath": "/data"}],
        )
    )


@pytest.mark.parametrize("kind", ["job", "mpijob", "dask", "nuclio", "serving", "spark"])
def test_state_thresholds_are_a_known_key_of_every_kubernetes_kind(kind: str) -> None:
    assert_valid(function(kind, state_thresholds={"executing": "24h"}))


# ---------------------------------------------------------------- unknown keys


def test_unknown_spec_key_is_rejected() -> None:
    doc = job(resourcez={"limits": {"cpu": "1"}})
    assert_rejected(doc, ("spec",), "unevaluatedProperties")
    (error,) = [e for e in errors_of(doc) if e.validator == "unevaluatedProperties"]
    assert "resourcez" in error.message


def test_an_unknown_key_is_reported_beside_a_bad_value() -> None:
    doc = job(resources={"requests": {"memory": "1 GB"}}, resourcez=1)
    assert_rejected(doc, ("spec", "resources", "requests", "memory"), "pattern")
    unknown = [e for e in errors_of(doc) if e.validator == "unevaluatedProperties"]
    assert unknown
    assert all("'resourcez'" in e.message for e in unknown)


@pytest.mark.parametrize(
    ("kind", "key", "value"),
    [
        ("job", "mpi_args", ["-x", "A=1"]),
        ("job", "min_replicas", 1),
        ("nuclio", "load_mode", "sync"),
        ("dask", "config", {}),
        ("serving", "internal_application_port", 8050),
        ("mpijob", "driver_resources", {}),
    ],
)
def test_a_key_of_another_kind_is_rejected(kind: str, key: str, value: Any) -> None:
    assert_rejected(function(kind, **{key: value}), ("spec",), "unevaluatedProperties")


def test_unknown_top_level_key_is_rejected() -> None:
    doc = job()
    doc["specs"] = {}
    assert_rejected(doc, (), "additionalProperties")


def test_unknown_metadata_key_is_rejected() -> None:
    doc = job()
    doc["metadata"]["lables"] = {"team": "ml"}
    assert_rejected(doc, ("metadata",), "additionalProperties")


def test_unknown_build_key_is_rejected() -> None:
    assert_rejected(job(build={"base_imgae": "python"}), ("spec", "build"), "additionalProperties")


# ---------------------------------------------------------------- kind and metadata


def test_a_kind_outside_the_list_is_rejected() -> None:
    doc = job()
    doc["kind"] = "lambda"
    assert_rejected(doc, ("kind",), "enum")


def test_kind_is_required() -> None:
    doc = job()
    del doc["kind"]
    assert_rejected(doc, (), "required")


def test_metadata_name_is_required() -> None:
    doc = job()
    del doc["metadata"]["name"]
    assert_rejected(doc, ("metadata",), "required")


@pytest.mark.parametrize("name", ["My_Trainer", "trainer-", "-trainer", "a" * 64, ""])
def test_function_name_must_be_a_dns_label(name: str) -> None:
    doc = job()
    doc["metadata"]["name"] = name
    assert_rejected(doc, ("metadata", "name"))


def test_a_null_tag_is_accepted() -> None:
    doc = job()
    doc["metadata"]["tag"] = None
    assert_valid(doc)


# ---------------------------------------------------------------- resources


@pytest.mark.parametrize("quantity", ["1Gi", "100Mi", "1.5G", "500m", "0.5", "1e3", ".5", 2, 0.25])
def test_kubernetes_quantities_are_accepted(quantity: str | float) -> None:
    assert_valid(job(resources={"requests": {"memory": quantity}}))


@pytest.mark.parametrize("quantity", ["1 GB", "1GB", "1.2.3", "1Gb", "two", "", True])
def test_malformed_quantities_are_rejected(quantity: Any) -> None:
    doc = job(resources={"requests": {"memory": quantity}})
    assert_rejected(doc, ("spec", "resources", "requests", "memory"))


def test_resources_have_only_requests_and_limits() -> None:
    doc = job(resources={"request": {"cpu": "1"}})
    assert_rejected(doc, ("spec", "resources"), "additionalProperties")


def test_spark_memory_may_use_jvm_notation_but_not_spaces() -> None:
    assert_valid(function("spark", executor_resources={"requests": {"memory": "512m"}}))
    doc = function("spark", executor_resources={"requests": {"memory": "5 g"}})
    assert_rejected(doc, ("spec", "executor_resources", "requests", "memory"))


def test_dask_worker_resources_use_kubernetes_quantities() -> None:
    doc = function("dask", worker_resources={"limits": {"memory": "4GB"}})
    assert_rejected(doc, ("spec", "worker_resources", "limits", "memory"))


# ---------------------------------------------------------------- preemption and node selection


@pytest.mark.parametrize("mode", ["allow", "constrain", "prevent", "none", None])
def test_preemption_modes_are_accepted(mode: str | None) -> None:
    assert_valid(job(preemption_mode=mode))


@pytest.mark.parametrize("mode", ["sometimes", "Prevent", ""])
def test_bad_preemption_mode_is_rejected(mode: str) -> None:
    assert_rejected(job(preemption_mode=mode), ("spec", "preemption_mode"), "enum")


def test_node_selector_values_are_strings() -> None:
    assert_valid(job(node_selector=None))
    assert_rejected(job(node_selector={"gpu": True}), ("spec", "node_selector", "gpu"), "type")


def test_tolerations_and_affinity_may_be_null() -> None:
    assert_valid(job(tolerations=None, affinity=None))


def test_unknown_toleration_key_is_rejected() -> None:
    doc = job(tolerations=[{"key": "gpu", "operater": "Exists"}])
    assert_rejected(doc, ("spec", "tolerations", 0), "additionalProperties")


# ---------------------------------------------------------------- state thresholds


@pytest.mark.parametrize("value", ["-1", -1, "1h", "30s", "1 minute and 30s", "30 minutes 5h 1day"])
def test_threshold_values_are_strings_or_minus_one(value: str | int) -> None:
    assert_valid(job(state_thresholds={"pending_not_scheduled": value}))


def test_running_and_executing_are_both_threshold_states() -> None:
    assert_valid(job(state_thresholds={"running": "24h"}))
    assert_valid(job(state_thresholds={"executing": "24h"}))


def test_unknown_threshold_state_is_rejected() -> None:
    doc = job(state_thresholds={"pending": "1h"})
    assert_rejected(doc, ("spec", "state_thresholds"), "additionalProperties")


@pytest.mark.parametrize("value", [10, 0, 3600, 1.5, True])
def test_a_number_threshold_other_than_minus_one_is_rejected(value: Any) -> None:
    doc = job(state_thresholds={"image_pull_backoff": value})
    assert_rejected(doc, ("spec", "state_thresholds", "image_pull_backoff"))


# ---------------------------------------------------------------- env, volumes


def test_env_item_without_name_is_rejected() -> None:
    assert_rejected(job(env=[{"value": "1"}]), ("spec", "env", 0), "required")


@pytest.mark.parametrize("value", ["1", 1, 2.5, False, None])
def test_env_values_tolerate_what_mlrun_exports(value: Any) -> None:
    assert_valid(job(env=[{"name": "A", "value": value}]))


def test_env_value_from_an_unknown_source_is_rejected() -> None:
    doc = job(env=[{"name": "A", "valueFrom": {"vaultRef": {"path": "x"}}}])
    assert_rejected(doc, ("spec", "env", 0, "valueFrom"), "additionalProperties")


def test_env_value_from_takes_one_source() -> None:
    source = {
        "secretKeyRef": {"name": "s", "key": "k"},
        "configMapKeyRef": {"name": "c", "key": "k"},
    }
    doc = job(env=[{"name": "A", "valueFrom": source}])
    assert_rejected(doc, ("spec", "env", 0, "valueFrom"), "maxProperties")


def test_env_item_with_unknown_key_is_rejected() -> None:
    assert_rejected(job(env=[{"name": "A", "val": "1"}]), ("spec", "env", 0), "additionalProperties")


def test_volume_without_name_is_rejected() -> None:
    doc = job(volumes=[{"persistentVolumeClaim": {"claimName": "data"}}])
    assert_rejected(doc, ("spec", "volumes", 0), "required")


def test_volume_with_unknown_source_is_rejected() -> None:
    doc = job(volumes=[{"name": "data", "persistentVolumeClam": {"claimName": "data"}}])
    assert_rejected(doc, ("spec", "volumes", 0), "additionalProperties")


def test_volume_mount_needs_a_mount_path() -> None:
    assert_rejected(job(volume_mounts=[{"name": "data"}]), ("spec", "volume_mounts", 0), "required")


def test_volume_mount_keys_are_camel_case() -> None:
    doc = job(volume_mounts=[{"name": "data", "mountPath": "/d", "read_only": True}])
    assert_rejected(doc, ("spec", "volume_mounts", 0), "additionalProperties")


# ---------------------------------------------------------------- replicas and kind values


@pytest.mark.parametrize(("key", "value"), [("min_replicas", -1), ("max_replicas", 1.5), ("replicas", "3")])
def test_replica_counts_are_non_negative_integers(key: str, value: Any) -> None:
    assert_rejected(function("nuclio", **{key: value}), ("spec", key))


@pytest.mark.parametrize("base_spec", [{"apiVersion": "nuclio.io/v1"}, "", None])
def test_nuclio_base_spec_is_a_mapping_or_empty(base_spec: Any) -> None:
    assert_valid(function("remote", base_spec=base_spec))


def test_nuclio_base_spec_text_is_rejected() -> None:
    doc = function("remote", base_spec="apiVersion: nuclio.io/v1")
    assert_rejected(doc, ("spec", "base_spec"), "maxLength")


def test_application_port_must_be_a_port_number() -> None:
    doc = function("application", internal_application_port=70000)
    assert_rejected(doc, ("spec", "internal_application_port"), "maximum")


def test_mpijob_clean_pod_policy_is_one_of_the_operators_values() -> None:
    assert_rejected(function("mpijob", clean_pod_policy="Always"), ("spec", "clean_pod_policy"), "enum")


def test_spark_dynamic_allocation_keys_are_known() -> None:
    doc = function("spark", dynamic_allocation={"enabled": True, "maxExecutor": 3})
    assert_rejected(doc, ("spec", "dynamic_allocation"), "additionalProperties")


def test_nuclio_trigger_max_workers_is_an_integer() -> None:
    doc = function("nuclio", config={"spec.triggers.http": {"kind": "http", "maxWorkers": "8"}})
    assert_rejected(doc, ("spec", "config", "spec.triggers.http", "maxWorkers"), "type")
