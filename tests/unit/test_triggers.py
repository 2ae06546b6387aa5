"""Nuclio triggers: ``set-http`` (fn.with_http) and ``add-stream-trigger`` (fn.add_v3io_stream_trigger)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mlctl.errors import InvalidInput
from mlctl.spec import triggers
from tests.unit.render_support import by_kind, env_of, render
from tests.unit.support import Cli, SpecFile

NUCLIO_SPEC = """
kind: serving
metadata:
  name: scorer
  project: shop
spec:
  image: mlrun/mlrun
  # two GPUs per pod
  resources:
    limits:
      nvidia.com/gpu: 2
  config:
    spec.triggers.http:
      kind: http
      maxWorkers: 8
      attributes:
        ingresses: {}
      annotations: {}
  min_replicas: 1
  max_replicas: 4
"""


def tree(kind: str = "serving", **spec: Any) -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": "scorer"}, "spec": dict(spec)}


# --- with_http ------------------------------------------------------------------


def test_workers_host_and_worker_timeout_as_mlrun_sets_them() -> None:
    trigger = triggers.http_trigger(2, host="x", worker_timeout=5)
    assert trigger["kind"] == "http"
    assert trigger["maxWorkers"] == 2
    assert trigger["attributes"]["ingresses"]["0"] == {"host": "x", "paths": ["/"]}
    assert trigger["workerAvailabilityTimeoutMilliseconds"] == 5000
    for which in ("connect", "read", "send"):
        assert trigger["annotations"][f"nginx.ingress.kubernetes.io/proxy-{which}-timeout"] == "65"


def test_gateway_timeout_must_exceed_the_worker_timeout() -> None:
    with pytest.raises(InvalidInput, match="greater than --worker-timeout"):
        triggers.http_trigger(1, worker_timeout=30, gateway_timeout=30)
    trigger = triggers.http_trigger(1, worker_timeout=30, gateway_timeout=120)
    assert trigger["annotations"]["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "120"


def test_a_plain_trigger_has_no_ingress_and_no_timeouts() -> None:
    assert triggers.http_trigger(4) == {
        "kind": "http",
        "maxWorkers": 4,
        "attributes": {"ingresses": {}},
        "annotations": {},
        "name": "http",
        "mode": "sync",
    }


def test_canary_paths_secret_port_and_annotations() -> None:
    trigger = triggers.http_trigger(
        1, host="x.example.com", paths=["/a", "/b"], canary=20, secret="tls", port=30080, annotations={"team": "ml"}
    )
    assert trigger["attributes"]["ingresses"]["0"] == {
        "host": "x.example.com",
        "paths": ["/a", "/b"],
        "secretName": "tls",
    }
    assert trigger["attributes"]["port"] == 30080
    assert trigger["annotations"]["nginx.ingress.kubernetes.io/canary"] == "true"
    assert trigger["annotations"]["nginx.ingress.kubernetes.io/canary-weight"] == "20"
    assert trigger["annotations"]["team"] == "ml"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"host": "x", "canary": 101}, "percentage"),
        ({"canary": 10}, "give --host"),
        ({"paths": ["/a"]}, "give --host"),
        ({"port": 70000}, "port number"),
    ],
)
def test_ingress_settings_that_cannot_work_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        triggers.http_trigger(1, **options)


def test_set_http_replaces_the_http_trigger() -> None:
    data = tree(config={"spec.triggers.http": {"kind": "http", "maxWorkers": 8, "attributes": {"port": 1}}})
    triggers.set_http(data, 2)
    assert data["spec"]["config"]["spec.triggers.http"]["maxWorkers"] == 2
    assert "port" not in data["spec"]["config"]["spec.triggers.http"]["attributes"]


def test_triggers_belong_to_nuclio_kinds_only() -> None:
    with pytest.raises(InvalidInput, match="no Nuclio triggers"):
        triggers.set_http(tree("job"), 2)


# --- add_v3io_stream_trigger ----------------------------------------------------------


def test_a_v3io_url_names_the_container_and_the_stream() -> None:
    trigger = triggers.stream_trigger("v3io:///projects/x/y")
    assert trigger["attributes"]["containerName"] == "projects"
    assert trigger["attributes"]["streamPath"] == "x/y"
    assert trigger["url"] == "http://v3io-webapi:8081"
    assert trigger["attributes"]["consumerGroup"] == "serving"
    assert trigger["attributes"]["seekTo"] == "earliest"
    assert trigger["maxWorkers"] == 1


def test_a_web_api_host_in_the_url_is_used() -> None:
    assert triggers.parse_stream_path("v3ios://webapi.example.com/users/me/s") == (
        "https://webapi.example.com",
        "users",
        "me/s",
    )
    assert triggers.parse_stream_path("projects/p/s") == ("http://v3io-webapi:8081", "projects", "p/s")


@pytest.mark.parametrize("path", ["v3io:///projects", "s3://bucket/stream", ""])
def test_a_stream_path_without_container_and_stream_is_refused(path: str) -> None:
    with pytest.raises(InvalidInput):
        triggers.parse_stream_path(path)


@pytest.mark.parametrize("group", ["_g", "a-b", "", "x" * 257])
def test_bad_consumer_groups_are_refused(group: str) -> None:
    with pytest.raises(InvalidInput, match="consumer group"):
        triggers.stream_trigger("v3io:///projects/x/y", group=group)


@pytest.mark.parametrize("group", ["serving", "g_1", "G", "x" * 256])
def test_good_consumer_groups_pass(group: str) -> None:
    assert triggers.stream_trigger("v3io:///projects/x/y", group=group)["attributes"]["consumerGroup"] == group


def test_shards_fix_the_replica_range() -> None:
    data = tree(min_replicas=1, max_replicas=4, replicas=2)
    triggers.add_stream_trigger(data, "v3io:///projects/x/y", shards=3)
    assert (data["spec"]["min_replicas"], data["spec"]["max_replicas"], data["spec"]["replicas"]) == (3, 3, 3)


def test_the_access_key_is_never_written_only_its_secret() -> None:
    data = tree(env=[{"name": "A", "value": "1"}])
    triggers.add_stream_trigger(data, "v3io:///projects/x/y", name="events", access_key_secret="v3io-creds")
    trigger = data["spec"]["config"]["spec.triggers.events"]
    assert trigger["password"] == "$generate"
    assert data["spec"]["env"][-1] == {
        "name": "V3IO_ACCESS_KEY",
        "valueFrom": {"secretKeyRef": {"name": "v3io-creds", "key": "accessKey"}},
    }


def test_a_rendered_stream_trigger_reads_its_key_from_the_secret() -> None:
    data = tree(image="mlrun/mlrun")
    data["metadata"]["project"] = "shop"
    triggers.add_stream_trigger(data, "v3io:///projects/x/y", shards=2, access_key_secret="v3io-creds")
    function = by_kind(render(data), "NuclioFunction")["spec"]
    assert function["triggers"]["stream"]["password"] == "$generate"
    assert env_of(function)["V3IO_ACCESS_KEY"] == {"secretKeyRef": {"name": "v3io-creds", "key": "accessKey"}}
    assert (function["minReplicas"], function["maxReplicas"]) == (2, 2)


# --- the commands -----------------------------------------------------------------------


def test_set_http_edits_the_file_and_keeps_its_comments(cli: Cli, spec_file: SpecFile) -> None:
    path = spec_file(NUCLIO_SPEC)
    result = cli("set-http", path, "--workers", "2", "--host", "x", "--worker-timeout", "5", "--annotation", "team=ml")
    assert result.code == 0, result.err
    text = path.read_text()
    assert "# two GPUs per pod" in text
    trigger = yaml.safe_load(text)["spec"]["config"]["spec.triggers.http"]
    assert trigger["maxWorkers"] == 2
    assert trigger["workerAvailabilityTimeoutMilliseconds"] == 5000
    assert trigger["annotations"]["team"] == "ml"


def test_matching_workers_to_gpus_silences_the_lint(cli: Cli, spec_file: SpecFile) -> None:
    path = spec_file(NUCLIO_SPEC)
    assert "8 HTTP worker(s) share 2 GPU(s)" in cli("validate", path).err
    assert cli("set-http", path, "--workers", "2").code == 0
    assert "GPU" not in cli("validate", path).err


def test_dry_run_prints_the_diff_and_writes_nothing(cli: Cli, spec_file: SpecFile) -> None:
    path = spec_file(NUCLIO_SPEC)
    before = path.read_text()
    result = cli("set-http", path, "--workers", "2", "--dry-run")
    assert result.code == 0
    assert "+      maxWorkers: 2" in result.out
    assert path.read_text() == before


def test_add_stream_trigger_command(cli: Cli, spec_file: SpecFile) -> None:
    path = spec_file(NUCLIO_SPEC)
    result = cli(
        "add-stream-trigger",
        path,
        "v3io:///projects/shop/requests",
        "--shards",
        "2",
        "--access-key-secret",
        "v3io-creds",
        "--group",
        "scorers",
    )
    assert result.code == 0, result.err
    spec = yaml.safe_load(path.read_text())["spec"]
    trigger = spec["config"]["spec.triggers.stream"]
    assert trigger["attributes"]["streamPath"] == "shop/requests"
    assert trigger["attributes"]["consumerGroup"] == "scorers"
    assert (spec["min_replicas"], spec["max_replicas"]) == (2, 2)
    assert spec["env"] == [
        {"name": "V3IO_ACCESS_KEY", "valueFrom": {"secretKeyRef": {"name": "v3io-creds", "key": "accessKey"}}}
    ]


def test_add_stream_trigger_says_when_no_key_will_be_found(cli: Cli, spec_file: SpecFile) -> None:
    result = cli("add-stream-trigger", spec_file(NUCLIO_SPEC), "v3io:///projects/shop/requests")
    assert result.code == 0
    assert "V3IO_ACCESS_KEY" in result.err


def test_a_bad_consumer_group_leaves_the_file_alone(cli: Cli, spec_file: SpecFile) -> None:
    path = spec_file(NUCLIO_SPEC)
    before = path.read_text()
    result = cli("add-stream-trigger", path, "v3io:///projects/x/y", "--group", "_g")
    assert result.code == 3
    assert "consumer group '_g'" in result.err
    assert path.read_text() == before


def test_set_http_on_a_job_is_refused(cli: Cli, spec_file: SpecFile) -> None:
    path: Path = spec_file("kind: job\nmetadata:\n  name: j\nspec:\n  image: python:3.11\n")
    result = cli("set-http", path, "--workers", "2")
    assert result.code == 3
    assert "no Nuclio triggers" in result.err
