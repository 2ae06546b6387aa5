"""The stages past rendering, without the CLI: deploy plans, run verdicts, where a run goes, node listings."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from mlctl import errors, pipeline
from mlctl.kube import labels
from mlctl.pipeline import deploy, nodes, run
from mlctl.runs import record as record_
from tests.unit.render_support import DEFAULT, SPOT, SPOT_TOLERATION, spec_of
from tests.unit.support import SpecFile


def _loaded(spec_file: SpecFile, data: Mapping[str, Any]) -> pipeline.Loaded:
    import yaml

    path: Path = spec_file(yaml.safe_dump(dict(data)))
    return pipeline.load(str(path), DEFAULT)


def _record(state: str, status: str = "") -> record_.RunRecord:
    return record_.RunRecord("r1", "f", "p", "job", "cluster", "ns", state, status_text=status)


# --- the run verdict reaches its exit code through the error tree


def test_a_run_that_succeeded_has_no_error() -> None:
    run.verdict(_record(record_.SUCCEEDED))


@pytest.mark.parametrize(
    ("state", "error", "code"),
    [
        (record_.FAILED, errors.RunFailed, 5),
        (record_.INTERRUPTED, errors.RunFailed, 5),
        (record_.ABORTED, errors.RunAborted, 6),
    ],
)
def test_a_run_that_did_not_succeed_raises_its_verdict(state: str, error: type[errors.MlctlError], code: int) -> None:
    with pytest.raises(error) as caught:
        run.verdict(_record(state, "pod evicted"))
    assert caught.value.exit_code == code
    assert caught.value.message == f"run r1: {state}: pod evicted"


def test_a_failed_local_run_exits_5_and_says_why(spec_file: SpecFile, cli: Any) -> None:
    code = "def handler():\n    raise ValueError('boom')\n"
    path = spec_file(_code_job(code))
    result = cli("run", path, "--local")
    assert result.code == 5
    assert "error: run " in result.err and "boom" in result.err


def _code_job(code: str) -> str:
    import base64
    import json

    body = {
        "image": "python:3.11",
        "default_handler": "handler",
        "build": {"functionSourceCode": base64.b64encode(code.encode()).decode(), "origin_filename": "h.py"},
    }
    return json.dumps({"kind": "job", "metadata": {"name": "boom"}, "spec": body})


# --- where a run goes


@pytest.mark.parametrize(
    ("local", "cluster_only", "configured", "where"),
    [
        (False, False, True, run.CLUSTER),
        (False, False, False, run.LOCAL),  # no cluster configured: the local fallback
        (True, False, True, run.LOCAL),
        (False, True, False, run.CLUSTER),  # --cluster refuses the fallback (connecting says what is missing)
    ],
)
def test_where_a_run_goes(local: bool, cluster_only: bool, configured: bool, where: str) -> None:
    assert run.where(local=local, cluster_only=cluster_only, configured=configured) == where


def test_local_and_cluster_exclude_each_other() -> None:
    with pytest.raises(errors.UsageError):
        run.where(local=True, cluster_only=True, configured=True)


def test_a_service_is_not_a_run(spec_file: SpecFile) -> None:
    with pytest.raises(errors.UsageError, match="is a service, not a run"):
        run.runnable(_loaded(spec_file, spec_of("nuclio")))


# --- deploy plans


def test_a_job_plan_applies_its_code_and_only_checks_its_run(spec_file: SpecFile) -> None:
    plan = deploy.plan([_loaded(spec_file, spec_of("job"))], DEFAULT, "team-a")
    assert [o["kind"] for o in plan.objects] == ["ConfigMap"]
    assert all(labels.APPLIED_DIGEST in o["metadata"]["annotations"] for o in plan.objects)  # stamped for apply
    assert sorted(o["kind"] for o in plan.checks) == ["ConfigMap", "Job"]  # the run and its pinned code
    assert {o["metadata"]["namespace"] for o in plan.objects + plan.checks} == {"team-a"}


def test_a_service_plan_has_no_run_checks(spec_file: SpecFile) -> None:
    plan = deploy.plan([_loaded(spec_file, spec_of("nuclio"))], DEFAULT, "ns")
    assert plan.objects and plan.checks == []


# --- nodes: which are spot, how many GPUs


def _node(name: str, labels: Mapping[str, str] | None = None, taints: list[Any] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": dict(labels or {})}, "spec": {"taints": taints or []}, "status": {}}


class _Cluster:
    def __init__(self, **listed: list[dict[str, Any]]) -> None:
        self.listed = listed

    def list(self, api_version: str, kind: str) -> list[dict[str, Any]]:
        return self.listed[kind]


def test_spot_is_the_profiles_labels_or_a_tolerated_taint() -> None:
    cluster = _Cluster(
        Node=[
            _node("labelled", {"node-lifecycle": "spot"}),
            _node("tainted", taints=[{"key": "node-lifecycle", "value": "spot", "effect": "NoSchedule"}]),
            _node("plain", {"node-lifecycle": "on-demand"}),
        ]
    )
    listing = nodes.nodes(cluster, SPOT)  # type: ignore[arg-type]
    assert {n.name: n.spot for n in listing.nodes} == {"labelled": True, "tainted": True, "plain": False}
    assert listing.to_json()["profile"]["tolerations"] == [SPOT_TOLERATION]


def test_without_a_profile_no_node_is_spot() -> None:
    listing = nodes.nodes(_Cluster(Node=[_node("a", {"node-lifecycle": "spot"})]), DEFAULT)  # type: ignore[arg-type]
    assert not listing.profiled and [n.spot for n in listing.nodes] == [False]


def test_gpus_add_up_every_gpu_resource() -> None:
    assert nodes.gpus({"nvidia.com/gpu": "2", "amd.com/gpu": "1", "cpu": "8", "example.com/gpu-mem": "lots"}) == 3


def test_priority_classes_without_a_cluster_come_from_config() -> None:
    found = nodes.priority_classes(DEFAULT)
    assert found.cluster_checked is False and found.values == {}


def test_priority_classes_on_a_cluster_are_the_ones_it_has() -> None:
    live = [{"metadata": {"name": "high"}, "value": 1000}, {"metadata": {"name": "low"}, "value": 1}]
    found = nodes.priority_classes(DEFAULT, _Cluster(PriorityClass=live))  # type: ignore[arg-type]
    assert found.cluster_checked and found.values == {"high": 1000, "low": 1}
