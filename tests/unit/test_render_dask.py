"""Kind ``dask``: a DaskCluster (scheduler + workers) and, for a range, a DaskAutoscaler."""

from __future__ import annotations

import re
from typing import Any

import pytest

from mlctl import config as config_
from mlctl import pipeline
from mlctl.errors import InvalidInput
from mlctl.render import dask
from mlctl.render.context import RenderContext
from tests.unit import manifest_schemas
from tests.unit.render_support import DEFAULT, SPOT, SPOT_TOLERATION, by_kind, env_of, kinds, render, spec_of
from tests.unit.support import CORPUS, EXAMPLES


def dask_spec(**spec: Any) -> dict[str, Any]:
    return spec_of("dask", code=None, **spec)


def cluster(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return by_kind(objects, "DaskCluster")


def box(objects: list[dict[str, Any]], role: str) -> dict[str, Any]:
    (found,) = cluster(objects)["spec"][role]["spec"]["containers"]
    return dict(found)


def test_a_range_becomes_an_autoscaler_and_workers_start_at_the_minimum() -> None:
    objects = render(dask_spec(min_replicas=1, max_replicas=4), run_id="")
    scaler = by_kind(objects, "DaskAutoscaler")
    assert scaler["spec"] == {"cluster": cluster(objects)["metadata"]["name"], "minimum": 1, "maximum": 4}
    assert cluster(objects)["spec"]["worker"]["replicas"] == 1
    manifest_schemas.check(objects)


def test_mlruns_default_range_is_zero_to_sixteen() -> None:
    scaler = by_kind(render(dask_spec()), "DaskAutoscaler")
    assert (scaler["spec"]["minimum"], scaler["spec"]["maximum"]) == (0, 16)


def test_fixed_replicas_set_the_worker_count_and_no_autoscaler() -> None:
    objects = render(dask_spec(replicas=4, min_replicas=1, max_replicas=8))
    assert cluster(objects)["spec"]["worker"]["replicas"] == 4
    assert "DaskAutoscaler" not in kinds(objects)


def test_min_equal_to_max_is_a_fixed_size() -> None:
    objects = render(dask_spec(min_replicas=3, max_replicas=3))
    assert cluster(objects)["spec"]["worker"]["replicas"] == 3
    assert "DaskAutoscaler" not in kinds(objects)


def test_workers_run_dask_worker_with_the_threads_and_the_memory_limit() -> None:
    objects = render(
        dask_spec(nthreads=4, worker_resources={"requests": {"cpu": "2"}, "limits": {"cpu": "2", "memory": "8Gi"}})
    )
    args = box(objects, "worker")["args"]
    assert args[:2] == ["dask", "worker"]
    assert args[args.index("--nthreads") + 1] == "4"
    assert args[args.index("--memory-limit") + 1] == "8Gi"
    assert box(objects, "worker")["resources"] == {"requests": {"cpu": "2"}, "limits": {"cpu": "2", "memory": "8Gi"}}
    assert box(objects, "scheduler")["args"][:2] == ["dask", "scheduler"]


def test_scheduler_and_worker_resources_go_to_their_own_pods() -> None:
    objects = render(
        dask_spec(
            scheduler_resources={"requests": {"memory": "1Gi"}}, worker_resources={"limits": {"nvidia.com/gpu": 1}}
        )
    )
    assert box(objects, "scheduler")["resources"] == {"requests": {"memory": "1Gi"}}
    assert box(objects, "worker")["resources"] == {"limits": {"nvidia.com/gpu": "1"}}
    manifest_schemas.check(objects)


def test_function_resources_size_the_workers_when_worker_resources_are_not_given() -> None:
    objects = render(dask_spec(resources={"requests": {"cpu": "1"}}))
    assert box(objects, "worker")["resources"] == {"requests": {"cpu": "1"}}
    assert "resources" not in box(objects, "scheduler")


def test_the_scheduler_service_is_cluster_ip_unless_told_otherwise() -> None:
    service = cluster(render(dask_spec()))["spec"]["scheduler"]["service"]
    assert service["type"] == "ClusterIP"
    assert [p["port"] for p in service["ports"]] == [8786, 8787]
    assert service["selector"]["dask.org/component"] == "scheduler"
    assert cluster(render(dask_spec(service_type="NodePort")))["spec"]["scheduler"]["service"]["type"] == "NodePort"


def test_a_node_port_makes_the_service_a_node_port_on_the_dashboard() -> None:
    service = cluster(render(dask_spec(node_port=30087)))["spec"]["scheduler"]["service"]
    assert service["type"] == "NodePort"
    assert service["ports"][1]["nodePort"] == 30087


def test_scheduler_timeout_is_the_clusters_idle_timeout() -> None:
    assert cluster(render(dask_spec()))["spec"]["idleTimeout"] == 3600
    assert cluster(render(dask_spec(scheduler_timeout="30m")))["spec"]["idleTimeout"] == 1800
    assert "idleTimeout" not in cluster(render(dask_spec(scheduler_timeout="-1")))["spec"]


def test_a_bad_scheduler_timeout_is_refused() -> None:
    with pytest.raises(InvalidInput, match="scheduler_timeout"):
        render(dask_spec(scheduler_timeout="soon"))


def test_default_image_is_daskdev_dask() -> None:
    objects = render(dask_spec(image=""))
    assert box(objects, "worker")["image"] == dask.DEFAULT_IMAGE == "daskdev/dask:latest"
    assert box(objects, "scheduler")["image"] == "daskdev/dask:latest"


def test_extra_pip_is_installed_by_the_dask_image() -> None:
    objects = render(dask_spec(extra_pip="pandas pyarrow"))
    assert env_of(box(objects, "worker"))["EXTRA_PIP_PACKAGES"] == "pandas pyarrow"


def test_pod_settings_and_preemption_reach_both_pods() -> None:
    objects = render(
        dask_spec(env=[{"name": "A", "value": "1"}], preemption_mode="allow", node_selector={"pool": "cpu"}), SPOT
    )
    for role in ("scheduler", "worker"):
        pod = cluster(objects)["spec"][role]["spec"]
        assert pod["tolerations"] == [SPOT_TOLERATION]
        assert pod["nodeSelector"] == {"pool": "cpu"}
        assert env_of(pod["containers"][0])["A"] == "1"
    manifest_schemas.check(objects)


def test_the_handlers_code_and_run_stay_out_of_the_cluster() -> None:
    objects = render(spec_of("dask"))
    assert kinds(objects) == ["DaskCluster", "DaskAutoscaler"]
    worker = box(objects, "worker")
    assert "MLCTL_RUN" not in env_of(worker)
    assert "volumeMounts" not in worker
    assert "command" not in worker


def test_a_cluster_needs_no_run_id() -> None:
    assert kinds(render(dask_spec(), run_id="")) == ["DaskCluster", "DaskAutoscaler"]


def test_state_thresholds_on_dask_are_refused_with_mlruns_words() -> None:
    with pytest.raises(InvalidInput) as caught:
        render(dask_spec(state_thresholds={"running": "1h"}))
    messages = [p.message for p in caught.value.problems]
    assert messages == ["State thresholds is not supported for Dask runtime yet, use spec.scheduler_timeout instead"]


DASK_FILES = sorted(
    p for p in CORPUS.glob("*.yaml") if re.search(r"^kind: dask$", p.read_text(encoding="utf-8"), re.MULTILINE)
)


def test_every_hub_dask_function_renders_to_valid_objects() -> None:
    assert len(DASK_FILES) == 5
    for path in DASK_FILES:
        loaded = pipeline.load(str(path), DEFAULT)
        objects = pipeline.render(loaded, DEFAULT, RenderContext(namespace="ns"))
        assert "DaskCluster" in kinds(objects), path.name
        manifest_schemas.check(objects)


def test_config_default_pod_resources_lie_under_both_pods() -> None:
    config = config_.resolve({"MLCTL_DEFAULT_FUNCTION_POD_RESOURCES": '{"requests": {"cpu": "100m"}}'}, [])
    objects = render(dask_spec(scheduler_resources={"requests": {"memory": "1Gi"}}), config)
    assert box(objects, "scheduler")["resources"] == {"requests": {"cpu": "100m", "memory": "1Gi"}}
    assert box(objects, "worker")["resources"] == {"requests": {"cpu": "100m"}}


def test_the_corpus_is_the_shared_folder_and_is_found() -> None:
    assert CORPUS.parts[-3:] == ("shared", "corpus", "mlrun-hub")
    assert CORPUS.is_dir(), f"the hub corpus is not at {CORPUS} (set MLCTL_CORPUS)"


def test_the_dask_cluster_example_renders_to_valid_objects() -> None:
    loaded = pipeline.load(str(EXAMPLES / "dask-cluster.yaml"), SPOT)
    objects = pipeline.render(loaded, SPOT, RenderContext())
    manifest_schemas.check(objects)
    scaler = by_kind(objects, "DaskAutoscaler")["spec"]
    assert (scaler["minimum"], scaler["maximum"]) == (1, 8)
    assert cluster(objects)["spec"]["idleTimeout"] == 1800
