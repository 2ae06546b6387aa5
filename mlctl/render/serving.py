"""What both serving engines share: the function a Nuclio-kind spec describes.

Kinds ``nuclio`` / ``remote``, ``serving`` and ``application`` render either
as a ``NuclioFunction`` (``mlctl.render.nuclio``) or, with ``--engine
kubernetes`` (config ``serving_engine``), as a Deployment, Service and
HorizontalPodAutoscaler (``mlctl.render.kube_serving``). Both read the same
facts from the spec here: replicas, triggers and their workers, the target
CPU, the handler and its code, the serving graph and how it reaches the pod,
and the pod without the bootstrap. Pure: no cluster access, no kubernetes import.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from mlctl import payloads
from mlctl.config import Config
from mlctl.errors import InvalidInput
from mlctl.render import pod as pod_
from mlctl.render.context import RenderContext
from mlctl.spec.model import FunctionSpec, k8s_name, thaw

ENGINES = ("nuclio", "kubernetes")
DEFAULT_SERVICE_TYPE = "NodePort"  # MLRun's httpdb.nuclio.default_service_type
DEFAULT_TARGET_CPU = 75  # Nuclio's own default, percent of the CPU request
DEFAULT_APPLICATION_PORT = 8050
SERVING_SPEC_ENV = "SERVING_SPEC_ENV"
# MLRun's serving runtime reads this file before it looks at the variable
SERVING_SPEC_DIR = "/tmp/mlrun/serving-conf"
SERVING_SPEC_FILE = "serving_spec.json"
# A pod's whole environment shares etcd's object size limit; past this the
# graph goes into a ConfigMap file instead of the variable.
SERVING_SPEC_ENV_LIMIT = 64 * 1024

# Hands Nuclio events to MLRun's serving runtime (the image must have mlrun);
# used when a serving function carries no code of its own.
SERVING_WRAPPER = "serving_wrapper.py"


def engine_of(config: Config, ctx: RenderContext) -> str:
    engine = ctx.engine or str(config.get("serving_engine") or "nuclio")
    if engine not in ENGINES:
        raise InvalidInput(f"serving engine '{engine}' is not one of {', '.join(ENGINES)}")
    return engine


def replica_bounds(fn: FunctionSpec) -> tuple[int, int]:
    """(min, max): a fixed ``replicas`` sets both, as MLRun does."""
    replicas = fn.get("replicas")
    if replicas:
        return int(replicas), int(replicas)
    high_default = 1 if fn.kind == "application" else 4
    low = fn.get("min_replicas")
    high = fn.get("max_replicas")
    low = 1 if low is None else int(low)
    high = high_default if high is None else int(high)
    return low, high


def triggers(fn: FunctionSpec) -> dict[str, dict[str, Any]]:
    """Triggers by name, from ``spec.config['spec.triggers.<name>']`` over base_spec's."""
    base = thaw(base_spec(fn).get("spec", {}).get("triggers") or {})
    out = {str(k): v for k, v in base.items() if isinstance(v, dict)}
    for key, value in (thaw(fn.get("config")) or {}).items():
        parts = split_path(str(key))
        if len(parts) == 3 and parts[:2] == ["spec", "triggers"] and isinstance(value, dict):
            out[parts[2]] = value
    return out


def http_workers(fn: FunctionSpec) -> int:
    """Workers of the HTTP trigger; Nuclio's default trigger has one."""
    for trigger in triggers(fn).values():
        if trigger.get("kind") == "http":
            return int(trigger.get("maxWorkers") or 1)
    return 1


def target_cpu(fn: FunctionSpec) -> int:
    value = (thaw(fn.get("config")) or {}).get("spec.targetCPU")
    if value is None:
        value = base_spec(fn).get("spec", {}).get("targetCPU")
    return DEFAULT_TARGET_CPU if value in (None, "") else int(value)


def source_code(fn: FunctionSpec) -> str | None:
    """The handler's Python source: the spec's own code, base_spec's, or the serving wrapper."""
    if fn.code is not None:
        return fn.code.text
    encoded = base_spec(fn).get("spec", {}).get("build", {}).get("functionSourceCode")
    if encoded:
        try:
            return base64.b64decode(str(encoded)).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise InvalidInput(
                f"{fn.source}: spec.base_spec.spec.build.functionSourceCode is not base64-encoded UTF-8 text"
            ) from None
    if fn.kind == "serving":
        return payloads.source(SERVING_WRAPPER)
    return None


def handler(fn: FunctionSpec) -> str:
    """``module:function``: function_handler, else base_spec's, else from the code file."""
    explicit = fn.get("function_handler") or base_spec(fn).get("spec", {}).get("handler")
    if explicit:
        return str(explicit)
    module = "main"  # what MLRun names code whose file name it does not know
    origin = str((fn.get("build") or {}).get("origin_filename") or "")
    if fn.code is not None and origin.endswith(".py"):
        module = fn.code.filename[: -len(".py")]
    return f"{module}:{fn.get('default_handler') or 'handler'}"


def serving_spec(fn: FunctionSpec) -> str:
    """The JSON MLRun's serving runtime reads (``mlrun.utils.get_serving_spec``)."""
    project = fn.project or "default"
    uri = f"{project}/{fn.name}" + (f":{fn.tag}" if fn.tag else "")
    refs = thaw(fn.get("function_refs")) or []
    if isinstance(refs, dict):
        refs = [{"name": name, **(ref if isinstance(ref, dict) else {})} for name, ref in refs.items()]
    functions = {str(r["name"]): f"{project}/{r['name']}" for r in refs if isinstance(r, dict) and r.get("name")}
    spec: dict[str, Any] = {
        "function_uri": uri,
        "version": "v2",
        "parameters": thaw(fn.get("parameters")) or {},
        # A graph is what a serving function serves; a spec without one (as
        # most hub exports are) starts as an empty router that models join.
        "graph": thaw(fn.get("graph")) or {"kind": "router"},
        "load_mode": fn.get("load_mode"),
        "functions": functions,
        "graph_initializer": fn.get("graph_initializer"),
        "error_stream": fn.get("error_stream"),
        "track_models": fn.get("track_models"),
        "tracking_policy": thaw(fn.get("tracking_policy")),
        "default_content_type": fn.get("default_content_type"),
    }
    if fn.get("secret_sources"):
        spec["secret_sources"] = thaw(fn.get("secret_sources"))
    return json.dumps(spec, sort_keys=True)


def serving_spec_delivery(
    fn: FunctionSpec, namespace: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(env, volumes, mounts, objects) carrying the serving spec into the pod."""
    text = serving_spec(fn)
    if len(text.encode("utf-8")) < SERVING_SPEC_ENV_LIMIT:
        return [{"name": SERVING_SPEC_ENV, "value": text}], [], [], []
    name = k8s_name(fn.full_name, "serving-conf")
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": pod_.labels(fn)},
        "data": {SERVING_SPEC_FILE: text},
    }
    volume = {"name": "serving-conf", "configMap": {"name": name}}
    mount = {"name": "serving-conf", "mountPath": SERVING_SPEC_DIR, "readOnly": True}
    return [], [volume], [mount], [config_map]


def function_pod(fn: FunctionSpec, config: Config, namespace: str) -> pod_.Pod:
    """The shared pod pieces without the bootstrap: Nuclio functions are not run through it."""
    pod = pod_.build(fn, config, namespace)
    container = dict(pod.container)
    env = [e for e in container.get("env", []) if e.get("name") != pod_.RUN_ENV]
    container.pop("env", None)
    if env:
        container["env"] = env
    mounts = [m for m in container.get("volumeMounts", []) if m.get("name") != pod_.CODE_VOLUME]
    container.pop("volumeMounts", None)
    if mounts:
        container["volumeMounts"] = mounts
    for key in ("command", "args"):
        container.pop(key, None)
    spec = dict(pod.spec)
    volumes = [v for v in spec.get("volumes", []) if v.get("name") != pod_.CODE_VOLUME]
    spec.pop("volumes", None)
    if volumes:
        spec["volumes"] = volumes
    return pod_.Pod(container=container, spec=spec, labels=pod.labels, extra_objects=pod.extra_objects)


def split_path(key: str) -> list[str]:
    """MLRun's dotted config path; a part wrapped in backslashes may hold dots.

    ``metadata.labels.\\app.kubernetes.io/name\\`` -> metadata, labels, app.kubernetes.io/name
    """
    parts: list[str] = []
    current = ""
    quoted = False
    for char in key:
        if char == "\\":
            quoted = not quoted
        elif char == "." and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def base_spec(fn: FunctionSpec) -> dict[str, Any]:
    base = thaw(fn.get("base_spec"))
    # MLRun writes an empty string when there is no base document
    return base if isinstance(base, dict) else {}
