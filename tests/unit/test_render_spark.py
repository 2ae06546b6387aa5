"""Kind ``spark``: one run is one SparkApplication; driver and executors placed on their own."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mlctl import config as config_
from mlctl import pipeline
from mlctl.errors import InvalidInput
from mlctl.render import spark
from mlctl.render.context import RenderContext
from mlctl.spec import retry as retry_
from tests.unit import manifest_schemas
from tests.unit.render_support import SPOT, SPOT_TOLERATION, by_kind, env_of, kinds, render, spec_of
from tests.unit.support import EXAMPLES

SPOT_IN = [{"matchExpressions": [{"key": "node-lifecycle", "operator": "In", "values": ["spot"]}]}]


def app(objects: list[dict[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = by_kind(objects, "SparkApplication")["spec"]
    return found


def test_embedded_code_runs_through_the_bootstrap_in_cluster_mode() -> None:
    objects = render(spec_of("spark"))
    spec = app(objects)
    assert spec["type"] == "Python"
    assert spec["mode"] == "cluster"
    assert spec["pythonVersion"] == "3"
    assert spec["mainApplicationFile"] == "local:///opt/mlctl/bootstrap.py"
    assert spec["sparkVersion"] == spark.DEFAULT_SPARK_VERSION
    code = by_kind(objects, "ConfigMap")["metadata"]["name"]
    assert code.startswith("demo-fn-code-")
    assert {"name": "mlctl-code", "configMap": {"name": code}} in spec["volumes"]
    for side in ("driver", "executor"):
        assert {"name": "mlctl-code", "mountPath": "/opt/mlctl", "readOnly": True} in spec[side]["volumeMounts"]
    run = json.loads(env_of(spec["driver"])["MLCTL_RUN"])
    assert run["run_id"] == "abc12345"
    assert kinds(objects) == ["ConfigMap", "SparkApplication"]
    manifest_schemas.check(objects)


def test_a_main_file_in_the_image_runs_with_its_arguments() -> None:
    spec = app(render(spec_of("spark", code=None, command="/app/etl.py", args=["--day", "1"])))
    assert spec["mainApplicationFile"] == "local:///app/etl.py"
    assert spec["arguments"] == ["--day", "1"]
    spec = app(render(spec_of("spark", code=None, command="s3a://bucket/etl.py")))
    assert spec["mainApplicationFile"] == "s3a://bucket/etl.py"
    spec = app(render(spec_of("spark", code=None, command="etl.py", workdir="/app")))
    assert spec["mainApplicationFile"] == "local:///app/etl.py"


def test_a_relative_main_file_is_taken_from_the_spark_images_working_directory() -> None:
    # MLRun submits local://etl.py, which names a host; the file is in the image's working directory
    spec = app(render(spec_of("spark", code=None, command="etl.py")))
    assert spec["mainApplicationFile"] == "local:///opt/spark/work-dir/etl.py"


def test_replicas_are_the_executor_instances() -> None:
    assert app(render(spec_of("spark", replicas=5)))["executor"]["instances"] == 5
    assert app(render(spec_of("spark")))["executor"]["instances"] == 1


def test_mlruns_default_resources_when_none_are_given() -> None:
    spec = app(render(spec_of("spark")))
    driver, executor = spec["driver"], spec["executor"]
    assert (driver["cores"], driver["coreRequest"], driver["coreLimit"], driver["memory"]) == (1, "1", "2", "2g")
    assert (executor["cores"], executor["coreRequest"], executor["coreLimit"]) == (1, "1", "2")
    assert executor["memory"] == "5g"


def test_driver_and_executor_resources_in_sparks_terms() -> None:
    objects = render(
        spec_of(
            "spark",
            driver_cores=2,
            executor_cores=4,
            driver_resources={"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"cpu": "3"}},
            executor_resources={
                "requests": {"cpu": "500m", "memory": "1500Mi"},
                "limits": {"cpu": "4", "nvidia.com/gpu": 1},
            },
        )
    )
    driver, executor = app(objects)["driver"], app(objects)["executor"]
    assert (driver["cores"], driver["coreRequest"], driver["coreLimit"], driver["memory"]) == (2, "2", "3", "4g")
    assert (executor["cores"], executor["coreRequest"], executor["memory"]) == (4, "500m", "1500m")
    assert executor["gpu"] == {"name": "nvidia.com/gpu", "quantity": 1}
    assert "gpu" not in driver
    manifest_schemas.check(objects)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2g", "2g"),
        ("512m", "512m"),
        ("2Gi", "2g"),
        ("512Mi", "512m"),
        ("1G", "1g"),
        ("4G", "4g"),
        ("1e9", "954m"),
        (1073741824, "1g"),
    ],
)
def test_memory_in_jvm_notation(given: Any, expected: str) -> None:
    assert spark.spark_memory(given) == expected


def test_driver_and_executor_take_their_own_preemption_modes() -> None:
    objects = render(
        spec_of(
            "spark",
            driver_preemption_mode="prevent",
            executor_preemption_mode="constrain",
            driver_node_selector={"pool": "cpu"},
        ),
        SPOT,
    )
    driver, executor = app(objects)["driver"], app(objects)["executor"]
    assert driver["nodeSelector"] == {"pool": "cpu"}
    assert "tolerations" not in driver
    assert executor["tolerations"] == [SPOT_TOLERATION]
    terms = executor["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == SPOT_IN
    manifest_schemas.check(objects)


def test_sides_fall_back_to_the_functions_placement_and_mode() -> None:
    objects = render(
        spec_of(
            "spark",
            preemption_mode="allow",
            node_selector={"zone": "a"},
            tolerations=[{"key": "team", "operator": "Exists"}],
            executor_node_selector={"zone": "b"},
        ),
        SPOT,
    )
    driver, executor = app(objects)["driver"], app(objects)["executor"]
    assert driver["nodeSelector"] == {"zone": "a"}
    assert executor["nodeSelector"] == {"zone": "b"}
    for side in (driver, executor):
        assert side["tolerations"] == [{"key": "team", "operator": "Exists"}, SPOT_TOLERATION]


def test_dynamic_allocation_passes_through() -> None:
    spec = app(
        render(
            spec_of(
                "spark",
                dynamic_allocation={"enabled": True, "minExecutors": 1, "maxExecutors": 8, "initialExecutors": 2},
            )
        )
    )
    assert spec["dynamicAllocation"] == {"enabled": True, "minExecutors": 1, "maxExecutors": 8, "initialExecutors": 2}


def test_volumes_env_and_side_mounts() -> None:
    objects = render(
        spec_of(
            "spark",
            env=[{"name": "A", "value": "1"}],
            volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}],
            volume_mounts=[{"name": "data", "mountPath": "/data"}],
            driver_volume_mounts=[{"name": "data", "mountPath": "/driver-data"}],
        )
    )
    spec = app(objects)
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "data"}} in spec["volumes"]
    assert {"name": "data", "mountPath": "/driver-data"} in spec["driver"]["volumeMounts"]
    assert {"name": "data", "mountPath": "/driver-data"} not in spec["executor"]["volumeMounts"]
    for side in ("driver", "executor"):
        assert {"name": "data", "mountPath": "/data"} in spec[side]["volumeMounts"]
        assert env_of(spec[side])["A"] == "1"
    manifest_schemas.check(objects)


def test_restart_policy_deps_and_confs() -> None:
    spec = app(
        render(
            spec_of(
                "spark",
                restart_policy={"type": "Never", "retries": 2},
                deps={"jars": ["local:///jars/x.jar"], "packages": ["org.apache:y:1"]},
                spark_conf={"spark.eventLog.enabled": True, "spark.sql.shuffle.partitions": 8},
                hadoop_conf={"fs.s3a.fast.upload": True},
            )
        )
    )
    assert spec["restartPolicy"] == {
        "type": "Never",
        "onFailureRetries": 2,
        "onFailureRetryInterval": 10,
        "onSubmissionFailureRetries": 3,
        "onSubmissionFailureRetryInterval": 20,
    }
    assert spec["deps"] == {"jars": ["local:///jars/x.jar"], "packages": ["org.apache:y:1"]}
    assert spec["sparkConf"] == {
        "spark.eventLog.enabled": "true",
        "spark.sql.shuffle.partitions": "8",
        "spark.eventLog.dir": "/tmp",
    }
    assert spec["hadoopConf"] == {"fs.s3a.fast.upload": "true"}


def test_run_labels_annotations_priority_and_account_on_both_sides() -> None:
    config = config_.resolve({"MLCTL_VALID_FUNCTION_PRIORITY_CLASS_NAMES": "high"}, [])
    objects = render(spec_of("spark", priority_class_name="high", service_account="spark-runner"), config)
    application = by_kind(objects, "SparkApplication")
    assert application["metadata"]["labels"]["mlctl.io/run-id"] == "abc12345"
    for side in ("driver", "executor"):
        part = application["spec"][side]
        assert part["labels"] == application["metadata"]["labels"]
        assert part["annotations"] == application["metadata"]["annotations"]
        assert part["priorityClassName"] == "high"
        assert part["serviceAccount"] == "spark-runner"
    manifest_schemas.check(objects)


def test_without_a_run_id_only_the_functions_objects_render() -> None:
    assert kinds(render(spec_of("spark"), run_id="")) == ["ConfigMap"]


def test_node_name_cannot_place_a_spark_application() -> None:
    with pytest.raises(InvalidInput, match="node_name"):
        render(spec_of("spark", node_name="node-1"))


def test_default_image_matches_the_spark_version() -> None:
    spec = app(render(spec_of("spark", image="", spark_version="3.4.4")))
    assert spec["image"] == "apache/spark:3.4.4-python3"
    assert spec["sparkVersion"] == "3.4.4"


def test_monitoring_exposes_metrics() -> None:
    spec = app(render(spec_of("spark", monitoring={"enabled": True, "exporter_jar": "/jars/jmx.jar"})))
    assert spec["monitoring"] == {
        "exposeDriverMetrics": True,
        "exposeExecutorMetrics": True,
        "prometheus": {"jmxExporterJar": "/jars/jmx.jar"},
    }


def test_cores_follow_the_cpu_request_unless_given() -> None:
    spec = app(
        render(
            spec_of(
                "spark",
                driver_resources={"requests": {"cpu": "500m"}},
                executor_resources={"requests": {"cpu": "2500m"}},
            )
        )
    )
    assert (spec["driver"]["cores"], spec["executor"]["cores"]) == (1, 3)
    spec = app(render(spec_of("spark", executor_cores=1, executor_resources={"requests": {"cpu": "4"}})))
    assert spec["executor"]["cores"] == 1


def test_the_spark_etl_example_renders_to_valid_objects() -> None:
    loaded = pipeline.load(str(EXAMPLES / "spark-etl.yaml"), SPOT)
    objects = pipeline.render(loaded, SPOT, RenderContext(run_id="abc12345"))
    manifest_schemas.check(objects)
    spec = app(objects)
    assert spec["executor"]["instances"] == 3
    assert spec["executor"]["tolerations"] == [SPOT_TOLERATION]
    assert "tolerations" not in spec["driver"]


def test_a_runs_retry_becomes_the_operators_restart_policy_on_failure() -> None:
    given = spec_of("spark", restart_policy={"type": "Never", "retries": 5, "retry_interval": 99})
    objects = render(given, retry=retry_.Retry(count=2, backoff="1m30s"))

    assert app(objects)["restartPolicy"] == {
        "type": "OnFailure",
        "onFailureRetries": 2,
        "onFailureRetryInterval": 90,
        "onSubmissionFailureRetries": 3,
        "onSubmissionFailureRetryInterval": 20,
    }
    # a run that asks for nothing keeps the function's own policy; a backoff under a second is one
    assert app(render(given))["restartPolicy"]["onFailureRetries"] == 5
    no_wait = app(render(given, retry=retry_.Retry(count=1, backoff="0")))["restartPolicy"]
    assert no_wait["onFailureRetryInterval"] == 1
