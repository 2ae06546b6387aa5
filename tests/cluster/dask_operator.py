"""Run the Dask Kubernetes operator for the testbed: ``<venv>/bin/python dask_operator.py <kopf run args>``.

The operator asks a DaskCluster's scheduler for a worker count (autoscaler,
idle shutdown). It looks the scheduler Service up by its in-cluster name
(``<cluster>-scheduler.<namespace>``) and, outside a cluster, falls back to a
port-forward through the API server. Neither can work here: the name means
nothing to the machine's resolver (and asking it stalls the operator on DNS
time-outs), and kwok's kubelets run no scheduler to forward to; when the
Service is gone, the operator's port-forward wait even blocks its event loop
for minutes, so deletions hang. So every host name but ``localhost`` fails at
once, as an unknown name does, and a port-forward fails at once, as it does
when nothing answers: the operator takes its own "scheduler not reachable"
path without delay and nothing leaves 127.0.0.1. Runs in the operator's venv
(its own Python), so it imports nothing from mlctl.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from typing import Any

_resolve = socket.getaddrinfo


def _literal(host: object) -> bool:
    if host is None or host == "localhost":
        return True
    text = host.decode() if isinstance(host, bytes) else str(host)
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _local_only(host: Any, *args: Any, **kwargs: Any) -> Any:
    if not _literal(host):
        raise socket.gaierror(socket.EAI_NONAME, f"{host}: the testbed resolves no host names")
    return _resolve(host, *args, **kwargs)


async def _no_port_forward(service_name: str, namespace: str, *args: Any, **kwargs: Any) -> int:
    raise ConnectionError(f"port forward to {namespace}/{service_name} failed: the kubelets here run no containers")


if __name__ == "__main__":
    socket.getaddrinfo = _local_only
    from dask_kubernetes.operator import networking  # type: ignore[import-not-found]  # the operator venv's
    from kopf.cli import main  # type: ignore[import-not-found]

    networking.port_forward_service = _no_port_forward
    sys.exit(main())
