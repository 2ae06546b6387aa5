"""A cluster for the benchmarks that need one: the integration testbed (not a test; prints figures).

``testbed()`` starts ``tests.cluster.testbed.Testbed`` for the script, or
attaches to a running one when ``MLCTL_TESTBED_KUBECONFIG`` is set (started
with ``python -m tests.cluster up``). Every request goes to 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from _timing import REPO

sys.path.insert(0, str(REPO))

from tests.cluster.testbed import Testbed, build

ATTACH_ENV = "MLCTL_TESTBED_KUBECONFIG"


@contextlib.contextmanager
def testbed(bulk_nodes: int = 0, pods_per_node: int = 110, client_qps: int = 0) -> Iterator[Testbed]:
    """The testbed; for load benchmarks with ``bulk_nodes`` of ``pods_per_node`` pods each, and the controllers'
    and the scheduler's request rate raised to ``client_qps`` (an attached testbed is used as it was started)."""
    attach = os.environ.get(ATTACH_ENV)
    if attach:
        bed = Testbed.attach(Path(attach))
        print(f"testbed: attached to {bed.server}", file=sys.stderr)
    else:
        started = time.monotonic()
        bed = Testbed(build(), bulk_nodes=bulk_nodes, pods_per_node=pods_per_node, client_qps=client_qps).start()
        print(f"testbed: started {bed.server} in {time.monotonic() - started:.1f}s", file=sys.stderr)
    try:
        yield bed
    finally:
        bed.stop()


def kubectl() -> Path:
    """The kubectl built with the testbed (same version as its API server)."""
    return build().k8s / "kubectl"


def new_namespace(bed: Testbed, prefix: str) -> str:
    from kubernetes import client

    name = f"{prefix}-{secrets.token_hex(3)}"
    client.CoreV1Api(bed.api).create_namespace({"metadata": {"name": name, "labels": {"mlctl.bench": "1"}}})
    return name


def delete_namespace(bed: Testbed, name: str, wait: float = 0.0) -> None:
    """Delete a namespace; with ``wait``, until it is gone (its pods no longer load the cluster)."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    with contextlib.suppress(Exception):
        bed.delete_namespace(name)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            client.CoreV1Api(bed.api).read_namespace(name)
        except ApiException:
            return
        time.sleep(0.5)


def apiserver_requests(bed: Testbed) -> dict[tuple[str, str], float]:
    """``apiserver_request_total`` by (verb, resource), from the API server's /metrics."""
    method, url, headers, _, _ = bed.api.param_serialize("GET", "/metrics", auth_settings=["BearerToken"])
    response = bed.api.call_api(method, url, header_params=headers)
    response.read()
    body = response.data.decode()
    totals: dict[tuple[str, str], float] = {}
    for line in body.splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels_text, _, value = line.rpartition(" ")
        labels = dict(
            part.split("=", 1) for part in labels_text[len("apiserver_request_total{") : -1].split(",") if "=" in part
        )
        key = (labels.get("verb", "").strip('"'), labels.get("resource", "").strip('"'))
        totals[key] = totals.get(key, 0.0) + float(value)
    return totals
