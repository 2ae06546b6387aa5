"""Fixtures that give integration tests a real Kubernetes API server.

* ``testbed`` (session): a started ``tests.cluster.testbed.Testbed`` — etcd,
  kube-apiserver, kube-controller-manager, kube-scheduler and kwok nodes. The
  binaries are built by ``tests/cluster/build.sh`` on first use. If they cannot
  be built or the cluster does not start, every test using it fails with the
  reason; nothing is skipped.
* ``kubeconfig`` (session): path of the admin kubeconfig (``system:masters``).
* ``restricted_kubeconfig`` (session): path of the ``mlctl-restricted``
  kubeconfig; that user may only get/list/watch pods in ``namespace``.
* ``api_client`` (session): a ``kubernetes.client.ApiClient`` acting as admin.
* ``namespace`` (function): name of a fresh namespace labelled ``mlctl.test=1``,
  with its default ServiceAccount ready; deleted after the test.

``MLCTL_TESTBED_KUBECONFIG=/path/admin.kubeconfig`` reuses a testbed started
with ``python -m tests.cluster up`` instead of starting one per session.

Every test in this directory is marked ``integration``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.testbed import Testbed, TestbedError, build

HERE = Path(__file__).resolve().parent
ATTACH_ENV = "MLCTL_TESTBED_KUBECONFIG"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # This hook sees the whole session's items; mark only the ones in this folder.
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.integration)
    # The long waits first: with several workers, none of them is left at the end.
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


@pytest.fixture(scope="session")
def testbed() -> Iterator[Testbed]:
    attach = os.environ.get(ATTACH_ENV)
    try:
        bed = Testbed.attach(Path(attach)) if attach else Testbed(build()).start()
    except TestbedError as e:
        error = f"{ATTACH_ENV}={attach}: {e}" if attach else str(e)
    else:
        yield bed
        bed.stop()  # an attached testbed keeps running
        return
    # Outside the except block, so the report is not buried in a chained traceback.
    pytest.fail(f"the integration testbed is not available: {error}", pytrace=False)


@pytest.fixture(scope="session")
def kubeconfig(testbed: Testbed) -> Path:
    return testbed.kubeconfig


@pytest.fixture(scope="session")
def restricted_kubeconfig(testbed: Testbed) -> Path:
    return testbed.restricted_kubeconfig


@pytest.fixture(scope="session")
def api_client(testbed: Testbed) -> Any:
    return testbed.api


@pytest.fixture
def namespace(testbed: Testbed, request: pytest.FixtureRequest) -> Iterator[str]:
    name = testbed.create_namespace(request.node.name.removeprefix("test_"))
    yield name
    testbed.delete_namespace(name)
