"""Waiting until deployed workloads are ready, per kind."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mlctl import errors
from mlctl.cluster.client import Cluster


def is_ready(obj: Mapping[str, Any]) -> tuple[bool, str]:
    """(ready, what it is waiting for) for one live object (pure)."""
    kind = obj.get("kind")
    status = obj.get("status") or {}
    spec = obj.get("spec") or {}
    if kind == "Deployment":
        want = spec.get("replicas", 1)
        have = status.get("availableReplicas", 0) or 0
        return have >= want, f"{have}/{want} replicas available"
    if kind == "NuclioFunction":
        state = status.get("state", "")
        if state == "error":
            raise errors.ClusterError(f"NuclioFunction {obj['metadata']['name']} failed: {status.get('message', '')}")
        return state == "ready", f"state {state or 'unknown'}"
    if kind == "DaskCluster":
        phase = status.get("phase", "")
        return phase == "Running", f"phase {phase or 'unknown'}"
    return True, ""


def wait(cluster: Cluster, objects: Sequence[Mapping[str, Any]], timeout: float, report: Callable[[str], None]) -> None:
    deadline = time.monotonic() + timeout
    pending = [o for o in objects if o.get("kind") in ("Deployment", "NuclioFunction", "DaskCluster")]
    last: dict[str, str] = {}
    while pending:
        still = []
        for obj in pending:
            meta = obj["metadata"]
            live = cluster.get(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))
            ready, detail = is_ready(live)
            name = f"{obj['kind'].lower()}/{meta['name']}"
            if ready:
                report(f"{name} ready")
            else:
                if last.get(name) != detail:
                    report(f"{name}: waiting ({detail})")
                    last[name] = detail
                still.append(obj)
        pending = still
        if pending and time.monotonic() > deadline:
            raise errors.WaitTimeout(
                f"not ready after {timeout:.0f}s: "
                + ", ".join(f"{o['kind'].lower()}/{o['metadata']['name']}" for o in pending)
            )
        if pending:
            time.sleep(1.0)
