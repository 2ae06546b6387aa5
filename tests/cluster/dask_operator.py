"""Run the Dask Kubernetes operator for the testbed: ``<venv>/bin/python dask_operator.py <kopf run args>``.

The operator asks a DaskCluster's scheduler two things: how many workers it
wants (the DaskAutoscaler's timer, every 5 s) and which workers to retire
(scaling down). It reaches the scheduler by the Service's in-cluster name
(``<cluster>-scheduler.<namespace>``) or, outside a cluster, through a
port-forward. Neither can work here: the name means nothing to the machine's
resolver (and asking it stalls the operator on DNS time-outs), and kwok's
kubelets run no scheduler to forward to. An operator handler that fails
sleeps out kopf's 60 s back-off, which also holds up deletions.

So this launcher puts a stand-in scheduler in place of that address, on
127.0.0.1: for a scheduler Service's ``http-dashboard`` port it serves
``GET /api/v1/adaptive_target`` with the worker count a test wrote to
``$MLCTL_DASK_TARGETS/<namespace>.<service>`` (404 when there is none, as a
scheduler without adaptive scaling answers), and 404 to everything else; the
``tcp-comm`` port (Dask's RPC) is refused at once. The operator's own code
then runs for real: it clamps the answer to the DaskAutoscaler's minimum and
maximum, scales the worker group, and falls back to its last-in-first-out
retirement. Every other host name but ``localhost`` fails at once, as an
unknown name does, so nothing leaves 127.0.0.1. Runs in the operator's venv
(its own Python), so it imports nothing from mlctl.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

_resolve = socket.getaddrinfo
TARGETS_ENV = "MLCTL_DASK_TARGETS"


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


class _StandInScheduler(BaseHTTPRequestHandler):
    """One scheduler Service's dashboard: the adaptive target a test wrote, 404 for the rest."""

    target_file: Path

    def do_GET(self) -> None:  # http.server's name
        if self.path.rstrip("/") == "/api/v1/adaptive_target" and self.target_file.is_file():
            self._answer(200, {"workers": int(self.target_file.read_text().strip())})
        else:
            self._answer(404, {"error": "not served by the testbed's stand-in scheduler"})

    def do_POST(self) -> None:
        self._answer(404, {"error": "not served by the testbed's stand-in scheduler"})

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:  # quiet: the operator logs what it asked
        pass


_dashboards: dict[str, int] = {}
_lock = threading.Lock()


def _dashboard_port(namespace: str, service: str) -> int:
    """The port of ``namespace/service``'s stand-in dashboard, started on first use."""
    key = f"{namespace}.{service}"
    with _lock:
        if key not in _dashboards:
            handler = type("Dashboard", (_StandInScheduler,), {"target_file": Path(os.environ[TARGETS_ENV]) / key})
            server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            _dashboards[key] = server.server_address[1]
        return _dashboards[key]


async def _scheduler_address(service: Any, *args: Any, port_name: str = "tcp-comm", **kwargs: Any) -> str:
    """The operator's ``get_internal_address_for_scheduler_service``, answered by the stand-in."""
    name, namespace = service.metadata.name, service.metadata.namespace
    if port_name == "http-dashboard":
        return f"http://127.0.0.1:{_dashboard_port(namespace, name)}"
    raise ConnectionError(f"{namespace}/{name} {port_name}: the testbed's kubelets run no scheduler")


if __name__ == "__main__":
    socket.getaddrinfo = _local_only
    from dask_kubernetes.operator import networking  # type: ignore[import-not-found]  # the operator venv's
    from kopf.cli import main  # type: ignore[import-not-found]

    networking.get_internal_address_for_scheduler_service = _scheduler_address
    sys.exit(main())
