"""Whether a function can run on this machine, and what a local run ignores.

``check`` refuses (``InvalidInput``) a kind that needs a cluster or a local
tool that is missing, and returns the warnings for what has no meaning here
(volume mounts, env values from the cluster's Secrets).
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Mapping
from typing import Any

from mlctl.errors import InvalidInput
from mlctl.spec.model import FunctionSpec, thaw

LOCAL_KINDS = ("job", "mpijob", "dask")
_CLUSTER_ONLY = {
    "nuclio": "Nuclio, which runs on a Kubernetes cluster",
    "serving": "Nuclio (or a serving deployment), which runs on a Kubernetes cluster",
    "application": "Nuclio (or an application deployment), which runs on a Kubernetes cluster",
    "spark": "the Spark operator on a Kubernetes cluster",
}


def check(fn: FunctionSpec) -> list[str]:
    """Refuse what cannot run here (InvalidInput); return warnings for what is ignored."""
    kind = fn.runtime
    if kind in _CLUSTER_ONLY:
        raise InvalidInput(
            f"kind '{fn.kind}' does not run locally: it needs {_CLUSTER_ONLY[kind]}; run it on a cluster instead"
        )
    if kind not in LOCAL_KINDS:
        local = ", ".join(LOCAL_KINDS)
        raise InvalidInput(f"kind '{fn.kind}' cannot run locally (local kinds: {local})")
    if kind == "mpijob" and shutil.which("mpirun") is None:
        raise InvalidInput(
            "kind 'mpijob' runs locally under mpirun, which is not on PATH: install an MPI "
            "implementation (Open MPI: 'apt-get install openmpi-bin' or 'brew install open-mpi'; "
            "or MPICH), or run it on a cluster"
        )
    if kind == "dask" and importlib.util.find_spec("distributed") is None:
        raise InvalidInput(
            "kind 'dask' runs locally on a local Dask cluster, which needs dask.distributed: "
            "pip install 'mlctl[local-dask]' (or 'distributed'), or run it on a cluster"
        )
    if fn.code is None and not fn.get("command"):
        raise InvalidInput(
            f"{fn.source}: nothing to run: the spec has no embedded code "
            "(spec.build.functionSourceCode) and no spec.command"
        )
    return [w for w in (_mounts_warning(fn), _env_warning(fn)) if w]


def _mounts_warning(fn: FunctionSpec) -> str:
    volumes = {v.get("name"): v for v in thaw(fn.get("volumes", [])) if isinstance(v, dict)}
    ignored = []
    for mount in thaw(fn.get("volume_mounts", [])):
        if not isinstance(mount, dict) or not mount.get("mountPath"):
            continue
        name = str(mount.get("name") or "")
        ignored.append(f"{name} ({_volume_kind(volumes.get(name))}) at {mount['mountPath']}")
    if not ignored:
        return ""
    return (
        "volume mounts have no meaning in a local run and are ignored: "
        + ", ".join(ignored)
        + "; the handler sees this machine's file system"
    )


def _volume_kind(volume: Mapping[str, Any] | None) -> str:
    if not volume:
        return "no such volume"
    if "persistentVolumeClaim" in volume:
        return f"PVC {volume['persistentVolumeClaim'].get('claimName', '')}".strip()
    if "configMap" in volume:
        return f"ConfigMap {volume['configMap'].get('name', '')}".strip()
    if "secret" in volume:
        return f"Secret {volume['secret'].get('secretName', '')}".strip()
    flex = volume.get("flexVolume")
    if isinstance(flex, Mapping) and flex.get("driver") == "v3io/fuse":
        return "v3io"
    if "hostPath" in volume:
        return f"host path {volume['hostPath'].get('path', '')}".strip()
    kinds = [k for k in volume if k != "name"]
    return kinds[0] if kinds else "volume"


def _env_warning(fn: FunctionSpec) -> str:
    names = [
        str(e["name"]) for e in thaw(fn.get("env", [])) if isinstance(e, dict) and e.get("name") and e.get("valueFrom")
    ]
    if not names:
        return ""
    return (
        f"env {', '.join(names)} take{'s' if len(names) == 1 else ''} a value from the cluster "
        "(valueFrom) and stay unset in a local run; give values with --env NAME=VALUE or --env-file"
    )
