"""The changes the editing commands make, one function per MLRun SDK call.

Each takes the round-trip tree of a spec (ruamel's CommentedMap, a plain
dict works too) and changes it in place the way MLRun's setter would:
``set_env`` ~ ``fn.set_env`` / ``set_envs`` / ``set_env_from_secret``,
``set_thresholds`` ~ ``set_state_thresholds``, ``set_resources`` ~
``with_requests`` / ``with_limits``, and so on. They check their own
arguments; the file as a whole is validated by ``mlctl.spec.edit``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any

from mlctl.config import PREEMPTION_MODES
from mlctl.errors import InvalidInput
from mlctl.runs import thresholds as thresholds_
from mlctl.spec import overrides as overrides_
from mlctl.spec import quantity

REPLICA_KINDS = ("mpijob", "dask", "nuclio", "remote", "serving", "application", "spark")
RANGE_KINDS = ("dask", "nuclio", "remote", "serving", "application")


def spec_of(tree: Any) -> Any:
    spec = tree.get("spec")
    if spec is None:
        tree["spec"] = spec = {}
    if not isinstance(spec, dict):
        raise InvalidInput("spec is not a mapping")
    return spec


def _list(spec: Any, key: str) -> Any:
    value = spec.get(key)
    if not isinstance(value, list):
        spec[key] = value = []
    return value


def _map(spec: Any, key: str) -> Any:
    value = spec.get(key)
    if not isinstance(value, dict):
        spec[key] = value = {}
    return value


def set_env(tree: Any, values: Sequence[tuple[str, str]], secrets: Sequence[tuple[str, str, str]] = ()) -> None:
    """Set variables (replacing one of the same name in place) and secret refs."""
    env = _list(spec_of(tree), "env")
    refs = [
        (name, {"valueFrom": {"secretKeyRef": {"name": secret, "key": key or name}}}) for name, secret, key in secrets
    ]
    overrides_.set_envs(env, [*values, *refs])


def parse_secret_refs(values: Sequence[str]) -> list[tuple[str, str, str]]:
    """``--from-secret NAME=SECRET[:KEY]`` (KEY defaults to NAME, as in MLRun)."""
    refs = []
    for value in values:
        name, sep, target = value.partition("=")
        secret, _, key = target.partition(":")
        if not sep or not name or not secret:
            raise InvalidInput(f"--from-secret '{value}': expected NAME=SECRET[:KEY]")
        refs.append((name.strip(), secret.strip(), key.strip()))
    return refs


def set_thresholds(tree: Any, values: Mapping[str, str], replace: bool = False) -> None:
    """Set state thresholds; the spelling the file already uses (running/executing) is kept."""
    spec = spec_of(tree)
    current = spec.get("state_thresholds") if isinstance(spec.get("state_thresholds"), dict) else {}
    spelled = {thresholds_.canonical_state(str(k)): k for k in current}
    for name, value in values.items():
        if thresholds_.canonical_state(name) is None:
            raise InvalidInput(f"unknown state '{name}' (states: {', '.join(thresholds_.STATES)})")
        try:
            thresholds_.parse_seconds(value)
        except thresholds_.TimeStringError as exc:
            raise InvalidInput(f"{name}: {exc}") from None
    if replace:
        for key in list(current):
            del current[key]
    for name, value in values.items():
        state = thresholds_.canonical_state(name)
        key = spelled.get(state, name)
        current[key] = value
    spec["state_thresholds"] = current


def set_resources(
    tree: Any,
    requests: Mapping[str, str],
    limits: Mapping[str, str],
    gpu_type: str | None,
    default_gpu_type: str,
    patch: bool = False,
    sides: Sequence[str] = (),
) -> None:
    """MLRun's with_requests/with_limits: a given section is replaced unless ``patch``.

    A Spark function has no pod resources of its own: its driver and its
    executors each have theirs (``with_driver_requests`` /
    ``with_executor_limits``...), named by ``sides``, in the JVM memory
    notation Spark reads (``2g``). ``spec.resources`` would be ignored there.
    """
    kind = tree.get("kind")
    if kind == "spark" and not sides:
        raise InvalidInput(
            "a spark function's resources are set for its driver and executors: give --driver and/or "
            "--executor (spec.driver_resources / spec.executor_resources); Spark ignores spec.resources"
        )
    if sides and kind != "spark":
        raise InvalidInput(f"--driver and --executor apply to spark functions; this one is '{kind}'")
    spec = spec_of(tree)
    for key in [f"{side}_resources" for side in sides] or ["resources"]:
        _set_section(_map(spec, key), requests, limits, gpu_type or default_gpu_type, patch, spark=bool(sides))


def _set_section(
    resources: Any, requests: Mapping[str, str], limits: Mapping[str, str], gpu: str, patch: bool, *, spark: bool
) -> None:
    for section, values in (("requests", requests), ("limits", limits)):
        if not values:
            continue
        target = dict(resources.get(section) or {}) if patch else {}
        for key, value in values.items():
            name = {"mem": "memory", "gpus": gpu, "gpu": gpu}.get(key, key)
            if section == "requests" and name == gpu:
                raise InvalidInput("GPUs are set with --limits gpus=N; the request follows the limit")
            if spark and name == "memory":  # Spark reads a JVM size
                try:
                    quantity.parse_spark_memory(value)
                except quantity.QuantityError as exc:
                    raise InvalidInput(f"--{section} {key}={value}: {exc}") from None
            elif not quantity.is_valid(value):
                raise InvalidInput(
                    f"--{section} {key}={value}: '{value}' is not a Kubernetes quantity (examples: 500m, 2, 512Mi, 4Gi)"
                )
            target[name] = int(value) if str(value).isdigit() else value
        existing = resources.get(section)
        if isinstance(existing, dict) and not patch:
            for key in list(existing):
                del existing[key]
            existing.update(target)
        elif isinstance(existing, dict):
            existing.update(target)
        else:
            resources[section] = target


def set_replicas(tree: Any, kind: str, replicas: int | None, low: int | None, high: int | None) -> None:
    spec = spec_of(tree)
    if kind not in REPLICA_KINDS:
        raise InvalidInput(f"kind '{kind}' runs one pod per run; replicas do not apply")
    if replicas is not None:
        if replicas < 0:
            raise InvalidInput("replicas must be 0 or more")
        spec["replicas"] = replicas
        return
    if kind not in RANGE_KINDS:
        raise InvalidInput(f"kind '{kind}' scales by a fixed number of replicas, not a --min/--max range")
    for key in ("replicas",):
        if key in spec:
            del spec[key]  # a fixed count would override the range
    if low is not None:
        spec["min_replicas"] = low
    if high is not None:
        spec["max_replicas"] = high
    if low is not None and high is not None and low > high:
        raise InvalidInput(f"--min {low} is above --max {high}")


def set_preemption(tree: Any, mode: str) -> None:
    if mode not in PREEMPTION_MODES:
        raise InvalidInput(f"preemption mode '{mode}' is not one of {', '.join(PREEMPTION_MODES)}")
    spec_of(tree)["preemption_mode"] = mode


def set_priority(tree: Any, name: str) -> None:
    spec_of(tree)["priority_class_name"] = name


def parse_toleration(text: str) -> dict[str, Any]:
    """``key=value:Effect``, ``key:Effect``, ``key=value`` or a JSON object."""
    text = text.strip()
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise InvalidInput(f"--toleration '{text}': not valid JSON ({exc})") from None
        if not isinstance(value, dict):
            raise InvalidInput(f"--toleration '{text}': expected a JSON object")
        return value
    body, _, effect = text.partition(":")
    key, sep, value = body.partition("=")
    if not key:
        raise InvalidInput(f"--toleration '{text}': expected key[=value][:Effect]")
    toleration: dict[str, Any] = {"key": key, "operator": "Equal" if sep else "Exists"}
    if sep:
        toleration["value"] = value
    if effect:
        if effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            raise InvalidInput(f"--toleration '{text}': effect must be NoSchedule, PreferNoSchedule or NoExecute")
        toleration["effect"] = effect
    return toleration


def set_node_selection(
    tree: Any,
    node_selector: Mapping[str, str] | None,
    node_name: str | None,
    tolerations: Sequence[Mapping[str, Any]] | None,
    affinity: Mapping[str, Any] | None,
) -> None:
    """MLRun's with_node_selection: each given argument replaces its field."""
    spec = spec_of(tree)
    if node_selector is not None:
        spec["node_selector"] = {k: v for k, v in node_selector.items() if v != ""}
    if node_name is not None:
        spec["node_name"] = node_name
    if tolerations is not None:
        spec["tolerations"] = [dict(t) for t in tolerations]
    if affinity is not None:
        spec["affinity"] = dict(affinity)


def _add_volume(spec: Any, volume: dict[str, Any], mounts: Sequence[dict[str, Any]]) -> None:
    volumes = _list(spec, "volumes")
    for index, existing in enumerate(volumes):
        if isinstance(existing, dict) and existing.get("name") == volume["name"]:
            volumes[index] = volume
            break
    else:
        volumes.append(volume)
    volume_mounts = _list(spec, "volume_mounts")
    for mount in mounts:
        for index, existing in enumerate(volume_mounts):
            if isinstance(existing, dict) and existing.get("mountPath") == mount["mountPath"]:
                volume_mounts[index] = mount
                break
        else:
            volume_mounts.append(mount)


def mount_pvc(tree: Any, claim: str, path: str, volume_name: str = "pipeline") -> None:
    spec = spec_of(tree)
    _add_volume(
        spec,
        {"name": volume_name, "persistentVolumeClaim": {"claimName": claim}},
        [{"name": volume_name, "mountPath": path}],
    )
    spec["disable_auto_mount"] = True


def mount_configmap(
    tree: Any, name: str, path: str, volume_name: str = "configmap", items: Mapping[str, str] | None = None
) -> None:
    source: dict[str, Any] = {"name": name}
    if items:
        source["items"] = [{"key": k, "path": v} for k, v in items.items()]
    _add_volume(spec_of(tree), {"name": volume_name, "configMap": source}, [{"name": volume_name, "mountPath": path}])


def mount_secret(
    tree: Any, name: str, path: str, volume_name: str = "secret", items: Mapping[str, str] | None = None
) -> None:
    source: dict[str, Any] = {"secretName": name}
    if items:
        source["items"] = [{"key": k, "path": v} for k, v in items.items()]
    _add_volume(spec_of(tree), {"name": volume_name, "secret": source}, [{"name": volume_name, "mountPath": path}])


def mount_v3io(
    tree: Any, secret: str, remote: str = "", mount_path: str = "", user: str = "", volume_name: str = "v3io"
) -> None:
    """A v3io fuse volume whose access key is read from ``secret`` (key ``accessKey``).

    Without ``remote``: ``/v3io`` (all containers) and ``/User`` (the user's
    home) as MLRun mounts them. With ``remote`` (``projects/p/data``): that
    path at ``mount_path``.
    """
    spec = spec_of(tree)
    options: dict[str, Any] = {}
    if remote:
        if not mount_path:
            raise InvalidInput("mount v3io --remote needs the PATH to mount it at: mount v3io SECRET PATH --remote ...")
        container, _, sub = remote.strip("/").partition("/")
        options = {"container": container, "subPath": f"/{sub}" if sub else ""}
        mounts = [{"name": volume_name, "mountPath": mount_path}]
    else:
        mounts = [{"name": volume_name, "mountPath": mount_path or "/v3io", "subPath": ""}]
        if user:
            mounts.append({"name": volume_name, "mountPath": "/User", "subPath": f"users/{user}"})
    volume = {
        "name": volume_name,
        "flexVolume": {"driver": "v3io/fuse", "options": options, "secretRef": {"name": secret}},
    }
    _add_volume(spec, volume, mounts)
    spec["disable_auto_mount"] = True


def new_function(kind: str, name: str, image: str, code: str | None, filename: str, handler: str) -> dict[str, Any]:
    """A fresh spec, as MLRun's code_to_function would export it."""
    spec: dict[str, Any] = {"command": "", "args": [], "image": image, "env": []}
    if handler:
        spec["default_handler"] = handler
    if code is not None:
        spec["build"] = {
            "functionSourceCode": base64.b64encode(code.encode("utf-8")).decode("ascii"),
            "origin_filename": filename,
            "code_origin": filename,
        }
    if kind in ("nuclio", "remote", "serving", "application"):
        spec.update({"min_replicas": 1, "max_replicas": 1 if kind == "application" else 4})
    if kind == "dask":
        spec.update({"min_replicas": 0, "max_replicas": 16, "nthreads": 1})
    return {"kind": kind, "metadata": {"name": name, "tag": ""}, "spec": spec, "verbose": False}
