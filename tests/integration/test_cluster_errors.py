"""The cluster's refusals reach callers with their parts: status, verb, resource, name, the server's words."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import yaml

from mlctl import errors
from mlctl.cluster import client


def test_a_missing_object_is_not_found_with_the_calls_parts(kubeconfig: Path, namespace: str) -> None:
    cluster = client.connect(str(kubeconfig), namespace=namespace)
    with pytest.raises(errors.NotFound) as caught:
        cluster.get("v1", "ConfigMap", "nothing-here")
    error = caught.value
    assert (error.status, error.verb, error.resource, error.name) == (404, "get", "ConfigMap", "nothing-here")
    assert 'configmaps "nothing-here" not found' in error.server_message
    assert error.server_message in error.message


def test_a_refused_listing_names_the_verb_and_resource(restricted_kubeconfig: Path, namespace: str) -> None:
    cluster = client.connect(str(restricted_kubeconfig), namespace=namespace)
    with pytest.raises(errors.Forbidden) as caught:
        cluster.list("v1", "Node")
    error = caught.value
    assert (error.status, error.verb, error.resource, error.name) == (403, "list", "Node", "")
    assert "cannot list resource" in error.server_message


def test_an_unreachable_server_keeps_the_transports_error_as_its_cause(kubeconfig: Path, tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = yaml.safe_load(kubeconfig.read_text())
    for entry in config["clusters"]:
        entry["cluster"]["server"] = f"https://127.0.0.1:{port}"
    moved = tmp_path / "kubeconfig"
    moved.write_text(yaml.safe_dump(config))
    cluster = client.connect(str(moved), timeout=1.0)
    with pytest.raises(errors.Unreachable) as caught:
        cluster.get("v1", "Namespace", "default")
    assert (caught.value.verb, caught.value.resource, caught.value.name) == ("get", "Namespace", "default")
    assert caught.value.status is None
    assert caught.value.__cause__ is not None
