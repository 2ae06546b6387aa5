"""What MLRun 1.12 writes into an exported function works in mlctl as it is.

Each case is a shape of MLRun 1.12.1's export (``fn.export()`` and
``to_yaml()``), written out by hand here so the unit tests need no MLRun;
``tests/mlrun`` checks the same against the real SDK.
"""

from __future__ import annotations

import base64
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlctl import config as config_
from mlctl.errors import Problem
from mlctl.render import pod as pod_
from mlctl.spec import loader, validate
from tests.unit.render_support import DEFAULT, SPOT, SPOT_LABELS_ONLY, by_kind, env_of, render, spec_of
from tests.unit.support import Cli, SpecFile

KEY = "abc123-v3io-key"


def problems(text: str, config: config_.Config = DEFAULT) -> list[Problem]:
    return validate.check(loader.load_text(textwrap.dedent(text).lstrip("\n"), "f.yaml"), config)


def located(found: list[Problem], severity: str) -> list[str]:
    return [f"{p.line}:{p.column} {p.path}: {p.message}" for p in found if p.severity == severity]


def container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = by_kind(objects, "Job")["spec"]["template"]["spec"]["containers"][0]
    return found


def pod_spec(objects: list[dict[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = by_kind(objects, "Job")["spec"]["template"]["spec"]
    return found


# ------------------------------------------------------------- 1, 2: keys MLRun 1.12 writes


@pytest.mark.parametrize("kind", ["job", "mpijob", "dask", "remote", "serving", "application", "spark"])
def test_mount_otlp_secret_of_every_1_12_export_is_a_known_key(kind: str) -> None:
    found = problems(f"kind: {kind}\nmetadata: {{name: f}}\nspec:\n  image: x\n  mount_otlp_secret: false\n")
    assert found == []


def test_application_ports_of_an_application_export_are_known() -> None:
    text = "kind: application\nmetadata: {name: app}\nspec:\n  application_ports: [8050]\n"
    assert problems(text) == []


# ------------------------------------------------------------- 3, 4: Spark memory in JVM notation


def test_spark_defaults_in_jvm_notation_validate() -> None:
    text = """
    kind: spark
    metadata: {name: etl}
    spec:
      image: x
      driver_resources:
        requests: {memory: 2g, cpu: '1'}
        limits: {cpu: '2'}
      executor_resources:
        requests: {memory: 5g, cpu: '1'}
        limits: {cpu: '2'}
    """
    assert problems(text) == []


def test_spark_memory_requests_and_limits_compare_as_jvm_sizes() -> None:
    text = """
    kind: spark
    metadata: {name: etl}
    spec:
      executor_resources:
        requests: {memory: 4G}
        limits: {memory: 4000m}
    """
    # 4G is 4096 MiB to Spark: above a 4000 MiB limit
    assert located(problems(text), "error") == [
        "5:16 spec.executor_resources.requests.memory: request 4G is above the limit 4000m for memory"
    ]


def test_spark_memory_in_upper_case_is_read_as_binary_as_spark_does() -> None:
    objects = render(spec_of("spark", driver_resources={"requests": {"memory": "4G"}}))
    (app,) = [o for o in objects if o["kind"] == "SparkApplication"]
    assert app["spec"]["driver"]["memory"] == "4g"  # 4096 MiB, not 3815m


# ------------------------------------------------------------- 5: the v3io key and credentials in Secrets


def test_a_plain_v3io_access_key_in_env_reaches_the_pod_from_a_secret() -> None:
    env = [{"name": "V3IO_USERNAME", "value": "admin"}, {"name": "V3IO_ACCESS_KEY", "value": KEY}]
    objects = render(spec_of("job", env=env))
    variables = env_of(container(objects))
    assert variables["V3IO_USERNAME"] == "admin"
    assert variables["V3IO_ACCESS_KEY"] == {"secretKeyRef": {"name": "demo-fn-credentials", "key": "V3IO_ACCESS_KEY"}}
    secret = by_kind(objects, "Secret")
    assert secret["metadata"]["name"] == "demo-fn-credentials"
    assert secret["stringData"] == {"V3IO_ACCESS_KEY": KEY}
    assert KEY not in json.dumps([o for o in objects if o["kind"] != "Secret"])


def test_an_empty_v3io_access_key_stays_a_plain_empty_value() -> None:
    objects = render(spec_of("job", env=[{"name": "V3IO_ACCESS_KEY", "value": ""}]))
    assert env_of(container(objects))["V3IO_ACCESS_KEY"] == ""
    assert [o for o in objects if o["kind"] == "Secret"] == []


def test_the_functions_access_key_goes_to_a_secret_and_reaches_the_pod_as_mlruns_variables() -> None:
    data = spec_of("job")
    data["metadata"]["credentials"] = {"access_key": KEY}
    objects = render(data)
    ref = {"secretKeyRef": {"name": "demo-fn-credentials", "key": "accessKey"}}
    variables = env_of(container(objects))
    assert variables[pod_.AUTH_SESSION_ENV] == ref
    assert variables["V3IO_ACCESS_KEY"] == ref
    assert by_kind(objects, "Secret")["stringData"] == {"accessKey": KEY}
    assert KEY not in json.dumps([o for o in objects if o["kind"] != "Secret"])


def test_a_secret_reference_as_access_key_is_used_as_it_is() -> None:
    data = spec_of("job")
    data["metadata"]["credentials"] = {"access_key": "$ref:team-key"}
    objects = render(data)
    assert env_of(container(objects))[pod_.AUTH_SESSION_ENV] == {
        "secretKeyRef": {"name": "team-key", "key": "accessKey"}
    }
    assert [o for o in objects if o["kind"] == "Secret"] == []


def test_generate_as_access_key_adds_nothing() -> None:
    data = spec_of("job")
    data["metadata"]["credentials"] = {"access_key": "$generate"}
    variables = env_of(container(render(data)))
    assert pod_.AUTH_SESSION_ENV not in variables
    assert "V3IO_ACCESS_KEY" not in variables


# ------------------------------------------------------------- 6: prevent and the user's spot requirement


def _required(affinity: dict[str, Any] | None) -> list[Any]:
    if not affinity:
        return []
    terms: list[Any] = affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    return terms


SPOT_AND_ZONE = {
    "nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {
                    "matchExpressions": [
                        {"key": "node-lifecycle", "operator": "In", "values": ["spot"]},
                        {"key": "zone", "operator": "In", "values": ["a"]},
                    ]
                }
            ]
        }
    }
}
ZONE_A = {"key": "zone", "operator": "In", "values": ["a"]}
NOT_SPOT = {"key": "node-lifecycle", "operator": "NotIn", "values": ["spot"]}


def test_prevent_drops_the_users_spot_requirement_and_keeps_the_rest() -> None:
    spec = pod_spec(render(spec_of("job", affinity=SPOT_AND_ZONE, preemption_mode="prevent"), SPOT))
    assert _required(spec.get("affinity")) == [{"matchExpressions": [ZONE_A]}]


def test_prevent_without_tolerations_never_requires_and_forbids_the_same_label() -> None:
    spec = pod_spec(render(spec_of("job", affinity=SPOT_AND_ZONE, preemption_mode="prevent"), SPOT_LABELS_ONLY))
    assert _required(spec["affinity"]) == [{"matchExpressions": [ZONE_A, NOT_SPOT]}]


def test_prevent_drops_a_term_that_only_required_spot() -> None:
    only_spot = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "node-lifecycle", "operator": "In", "values": ["spot"]}]},
                    {"matchExpressions": [ZONE_A]},
                ]
            }
        }
    }
    spec = pod_spec(render(spec_of("job", affinity=only_spot, preemption_mode="prevent"), SPOT))
    assert _required(spec.get("affinity")) == [{"matchExpressions": [ZONE_A]}]
    spec = pod_spec(render(spec_of("job", affinity=only_spot, preemption_mode="prevent"), SPOT_LABELS_ONLY))
    assert _required(spec["affinity"]) == [{"matchExpressions": [ZONE_A, NOT_SPOT]}]


def test_validate_warns_where_prevent_removes_the_users_spot_requirement() -> None:
    text = "kind: job\nmetadata: {name: f}\nspec:\n  preemption_mode: prevent\n  affinity: " + json.dumps(SPOT_AND_ZONE)
    warned = located(problems(text, SPOT), "warning")
    assert len(warned) == 1
    assert "nodeSelectorTerms[0].matchExpressions[0]: node affinity requires node-lifecycle=spot" in warned[0]
    assert "'prevent'" in warned[0]


# ------------------------------------------------------------- 7: MLRun's name of the auto-mounted claim


@pytest.mark.parametrize(
    "settings",
    [
        {"MLCTL_STORAGE__AUTO_MOUNT_TYPE": "pvc", "MLCTL_STORAGE__AUTO_MOUNT_PARAMS": "pvc_name=shared"},
        {"MLRUN_PVC_MOUNT": "shared:/mnt/pipeline"},
    ],
)
def test_an_auto_mounted_claim_is_named_pipeline_as_in_mlrun(settings: dict[str, str]) -> None:
    spec = pod_spec(render(spec_of("job"), config_.resolve(settings, [])))
    assert {"name": "pipeline", "persistentVolumeClaim": {"claimName": "shared"}} in spec["volumes"]
    mounts = spec["containers"][0]["volumeMounts"]
    assert {"name": "pipeline", "mountPath": "/mnt/pipeline"} in mounts


# ------------------------------------------------------------- 8: priority classes without a cluster


def test_priority_classes_answer_from_config_when_no_cluster_is_configured(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLCTL_VALID_FUNCTION_PRIORITY_CLASS_NAMES", "high,low")
    monkeypatch.setenv("MLCTL_DEFAULT_FUNCTION_PRIORITY_CLASS_NAME", "low")
    result = cli("priority-classes", "-o", "json")
    assert result.code == 0, result.err
    assert json.loads(result.out) == {
        "valid": ["high", "low"],
        "default": "low",
        "values": {},
        "cluster_checked": False,
    }
    assert "not checked against a cluster" in result.err


# ------------------------------------------------------------- 9: smaller differences


def test_nuclio_runtime_defaults_to_mlrun_1_12s_python() -> None:
    (function,) = [o for o in render(spec_of("nuclio"), run_id="") if o["kind"] == "NuclioFunction"]
    assert function["spec"]["runtime"] == "python:3.11"


def test_set_http_writes_the_sync_mode_as_the_sdk_does(spec_file: SpecFile, cli: Cli) -> None:
    path = spec_file("kind: nuclio\nmetadata: {name: f}\nspec:\n  image: x\n")
    assert cli("set-http", path, "--workers", "2").code == 0
    trigger = yaml.safe_load(path.read_text())["spec"]["config"]["spec.triggers.http"]
    assert trigger["mode"] == "sync"


def test_a_secret_volume_with_null_items_renders_without_them() -> None:
    volumes = [{"name": "secret", "secret": {"secretName": "creds", "items": None}}]
    mounts = [{"name": "secret", "mountPath": "/etc/creds"}]
    spec = pod_spec(render(spec_of("job", volumes=volumes, volume_mounts=mounts)))
    assert {"name": "secret", "secret": {"secretName": "creds"}} in spec["volumes"]


def test_a_relative_spark_main_file_is_accepted() -> None:
    objects = render(spec_of("spark", code=None, command="spark.py"))
    (app,) = [o for o in objects if o["kind"] == "SparkApplication"]
    assert app["spec"]["mainApplicationFile"] == "local:///opt/spark/work-dir/spark.py"


# ------------------------------------------------------------- unknown keys and --validate


UNKNOWN = "kind: job\nmetadata: {name: f}\nspec:\n  image: x\n  resourcez: {}\n  brand_new_key: 1\n"


def test_a_likely_typo_is_an_error_and_another_unknown_key_a_located_warning() -> None:
    found = problems(UNKNOWN)
    assert located(found, "error") == ["5:3 spec.resourcez: unknown key 'resourcez'"]
    assert [p.hint for p in found if p.severity == "error"] == ["did you mean 'resources'?"]
    assert located(found, "warning") == [
        "6:3 spec.brand_new_key: unknown key 'brand_new_key': kept in the file, not rendered"
    ]


@pytest.mark.parametrize(
    ("level", "errors", "warnings"),
    [("strict", 2, 0), ("warn", 1, 1), ("ignore", 0, 0)],
)
def test_validation_levels(level: str, errors: int, warnings: int) -> None:
    found = problems(UNKNOWN, config_.resolve({"MLCTL_VALIDATION": level}, []))
    assert (len(located(found, "error")), len(located(found, "warning"))) == (errors, warnings)


@pytest.mark.parametrize("where", ["before", "after"])
def test_validate_option_sets_the_level(spec_file: SpecFile, cli: Cli, where: str) -> None:
    path = spec_file(UNKNOWN.replace("  resourcez: {}\n", ""))
    assert cli("validate", path).code == 0
    args = ["--validate=strict", "validate", path] if where == "before" else ["validate", path, "--validate", "strict"]
    result = cli(*args)
    assert result.code == 3
    assert "unknown key 'brand_new_key'" in result.err


def test_a_bad_validation_level_is_invalid_input(spec_file: SpecFile, cli: Cli) -> None:
    path = spec_file(UNKNOWN)
    result = cli("validate", path, "--validate=loose")
    assert result.code == 3
    assert "'loose' is not one of strict, warn, ignore" in result.err


def test_an_unknown_key_is_not_rendered() -> None:
    data = spec_of("job", brand_new_key=1, volumes=[{"name": "v", "emptyDir": {}, "fancyNew": 1}])
    data["spec"]["volume_mounts"] = [{"name": "v", "mountPath": "/v"}]
    objects = render(data)
    assert "brand_new_key" not in json.dumps(objects)
    assert {"name": "v", "emptyDir": {}} in pod_spec(objects)["volumes"]


def test_editing_commands_keep_unknown_keys(spec_file: SpecFile, cli: Cli) -> None:
    path = spec_file(
        """
        kind: job
        metadata: {name: f}
        spec:
          image: x
          brand_new_key: keep me
          mount_otlp_secret: false
        """
    )
    assert cli("set-env", path, "A=1").code == 0
    assert cli("set-resources", path, "--requests", "cpu=1").code == 0
    data = yaml.safe_load(path.read_text())
    assert data["spec"]["brand_new_key"] == "keep me"
    assert data["spec"]["env"] == [{"name": "A", "value": "1"}]


def test_strict_validation_refuses_an_edit_of_a_file_with_unknown_keys(spec_file: SpecFile, cli: Cli) -> None:
    path = spec_file("kind: job\nmetadata: {name: f}\nspec:\n  brand_new_key: 1\n")
    before = path.read_text()
    assert cli("--validate=strict", "set-env", path, "A=1").code == 3
    assert path.read_text() == before


def _encoded(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_env_from_sources_reach_the_container() -> None:
    sources = [{"configMapRef": {"name": "settings"}}, {"secretRef": {"name": "creds"}, "prefix": "DB_"}]
    assert container(render(spec_of("job", env_from=sources)))["envFrom"] == sources


def test_the_schema_file_is_what_mlctl_ships() -> None:
    shipped = Path(validate.__file__).resolve().parents[1] / "schemas" / "function.schema.json"
    assert json.loads(shipped.read_text())["$defs"]["applicationSpec"]["properties"]["application_ports"]


@pytest.mark.parametrize(
    ("key", "severity"),
    [
        ("resourcez", "error"),  # a letter changed
        ("resource", "error"),  # one left out
        ("resourcess", "error"),  # one added
        ("rseources", "error"),  # two neighbours swapped
        ("resources_per_pod", "warning"),
        ("serving_spec_v2", "warning"),
    ],
)
def test_one_edit_from_a_known_key_is_a_typo(key: str, severity: str) -> None:
    found = problems(f"kind: job\nmetadata: {{name: f}}\nspec:\n  {key}: {{}}\n")
    assert [(p.path, p.severity) for p in found] == [(f"spec.{key}", severity)]


def test_asking_for_mlruns_telemetry_secret_is_a_warning() -> None:
    found = problems("kind: job\nmetadata: {name: f}\nspec:\n  mount_otlp_secret: true\n")
    assert located(found, "warning") == [
        "4:3 spec.mount_otlp_secret: MLRun's server mounts its OpenTelemetry exporter secret here; mlctl mounts none"
    ]


def test_validate_warns_where_a_spark_sides_prevent_removes_its_spot_requirement() -> None:
    text = (
        "kind: spark\nmetadata: {name: f}\nspec:\n  executor_preemption_mode: constrain\n"
        f"  driver_affinity: {json.dumps(SPOT_AND_ZONE)}\n  executor_affinity: {json.dumps(SPOT_AND_ZONE)}\n"
    )
    warned = located(problems(text, SPOT), "warning")
    assert [w.split(" ")[1].split(".")[1] for w in warned] == ["driver_affinity"]
