"""Kinds ``nuclio`` / ``remote``, ``serving`` and ``application``: a ``NuclioFunction``.

The function document (``nuclio.io/v1beta1``, named ``<project>-<name>[-<tag>]``)
is built the way MLRun compiles one for Nuclio: ``spec.base_spec`` (the Nuclio
document MLRun exported) is the starting point, ``spec.config`` (raw Nuclio
settings by dotted path: triggers, ``spec.targetCPU``, sidecars ...) is laid
over it, and the MLRun-level fields (replicas, resources, env, volumes,
placement after the preemption mode, priority class, service type, runtime,
handler, code) win over both.

- serving: the graph travels as MLRun's serving runtime reads it, JSON in the
  ``SERVING_SPEC_ENV`` variable (or, when large, a mounted ConfigMap file);
  a serving function without code gets the small wrapper that hands events to
  MLRun's serving runtime.
- application: a Go reverse proxy in front of the application image, which
  runs as a sidecar on ``internal_application_port``.
- a v3io stream trigger's access key never appears in the document: the
  trigger says ``password: $generate`` (Nuclio then reads ``V3IO_ACCESS_KEY``)
  and that variable comes from a Secret.

``--engine kubernetes`` (or config ``serving_engine``) renders the same
function as a Deployment, Service and HorizontalPodAutoscaler instead
(``mlctl.render.kube_serving``). Pure: no cluster access, no kubernetes import.
"""

from __future__ import annotations

import base64
import copy
import shlex
from typing import Any

from mlctl import payloads
from mlctl.config import Config
from mlctl.errors import InvalidInput
from mlctl.kube import kinds
from mlctl.render import pod as pod_
from mlctl.render import serving
from mlctl.render.context import RenderContext
from mlctl.spec.model import FunctionSpec, k8s_name, thaw

API_VERSION = kinds.NUCLIO_FUNCTION.api_version
DEFAULT_RUNTIME = "python:3.11"  # MLRun 1.12's default
GENERATE_ACCESS_KEY = "$generate"  # Nuclio: take the v3io access key from V3IO_ACCESS_KEY
V3IO_KEY_ENV = "V3IO_ACCESS_KEY"

# The application kind: Nuclio runs this proxy, the user's image runs beside it.
APPLICATION_PROXY = "application_proxy.go"


def render(fn: FunctionSpec, config: Config, ctx: RenderContext) -> list[dict[str, Any]]:
    engine = serving.engine_of(config, ctx)
    if engine == "kubernetes":
        # imported when asked for: most functions are rendered for Nuclio
        from mlctl.render import kube_serving

        return kube_serving.render(fn, config, ctx)
    return render_nuclio(fn, config, ctx)


def render_nuclio(fn: FunctionSpec, config: Config, ctx: RenderContext) -> list[dict[str, Any]]:
    pod = serving.function_pod(fn, config, ctx.namespace)
    objects: list[dict[str, Any]] = list(pod.extra_objects)
    document = serving.base_spec(fn)
    document = {"metadata": dict(document.get("metadata") or {}), "spec": dict(document.get("spec") or {})}
    for key, value in (thaw(fn.get("config")) or {}).items():
        set_path(document, str(key), value)
    spec: dict[str, Any] = document["spec"]
    # MLRun once wrote these into base_spec under its own names; Nuclio knows them as:
    if "readiness_timeout" in spec:
        spec.setdefault("readinessTimeoutSeconds", spec.pop("readiness_timeout"))

    env = _merge_env(spec.get("env") or [], pod.container.get("env", []))
    volumes, mounts = list(pod.spec.get("volumes", [])), list(pod.container.get("volumeMounts", []))
    if fn.kind == "serving":
        serving_env, serving_volumes, serving_mounts, serving_objects = serving.serving_spec_delivery(fn, ctx.namespace)
        env = _merge_env(env, serving_env)
        volumes += serving_volumes
        mounts += serving_mounts
        objects += serving_objects
    found = {str(k): v for k, v in (spec.get("triggers") or {}).items() if isinstance(v, dict)}
    key_env, secrets = stream_secrets(fn, found, ctx.namespace, env)
    env = _merge_env(env, key_env)
    objects += secrets
    if found:
        spec["triggers"] = found

    spec["runtime"] = str(fn.get("nuclio_runtime") or DEFAULT_RUNTIME)
    spec["handler"] = serving.handler(fn)
    if fn.kind == "application":
        env = _application(fn, spec, env, pod)
    if env:
        spec["env"] = env
    spec["volumes"] = _nuclio_volumes(spec.get("volumes") or [], volumes, mounts)
    if not spec["volumes"]:
        del spec["volumes"]
    if pod.container.get("resources"):
        spec["resources"] = pod.container["resources"]
    low, high = serving.replica_bounds(fn)
    spec["minReplicas"], spec["maxReplicas"] = low, high
    _placement(fn, spec, pod)
    spec["serviceType"] = str(fn.get("service_type") or serving.DEFAULT_SERVICE_TYPE)
    for key, target in (
        ("readiness_timeout", "readinessTimeoutSeconds"),
        ("readiness_timeout_before_failure", "waitReadinessTimeoutBeforeFailure"),
        ("disable_default_http_trigger", "disableDefaultHTTPTrigger"),
    ):
        if fn.get(key) is not None:
            spec[target] = fn.get(key)
    _build(fn, spec)

    metadata = document["metadata"]
    labels = {**(metadata.get("labels") or {}), **pod.labels}
    annotations = {**(metadata.get("annotations") or {}), **(thaw(fn.metadata.get("annotations")) or {})}
    out_metadata: dict[str, Any] = {"name": fn.full_name, "namespace": ctx.namespace, "labels": labels}
    if annotations:
        out_metadata["annotations"] = {str(k): str(v) for k, v in annotations.items() if v is not None}
    function = {"apiVersion": API_VERSION, "kind": "NuclioFunction", "metadata": out_metadata, "spec": spec}
    return [*objects, function]


def _merge_env(base: list[Any], updates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """By name: a later entry replaces an earlier one in place (MLRun's set_env)."""
    out: list[dict[str, Any]] = [dict(e) for e in base if isinstance(e, dict) and e.get("name")]
    for entry in updates:
        for index, existing in enumerate(out):
            if existing["name"] == entry["name"]:
                out[index] = dict(entry)
                break
        else:
            out.append(dict(entry))
    return out


def _nuclio_volumes(
    base: list[Any], volumes: list[dict[str, Any]], mounts: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Nuclio's ``[{volume, volumeMount}]``: one pair per mount; unmounted volumes cannot be said."""
    by_name = {v["name"]: v for v in volumes}
    pairs = [p for p in base if isinstance(p, dict) and p.get("volume")]
    taken = {(p["volume"].get("name"), (p.get("volumeMount") or {}).get("mountPath")) for p in pairs}
    for mount in mounts:
        volume = by_name.get(mount.get("name"))
        if volume is None or (volume["name"], mount["mountPath"]) in taken:
            continue
        pairs.append({"volume": volume, "volumeMount": mount})
    return pairs


def _placement(fn: FunctionSpec, spec: dict[str, Any], pod: pod_.Pod) -> None:
    for key in ("nodeSelector", "affinity", "tolerations", "nodeName", "priorityClassName"):
        if key in pod.spec:
            spec[key] = pod.spec[key]
    # Nuclio applies its own preemptible-node profile by this mode; the
    # placement above already carries mlctl's result for the same mode.
    spec["preemptionMode"] = fn.preemption_mode
    if fn.get("service_account"):
        spec["serviceAccount"] = fn.get("service_account")
    if fn.get("security_context"):
        spec["securityContext"] = thaw(fn.get("security_context"))
    if fn.get("image_pull_secret"):
        spec["imagePullSecrets"] = str(fn.get("image_pull_secret"))


def _build(fn: FunctionSpec, spec: dict[str, Any]) -> None:
    build = dict(spec.get("build") or {})
    own = fn.get("build") or {}
    if fn.kind == "application":
        build["functionSourceCode"] = _encoded(payloads.source(APPLICATION_PROXY))
    elif fn.code is not None:
        build["functionSourceCode"] = str(own.get("functionSourceCode"))
    elif not build.get("functionSourceCode") and fn.kind == "serving":
        build["functionSourceCode"] = _encoded(payloads.source(serving.SERVING_WRAPPER))
    commands = list(build.get("commands") or own.get("commands") or [])
    requirements = [str(r) for r in own.get("requirements") or []]
    if requirements:
        commands.append("python -m pip install " + " ".join(shlex.quote(r) for r in requirements))
    if commands:
        build["commands"] = commands
    else:
        build.pop("commands", None)
    if fn.get("no_cache"):
        build["noCache"] = True
    if fn.get("base_image_pull"):
        build["noBaseImagesPull"] = False
    if build.get("functionSourceCode"):
        # the image MLRun names is what Nuclio builds the code onto
        base_image = build.get("baseImage") or ("" if fn.kind == "application" else fn.image)
        base_image = base_image or own.get("base_image")
        if base_image:
            build["baseImage"] = str(base_image)
    elif fn.image:
        # no code anywhere: the image is a ready Nuclio function image
        spec["image"] = fn.image
        build["codeEntryType"] = "image"
    if build:
        spec["build"] = build


def _application(
    fn: FunctionSpec, spec: dict[str, Any], env: list[dict[str, Any]], pod: pod_.Pod
) -> list[dict[str, Any]]:
    """The proxy runs as the function; the user's image runs beside it as a sidecar."""
    if not fn.image:
        raise InvalidInput(f"{fn.source}: an application function needs spec.image (the application to run)")
    port = int(fn.get("internal_application_port") or serving.DEFAULT_APPLICATION_PORT)
    spec["runtime"] = "golang"
    spec["handler"] = "main:Handler"
    name = k8s_name(fn.name, "sidecar")
    sidecars = [s for s in spec.get("sidecars") or [] if isinstance(s, dict)]
    sidecar = next((s for s in sidecars if s.get("name") == name), None)
    if sidecar is None:
        sidecar = {"name": name}
        sidecars.append(sidecar)
    sidecar["image"] = fn.image
    # a port name is at most 15 characters (RFC 6335)
    sidecar["ports"] = [{"name": "application", "containerPort": port, "protocol": "TCP"}]
    command = str(fn.get("command") or "")
    if command:
        sidecar["command"] = shlex.split(command)
        if fn.get("args"):
            sidecar["args"] = [str(a) for a in fn.get("args")]
    if env:
        sidecar["env"] = [dict(e) for e in env]  # the user's variables are for the application
    if pod.container.get("resources"):
        sidecar["resources"] = pod.container["resources"]
    if pod.container.get("volumeMounts"):
        sidecar["volumeMounts"] = pod.container["volumeMounts"]
    spec["sidecars"] = sidecars
    return _merge_env(
        env, [{"name": "SIDECAR_PORT", "value": str(port)}, {"name": "SIDECAR_HOST", "value": "http://localhost"}]
    )


def stream_secrets(
    fn: FunctionSpec, found: dict[str, dict[str, Any]], namespace: str, env: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Move v3io stream access keys out of ``found`` triggers into a Secret.

    Returns (env entries to add, Secret objects); the triggers are changed in
    place to ``password: $generate``, which makes Nuclio read the key from
    ``V3IO_ACCESS_KEY``, so one key serves every stream trigger.
    """
    keys = {}
    for name, trigger in found.items():
        if trigger.get("kind") not in ("v3ioStream", "v3io-stream"):
            continue
        password = trigger.get("password")
        if password and password != GENERATE_ACCESS_KEY:
            keys[name] = str(password)
        trigger["password"] = GENERATE_ACCESS_KEY
    if not keys:
        return [], []
    if len(set(keys.values())) > 1:
        raise InvalidInput(
            f"{fn.source}: stream triggers {', '.join(sorted(keys))} carry different access keys; "
            f"Nuclio reads one from {V3IO_KEY_ENV}. Put the key in a Secret and use "
            "'mlctl add-stream-trigger --access-key-secret NAME'"
        )
    if any(e.get("name") == V3IO_KEY_ENV for e in env):
        return [], []  # the function already says where its key comes from
    secret_name = k8s_name(fn.full_name, "v3io-stream")
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": secret_name, "namespace": namespace, "labels": pod_.labels(fn)},
        "type": "Opaque",
        "stringData": {pod_.V3IO_SECRET_KEY: next(iter(keys.values()))},
    }
    ref = {"secretKeyRef": {"name": secret_name, "key": pod_.V3IO_SECRET_KEY}}
    return [{"name": V3IO_KEY_ENV, "valueFrom": ref}], [secret]


def set_path(document: dict[str, Any], key: str, value: Any) -> None:
    parts = serving.split_path(key)
    node = document
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[parts[-1]] = copy.deepcopy(value)


def _encoded(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")
