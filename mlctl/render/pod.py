"""The pod template every runtime shares, built from a FunctionSpec.

Env, resources, volumes (with config auto-mount and v3io access keys moved
into a Secret), placement (node selector layers, node name, affinity,
tolerations, preemption mode), priority class, service account, pull
secrets and labels. Kind renderers take these pieces and wrap them in
their own objects. Pure: no cluster access, no kubernetes imports.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlctl import payloads
from mlctl.config import Config
from mlctl.errors import InvalidInput
from mlctl.kube import kinds
from mlctl.kube import labels as kube_labels
from mlctl.render import preemption
from mlctl.spec import quantity, triggers
from mlctl.spec.model import FunctionSpec, k8s_name, thaw

CODE_MOUNT = "/opt/mlctl"
CODE_VOLUME = "mlctl-code"  # the ConfigMap volume with the bootstrap and the code
RUN_ENV = "MLCTL_RUN"  # the run the bootstrap executes, as JSON
V3IO_SECRET_KEY = "accessKey"
# Variables that hold a secret: a plain value given for one in spec.env
# reaches the pod from a Secret instead (MLRun's mount_v3io / v3io_cred write
# the v3io key there as plain text)
SECRET_ENV = ("V3IO_ACCESS_KEY",)
# A metadata.credentials.access_key that names a Secret holding the key
# (triggers.GENERATE_ACCESS_KEY, the other value that is not a key, asks an
# MLRun server to make one)
SECRET_REFERENCE = "$ref:"
AUTH_SESSION_ENV = "MLRUN_AUTH_SESSION"
PINNED_DIGEST = 12  # hex digits of a run's code digest in its ConfigMap's name


@dataclass(frozen=True)
class Pod:
    """The pieces of a pod that kind renderers assemble."""

    container: dict[str, Any]
    spec: dict[str, Any]
    labels: dict[str, str]
    extra_objects: list[dict[str, Any]] = field(default_factory=list)


def labels(fn: FunctionSpec, run_id: str = "") -> dict[str, str]:
    """The function's own labels (as MLRun puts them on pods), then mlctl's, which win."""
    from mlctl.spec import validate

    own = {
        k: v for k, v in fn.labels.items() if not validate.label_key_problem(k) and not validate.label_value_problem(v)
    }
    out = {
        **own,
        **kube_labels.managed(),
        kube_labels.NAME: k8s_name(fn.name),
        kube_labels.FUNCTION: k8s_name(fn.name),
        kube_labels.KIND: fn.runtime,
    }
    if fn.project:
        out[kube_labels.PROJECT] = k8s_name(fn.project)
    if fn.tag:
        out[kube_labels.TAG] = k8s_name(fn.tag)
    if run_id:
        out[kube_labels.RUN_ID] = run_id
    return out


def bootstrap_source() -> str:
    return payloads.source("bootstrap.py")


def uses_bootstrap(fn: FunctionSpec) -> bool:
    """Whether the container starts a handler through the bootstrap.

    Embedded code does; so does a ``command`` naming a Python file already in
    the image together with a ``default_handler`` (MLRun runs that handler).
    """
    entry = str(fn.get("command") or "")
    return fn.code is not None or (entry.endswith(".py") and bool(fn.get("default_handler")))


def code_config_map(fn: FunctionSpec, namespace: str, pinned: bool = False) -> dict[str, Any] | None:
    """The ConfigMap carrying the bootstrap and the function's code, when a handler is run.

    ``pinned`` (a run's): named after a digest of its content and immutable,
    so a run executes the code it was started with whatever is deployed or
    started after it. Runs of the same code share it; each run object becomes
    one of its owners, so Kubernetes collects it with the last of them.
    """
    if not uses_bootstrap(fn):
        return None
    data = _code_data(fn)
    annotations = {}
    if fn.code is not None:
        annotations[kube_labels.CODE_SHA256] = hashlib.sha256(fn.code.text.encode()).hexdigest()
    metadata: dict[str, Any] = {
        "name": code_config_map_name(fn, pinned),
        "namespace": namespace,
        "labels": labels(fn),
    }
    if annotations:
        metadata["annotations"] = annotations
    config_map: dict[str, Any] = {**kinds.CONFIG_MAP.header(), "metadata": metadata, "data": data}
    if pinned:
        config_map["immutable"] = True
    return config_map


def _code_data(fn: FunctionSpec) -> dict[str, str]:
    data = {"bootstrap.py": bootstrap_source()}
    if fn.code is not None:
        data[fn.code.filename] = fn.code.text
    return data


def code_config_map_name(fn: FunctionSpec, pinned: bool = False) -> str:
    """``<project>-<function>-code``; a run's pinned copy adds a digest of what it holds."""
    if not pinned:
        return k8s_name(fn.full_name, "code")
    digest = hashlib.sha256(json.dumps(_code_data(fn), sort_keys=True).encode()).hexdigest()[:PINNED_DIGEST]
    suffix = f"code-{digest}"
    return f"{k8s_name(fn.full_name, limit=62 - len(suffix))}-{suffix}"


def env(fn: FunctionSpec, config: Config) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item in thaw(fn.get("env", [])):
        if not isinstance(item, dict) or not item.get("name"):
            continue
        entry: dict[str, Any] = {"name": item["name"]}
        if item.get("valueFrom"):
            entry["valueFrom"] = item["valueFrom"]
        else:
            value = item.get("value")
            entry["value"] = "" if value is None else (str(value).lower() if isinstance(value, bool) else str(value))
        out.append(entry)
    return out


def resources_of(fn: FunctionSpec, key: str = "resources", config: Config | None = None) -> dict[str, Any]:
    """requests/limits with quantities as the API expects; GPU requests mirror limits."""
    raw = fn.get(key) or {}
    out: dict[str, dict[str, Any]] = {}
    defaults = (config.get("default_function_pod_resources") or {}) if config and key == "resources" else {}
    for section in ("requests", "limits"):
        values = {**(defaults.get(section) or {}), **(raw.get(section) or {})}
        cleaned = {str(k): quantity.to_manifest(v) for k, v in values.items() if v not in (None, "")}
        if cleaned:
            out[section] = cleaned
    return out


def _volumes(
    fn: FunctionSpec, config: Config, namespace: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(volumes, volume mounts, extra env, extra objects) with secrets moved out of the spec."""
    volumes: dict[str, dict[str, Any]] = {}
    for volume in thaw(fn.get("volumes", [])):
        if isinstance(volume, dict) and volume.get("name"):
            volumes[volume["name"]] = _without_nulls(volume)  # MLRun: the last of a name wins
    mounts: dict[str, dict[str, Any]] = {}
    for mount in thaw(fn.get("volume_mounts", [])):
        if isinstance(mount, dict) and mount.get("mountPath"):
            mounts[mount["mountPath"]] = mount
    extra_env: list[dict[str, Any]] = []
    objects: list[dict[str, Any]] = []
    for volume in volumes.values():
        flex = volume.get("flexVolume")
        if isinstance(flex, dict) and flex.get("driver") == "v3io/fuse":
            options = dict(flex.get("options") or {})
            key = options.pop("accessKey", None)
            flex["options"] = options
            if key:
                secret = _secret(fn, namespace, f"v3io-{volume['name']}", {V3IO_SECRET_KEY: str(key)})
                objects.append(secret)
                flex["secretRef"] = {"name": secret["metadata"]["name"]}
    if not fn.get("disable_auto_mount", False):
        auto_volumes, auto_mounts, auto_env, auto_objects = _auto_mount(fn, config, namespace)
        for volume in auto_volumes:
            volumes.setdefault(volume["name"], volume)
        for mount in auto_mounts:
            mounts.setdefault(mount["mountPath"], mount)
        extra_env += auto_env
        objects += auto_objects
    return list(volumes.values()), list(mounts.values()), extra_env, objects


def _without_nulls(value: Any) -> Any:
    """A volume without the null fields MLRun writes (``secret.items: null``): unset, as in a manifest."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _secret(fn: FunctionSpec, namespace: str, suffix: str, data: Mapping[str, str]) -> dict[str, Any]:
    return {
        **kinds.SECRET.header(),
        "metadata": {"name": k8s_name(fn.full_name, suffix), "namespace": namespace, "labels": labels(fn)},
        "type": "Opaque",
        "stringData": dict(data),
    }


def _secrets_out_of_env(
    fn: FunctionSpec, namespace: str, env_: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``env_`` with secret values taken from a Secret, and that Secret.

    A plain value of a variable in SECRET_ENV moves into the function's
    credentials Secret (under the variable's name). So does
    ``metadata.credentials.access_key``: MLRun's server keeps it in a Secret
    and gives it to the function as ``MLRUN_AUTH_SESSION`` (and as
    ``V3IO_ACCESS_KEY``, the data layer's key); mlctl does the same, from the
    function's own Secret, or from the Secret a ``$ref:NAME`` value names.
    """
    secret_name = k8s_name(fn.full_name, "credentials")
    data: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for entry in env_:
        if entry["name"] in SECRET_ENV and entry.get("value"):
            data[entry["name"]] = str(entry["value"])
            entry = {"name": entry["name"], "valueFrom": {"secretKeyRef": {"name": secret_name, "key": entry["name"]}}}
        out.append(entry)
    credentials = fn.metadata.get("credentials")
    key = str(credentials.get("access_key") or "") if isinstance(credentials, Mapping) else ""
    if key and not key.startswith(triggers.GENERATE_ACCESS_KEY):
        if key.startswith(SECRET_REFERENCE):
            source = key[len(SECRET_REFERENCE) :]
        else:
            source = secret_name
            data[V3IO_SECRET_KEY] = key
        names = {e["name"] for e in out}
        for name in (AUTH_SESSION_ENV, "V3IO_ACCESS_KEY"):
            if name not in names:
                out.append({"name": name, "valueFrom": {"secretKeyRef": {"name": source, "key": V3IO_SECRET_KEY}}})
    objects = [_secret(fn, namespace, "credentials", data)] if data else []
    return out, objects


def _auto_mount(
    fn: FunctionSpec, config: Config, namespace: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    kind = config.get("storage.auto_mount_type") or "auto"
    params = config.auto_mount_params
    if kind == "auto":
        pvc_mount = str(config.get("pvc_mount") or "")
        if pvc_mount or params.get("pvc_name"):
            kind = "pvc"
        else:
            return [], [], [], []
    if kind == "pvc":
        claim, path = params.get("pvc_name"), params.get("volume_mount_path", "/mnt/pipeline")
        if not claim and config.get("pvc_mount"):
            claim, _, mount_path = str(config.get("pvc_mount")).partition(":")
            path = mount_path or path
        if not claim:
            raise InvalidInput("config storage.auto_mount_type is 'pvc' but no pvc_name is given in auto_mount_params")
        name = params.get("volume_name", "pipeline")  # MLRun's mount_pvc names it so
        return (
            [{"name": name, "persistentVolumeClaim": {"claimName": claim}}],
            [{"name": name, "mountPath": path}],
            [],
            [],
        )
    if kind in ("v3io_credentials", "v3io_fuse"):
        return _v3io_mount(fn, namespace, params, fuse=kind == "v3io_fuse")
    if kind == "s3":
        secret_name = params.get("secret_name")
        env_ = (
            [
                {"name": n, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": n}}}
                for n in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
            ]
            if secret_name
            else []
        )
        if params.get("endpoint_url"):
            env_.append({"name": "S3_ENDPOINT_URL", "value": params["endpoint_url"]})
        return [], [], env_, []
    if kind == "env":
        return [], [], [{"name": k, "value": v} for k, v in params.items()], []
    return [], [], [], []


def _v3io_mount(
    fn: FunctionSpec, namespace: str, params: Mapping[str, Any], *, fuse: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """v3io credentials from a Secret, and with ``fuse`` the v3io fuse mount (as /v3io and /User)."""
    key = params.get("access_key", "")
    user = params.get("user", "")
    env_: list[dict[str, Any]] = [{"name": "V3IO_USERNAME", "value": user}] if user else []
    objects: list[dict[str, Any]] = []
    if key:
        secret = _secret(fn, namespace, "v3io-auto", {V3IO_SECRET_KEY: key})
        objects.append(secret)
        env_.append(
            {
                "name": "V3IO_ACCESS_KEY",
                "valueFrom": {"secretKeyRef": {"name": secret["metadata"]["name"], "key": V3IO_SECRET_KEY}},
            }
        )
    if not fuse:
        return [], [], env_, objects
    volume: dict[str, Any] = {"name": "v3io", "flexVolume": {"driver": "v3io/fuse", "options": {}}}
    if objects:
        volume["flexVolume"]["secretRef"] = {"name": objects[0]["metadata"]["name"]}
    mounts = [{"name": "v3io", "mountPath": "/v3io", "subPath": ""}]
    if user:
        mounts.append({"name": "v3io", "mountPath": "/User", "subPath": f"users/{user}"})
    return [volume], mounts, env_, objects


def node_selector(fn: FunctionSpec, config: Config, key: str = "node_selector") -> dict[str, str]:
    """config default < project < function; an empty value removes the key."""
    merged: dict[str, str] = {}
    for layer in (config.default_node_selector, config.project_node_selector(fn.project), thaw(fn.get(key) or {})):
        for name, value in layer.items():
            if value in (None, ""):
                merged.pop(name, None)
            else:
                merged[name] = str(value)
    return merged


def placement(fn: FunctionSpec, config: Config, prefix: str = "") -> preemption.Placement:
    """Placement after the preemption mode (``prefix`` = 'driver_'/'executor_' for Spark)."""
    mode = str(fn.get(f"{prefix}preemption_mode") or fn.preemption_mode) if prefix else fn.preemption_mode
    user = preemption.Placement(
        node_selector=node_selector(fn, config, f"{prefix}node_selector"),
        affinity=thaw(fn.get(f"{prefix}affinity")) or None,
        tolerations=tuple(thaw(fn.get(f"{prefix}tolerations") or [])),
    )
    profile = preemption.Profile(config.preemptible_node_selector, tuple(config.preemptible_tolerations))
    return preemption.apply(mode, user, profile)


def pod_placement_fields(place: preemption.Placement) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if place.node_selector:
        out["nodeSelector"] = dict(place.node_selector)
    if place.affinity:
        out["affinity"] = thaw(place.affinity)
    if place.tolerations:
        out["tolerations"] = [thaw(t) for t in place.tolerations]
    return out


def command(fn: FunctionSpec, run_env: dict[str, str]) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    """(command, args, extra env) that start the function in its container."""
    handler = str(fn.get("default_handler") or "")
    entry = str(fn.get("command") or "")
    args = [str(a) for a in fn.get("args") or []]
    if uses_bootstrap(fn):
        code_path = f"{CODE_MOUNT}/{fn.code.filename}" if fn.code else entry
        run = {**run_env, "handler": handler or "handler", "code": code_path}
        import json

        return (
            ["python", f"{CODE_MOUNT}/bootstrap.py"],
            args,
            [{"name": RUN_ENV, "value": json.dumps(run, sort_keys=True)}],
        )
    if entry:
        return shlex.split(entry), args, []
    return [], args, []


def build(
    fn: FunctionSpec, config: Config, namespace: str, *, run_env: dict[str, str] | None = None, run_id: str = ""
) -> Pod:
    """The shared pod pieces of a function (one container named ``base``)."""
    volumes, mounts, auto_env, objects = _volumes(fn, config, namespace)
    cmd, args, run_vars = command(fn, run_env or {})
    env_ = env(fn, config)
    names = {e["name"] for e in env_}
    env_ += [e for e in auto_env if e["name"] not in names]
    env_, secret_objects = _secrets_out_of_env(fn, namespace, env_)
    objects += secret_objects
    env_ += run_vars
    if uses_bootstrap(fn):
        # a run reads its own pinned copy of the code; a deployed function the shared one
        volumes.append({"name": CODE_VOLUME, "configMap": {"name": code_config_map_name(fn, pinned=bool(run_id))}})
        mounts.append({"name": CODE_VOLUME, "mountPath": CODE_MOUNT, "readOnly": True})
    image = fn.image or str(config.get("default_image"))
    container: dict[str, Any] = {"name": "base", "image": image}
    if cmd:
        container["command"] = cmd
    if args:
        container["args"] = args
    if env_:
        container["env"] = env_
    env_from = [thaw(e) for e in fn.get("env_from") or [] if isinstance(e, Mapping)]
    if env_from:
        container["envFrom"] = [{k: v for k, v in e.items() if v is not None} for e in env_from]
    res = resources_of(fn, config=config)
    if res:
        container["resources"] = res
    if mounts:
        container["volumeMounts"] = mounts
    if fn.get("image_pull_policy"):
        container["imagePullPolicy"] = fn.get("image_pull_policy")
    if fn.get("security_context"):
        container["securityContext"] = thaw(fn.get("security_context"))
    container["terminationMessagePolicy"] = "File"
    spec: dict[str, Any] = {}
    if volumes:
        spec["volumes"] = volumes
    spec.update(pod_placement_fields(placement(fn, config)))
    if fn.get("node_name"):
        spec["nodeName"] = fn.get("node_name")
    if fn.priority_class_name:
        spec["priorityClassName"] = fn.priority_class_name
    if fn.get("service_account"):
        spec["serviceAccountName"] = fn.get("service_account")
    if fn.get("image_pull_secret"):
        spec["imagePullSecrets"] = [{"name": fn.get("image_pull_secret")}]
    return Pod(container=container, spec=spec, labels=labels(fn, run_id), extra_objects=objects)


def with_container(pod: Pod, container: dict[str, Any] | None = None, **spec_fields: Any) -> dict[str, Any]:
    """A pod spec dict holding one container (a copy; ``pod`` stays unchanged)."""
    spec = copy.deepcopy(pod.spec)
    spec.update(spec_fields)
    spec["containers"] = [copy.deepcopy(container or pod.container)]
    return spec


def pod_annotations(fn: FunctionSpec) -> dict[str, str]:
    """The function's metadata annotations, carried onto its pods as MLRun does."""
    return {str(k): str(v) for k, v in (fn.metadata.get("annotations") or {}).items()}
