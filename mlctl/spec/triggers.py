"""Nuclio triggers of a spec, changed the way MLRun's setters change them.

``set_http`` ~ ``fn.with_http`` and ``add_stream_trigger`` ~
``fn.add_v3io_stream_trigger``: each takes the round-trip tree of a spec
and writes ``spec.config['spec.triggers.<name>']`` in place, checking its
own arguments. The file as a whole is validated by ``mlctl.spec.edit``.

No secret is ever written into the spec: a stream trigger's access key is
``$generate`` (Nuclio then reads ``V3IO_ACCESS_KEY``), and that variable
comes from a Kubernetes Secret named by the user.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from mlctl.errors import InvalidInput
from mlctl.spec import mutations

NUCLIO_KINDS = ("nuclio", "remote", "serving", "application")
CONSUMER_GROUP = re.compile(r"^(?!_)[a-zA-Z0-9_]{1,256}$")
SEEK_TO = ("earliest", "latest")
DEFAULT_WEBAPI = "http://v3io-webapi:8081"
GENERATE_ACCESS_KEY = "$generate"
ACCESS_KEY_ENV = "V3IO_ACCESS_KEY"
ACCESS_KEY_SECRET_KEY = "accessKey"  # the key mlctl's v3io Secrets use throughout
_NGINX = "nginx.ingress.kubernetes.io/"


def _nuclio_spec(tree: Any) -> Any:
    kind = tree.get("kind")
    if kind not in NUCLIO_KINDS:
        raise InvalidInput(f"kind '{kind}' has no Nuclio triggers (kinds: {', '.join(NUCLIO_KINDS)})")
    return mutations.spec_of(tree)


def _config(spec: Any) -> Any:
    config = spec.get("config")
    if not isinstance(config, dict):
        spec["config"] = config = {}
    return config


def http_trigger(
    workers: int,
    *,
    worker_timeout: int | None = None,
    gateway_timeout: int | None = None,
    host: str | None = None,
    paths: Sequence[str] = (),
    port: int | None = None,
    canary: int | None = None,
    secret: str | None = None,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The HTTP trigger MLRun's ``with_http`` builds: workers, timeouts, ingress, canary."""
    if workers < 0:
        raise InvalidInput("--workers must be 0 or more")
    notes = {str(k): str(v) for k, v in (annotations or {}).items()}
    if worker_timeout is not None and worker_timeout <= 0:
        raise InvalidInput("--worker-timeout must be more than 0 seconds")
    if worker_timeout and gateway_timeout is None:
        gateway_timeout = worker_timeout + 60
    if gateway_timeout is not None:
        if gateway_timeout <= 0:
            raise InvalidInput("--gateway-timeout must be more than 0 seconds")
        if worker_timeout and worker_timeout >= gateway_timeout:
            raise InvalidInput(
                f"--gateway-timeout {gateway_timeout} must be greater than --worker-timeout {worker_timeout}"
            )
        for which in ("connect", "read", "send"):
            notes[f"{_NGINX}proxy-{which}-timeout"] = str(gateway_timeout)
    attributes: dict[str, Any] = {"ingresses": {}}
    if port is not None:
        if not 0 < port < 65536:
            raise InvalidInput(f"--port {port} is not a port number (1-65535)")
        attributes["port"] = port
    if host:
        ingress: dict[str, Any] = {"host": host, "paths": list(paths) or ["/"]}
        if secret:
            ingress["secretName"] = secret
        attributes["ingresses"]["0"] = ingress
        if canary is not None:
            if not 0 <= canary <= 100:
                raise InvalidInput(f"--canary {canary} is not a percentage (0-100)")
            notes[f"{_NGINX}canary"] = "true"
            notes[f"{_NGINX}canary-weight"] = str(canary)
    elif paths or canary is not None or secret:
        raise InvalidInput("--path, --canary and --secret describe an ingress: give --host too")
    trigger: dict[str, Any] = {
        "kind": "http",
        "maxWorkers": workers,
        "attributes": attributes,
        "annotations": notes,
        "name": "http",
        "mode": "sync",  # what MLRun's with_http writes for a synchronous trigger
    }
    if worker_timeout:
        trigger["workerAvailabilityTimeoutMilliseconds"] = worker_timeout * 1000
    return trigger


def set_http(tree: Any, workers: int, **options: Any) -> None:
    """Replace the HTTP trigger, as ``with_http`` does (nothing of the old one is kept)."""
    spec = _nuclio_spec(tree)
    _config(spec)["spec.triggers.http"] = http_trigger(workers, **options)


def parse_stream_path(stream_path: str) -> tuple[str, str, str]:
    """(web API URL, container, stream path) of ``v3io:///container/path`` or ``container/path``."""
    url = DEFAULT_WEBAPI
    path = stream_path
    if "://" in stream_path:
        parts = urlsplit(stream_path)
        if parts.scheme not in ("v3io", "v3ios"):
            raise InvalidInput(f"stream path '{stream_path}': expected v3io:///<container>/<path>")
        if parts.netloc:
            url = f"{'https' if parts.scheme == 'v3ios' else 'http'}://{parts.netloc}"
        path = parts.path
    container, _, rest = path.strip("/").partition("/")
    if not container or not rest:
        raise InvalidInput(
            f"stream path '{stream_path}': name a container and a stream, e.g. v3io:///projects/p/stream"
        )
    return url, container, rest


def check_consumer_group(group: str) -> None:
    if not CONSUMER_GROUP.match(group):
        raise InvalidInput(f"consumer group '{group}' must be 1-256 letters, digits or '_', not starting with '_'")


def stream_trigger(
    stream_path: str, *, name: str = "stream", group: str = "serving", seek_to: str = "earliest", max_workers: int = 1
) -> dict[str, Any]:
    """The trigger ``add_v3io_stream_trigger`` builds, with ``$generate`` for the key."""
    check_consumer_group(group)
    if seek_to not in SEEK_TO:
        raise InvalidInput(f"--seek-to '{seek_to}' is not one of {', '.join(SEEK_TO)}")
    if max_workers < 1:
        raise InvalidInput("--max-workers must be 1 or more")
    url, container, path = parse_stream_path(stream_path)
    return {
        "kind": "v3ioStream",
        "url": url,
        "name": name,
        "maxWorkers": max_workers,
        "password": GENERATE_ACCESS_KEY,
        "workerTerminationTimeout": "10s",
        "attributes": {
            "containerName": container,
            "streamPath": path,
            "consumerGroup": group,
            "seekTo": seek_to,
            "sequenceNumberCommitInterval": "1s",
            "workerAllocationMode": "pool",
            "sessionTimeout": "10s",
            "heartbeatInterval": "3s",
            "readBatchSize": 256,
            "pollingIntervalMs": 500,
        },
    }


def add_stream_trigger(
    tree: Any,
    stream_path: str,
    *,
    name: str = "stream",
    group: str = "serving",
    seek_to: str = "earliest",
    shards: int = 1,
    max_workers: int = 1,
    access_key_secret: str | None = None,
) -> None:
    """Add (or replace) a v3io stream trigger; one replica per shard, as MLRun sets."""
    spec = _nuclio_spec(tree)
    if not re.match(r"^[A-Za-z0-9][-A-Za-z0-9_]*$", name):
        raise InvalidInput(f"trigger name '{name}' must be letters, digits, '-' or '_'")
    if shards < 1:
        raise InvalidInput("--shards must be 1 or more")
    trigger = stream_trigger(stream_path, name=name, group=group, seek_to=seek_to, max_workers=max_workers)
    _config(spec)[f"spec.triggers.{name}"] = trigger
    spec["min_replicas"] = shards
    spec["max_replicas"] = shards
    if spec.get("replicas"):
        spec["replicas"] = shards  # a fixed count would override the range
    if access_key_secret:
        mutations.set_env(tree, [], [(ACCESS_KEY_ENV, access_key_secret, ACCESS_KEY_SECRET_KEY)])
