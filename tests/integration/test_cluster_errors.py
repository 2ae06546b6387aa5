"""The cluster's refusals reach callers with their parts: status, verb, resource, name, the server's words."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlctl import errors
from mlctl.cluster import client
from tests.integration import support


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
    cluster = client.connect(str(support.unreachable_kubeconfig(kubeconfig, tmp_path)), timeout=1.0)
    with pytest.raises(errors.Unreachable) as caught:
        cluster.get("v1", "Namespace", "default")
    assert (caught.value.verb, caught.value.resource, caught.value.name) == ("get", "Namespace", "default")
    assert caught.value.status is None
    assert caught.value.__cause__ is not None
