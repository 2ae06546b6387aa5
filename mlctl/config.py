"""mlctl's settings: MLRun's config keys, from files and the environment.

Keys keep MLRun's names (``function_defaults.preemption_mode``,
``preemptible_nodes.node_selector`` ...). Layers, lowest first:

1. built-in defaults (MLRun's own)
2. the user's config file (``<user config dir>/mlctl/config.yaml``)
3. ``.mlctl.yaml`` in the current directory or the nearest parent
4. ``--config FILE`` or ``MLCTL_CONFIG``; else ``MLRUN_CONFIG_FILE`` (an MLRun
   config file: keys mlctl does not use are skipped there, not refused)
5. ``MLRUN_*`` environment variables (so an MLRun environment works as is)
6. ``MLCTL_*`` environment variables

Environment values are read as JSON, then as base64-encoded JSON, then as
plain text; ``__`` marks nesting (``MLCTL_STORAGE__AUTO_MOUNT_TYPE``).
Every value remembers where it came from, for ``mlctl config show``.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlctl.errors import InvalidInput

DEFAULTS: dict[str, Any] = {
    "function_defaults": {"preemption_mode": "prevent"},
    "preemptible_nodes": {"node_selector": {}, "tolerations": []},
    "valid_function_priority_class_names": "",
    "default_function_priority_class_name": "",
    "default_function_node_selector": {},
    "default_function_pod_resources": {"requests": {}, "limits": {}},
    "default_gpu_type": "nvidia.com/gpu",
    "storage": {"auto_mount_type": "auto", "auto_mount_params": ""},
    "pvc_mount": "",
    "mpijob_crd_version": "v2beta1",
    "serving_engine": "nuclio",
    "default_image": "python:3.11-slim",
    "projects": {},
    "hub_url": "",
    "cluster_config_map": "mlctl-system/mlctl-config",
    # unknown spec keys: strict (errors), warn (a likely typo is an error,
    # others are warnings), ignore (silent); --validate sets it per command
    "validation": "warn",
}
VALIDATION_LEVELS = ("strict", "warn", "ignore")

PREEMPTION_MODES = ("allow", "constrain", "prevent", "none")
AUTO_MOUNT_TYPES = ("none", "auto", "v3io_credentials", "v3io_fuse", "pvc", "s3", "env")
_ENV_PREFIXES = ("MLRUN_", "MLCTL_")
# variables that steer mlctl itself rather than set a config key
_NOT_KEYS = {"MLCTL_CONFIG", "MLRUN_CONFIG_FILE", "MLRUN_DBPATH", "MLCTL_DEBUG"}


@dataclass(frozen=True)
class Config:
    """The effective settings and the origin of each leaf."""

    values: Mapping[str, Any]
    origins: Mapping[str, str] = field(default_factory=dict)

    def get(self, dotted: str, default: Any = None) -> Any:
        node: Any = self.values
        for part in dotted.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return default
            node = node[part]
        return node

    # Typed views: MLRun stores several of these as base64 JSON strings.

    @property
    def default_preemption_mode(self) -> str:
        return str(self.get("function_defaults.preemption_mode") or "prevent")

    def origin(self, dotted: str) -> str:
        """Where a key's value came from (a file path, an environment layer, "default").

        A key inside a value set whole (``preemptible_nodes.node_selector.zone``)
        came from where that value came from.
        """
        parts = dotted.split(".")
        for end in range(len(parts), 0, -1):
            found = self.origins.get(".".join(parts[:end]))
            if found:
                return found
        return "default"

    def _mapping(self, dotted: str, value: Any = None, *, raw: bool = False) -> dict[str, str]:
        """A string mapping stored as a mapping, JSON or base64 JSON (MLRun stores both)."""
        decoded = decode_json(value if raw else self.get(dotted), dotted)
        if decoded is None:
            return {}
        if not isinstance(decoded, Mapping):
            raise InvalidInput(
                f"config {dotted} (from {self.origin(dotted)}): expected a mapping "
                f'such as {{"node-lifecycle": "spot"}}, got {type(decoded).__name__}'
            )
        return {str(k): str(v) for k, v in decoded.items()}

    @property
    def preemptible_node_selector(self) -> dict[str, str]:
        return self._mapping("preemptible_nodes.node_selector")

    @property
    def preemptible_tolerations(self) -> list[dict[str, Any]]:
        key = "preemptible_nodes.tolerations"
        value = decode_json(self.get(key), key)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(t, Mapping) for t in value):
            raise InvalidInput(
                f"config {key} (from {self.origin(key)}): expected a list of tolerations such as "
                '[{"key": "node-lifecycle", "operator": "Equal", "value": "spot", "effect": "NoSchedule"}]'
            )
        return [dict(t) for t in value]

    @property
    def validation(self) -> str:
        return str(self.get("validation") or "warn")

    @property
    def has_preemptible_profile(self) -> bool:
        return bool(self.preemptible_node_selector or self.preemptible_tolerations)

    @property
    def valid_priority_classes(self) -> list[str]:
        raw = self.get("valid_function_priority_class_names") or ""
        names = raw if isinstance(raw, list) else str(raw).split(",")
        seen: dict[str, None] = {}
        for name in names:
            if str(name).strip():
                seen.setdefault(str(name).strip(), None)
        return list(seen)

    @property
    def default_priority_class(self) -> str:
        return str(self.get("default_function_priority_class_name") or "")

    @property
    def default_node_selector(self) -> dict[str, str]:
        return self._mapping("default_function_node_selector")

    def project_node_selector(self, project: str) -> dict[str, str]:
        entry = (self.get("projects") or {}).get(project) or {}
        if not isinstance(entry, Mapping):
            return {}
        return self._mapping(
            f"projects.{project}.default_function_node_selector", entry.get("default_function_node_selector"), raw=True
        )

    @property
    def auto_mount_params(self) -> dict[str, str]:
        raw = self.get("storage.auto_mount_params")
        if isinstance(raw, Mapping):
            return {str(k): str(v) for k, v in raw.items()}
        text = str(raw or "").strip()
        if not text:
            return {}
        if "=" in text:
            pairs = [p.split("=", 1) for p in text.split(",") if p.strip()]
            return {k.strip(): v.strip() for k, v in pairs}
        return self._mapping("storage.auto_mount_params", text, raw=True)


def decode_json(value: Any, key: str) -> Any:
    """A dict/list as is; a JSON or base64-JSON string decoded; '' -> None."""
    if value is None or isinstance(value, Mapping | list):
        return value
    text = str(value).strip()
    if not text:
        return None
    for attempt in (text, _unbase64(text)):
        if attempt is None:
            continue
        try:
            return json.loads(attempt)
        except ValueError:
            continue
    raise InvalidInput(f"config {key}: expected JSON or base64-encoded JSON, got '{text[:40]}'")


def _unbase64(text: str) -> str | None:
    try:
        return base64.b64decode(text, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def _parse_env_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        pass
    decoded = _unbase64(raw)
    if decoded is not None and len(raw) >= 4:
        try:
            return json.loads(decoded)
        except ValueError:
            pass
    return raw


def _leaves(data: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value and key != "projects":
            yield from _leaves(value, dotted + ".")
        else:
            yield dotted


def _merge(
    base: dict[str, Any],
    layer: Mapping[str, Any],
    origin: str,
    origins: dict[str, str],
    prefix: str = "",
    defaults: Mapping[str, Any] = DEFAULTS,
) -> None:
    for key, value in layer.items():
        dotted = f"{prefix}{key}"
        current = base.get(key)
        section = defaults.get(key)
        # Sections (function_defaults, storage, ...) merge key by key. A value
        # that is itself a mapping (a node selector, a resource list, projects)
        # is replaced whole, so a later layer can drop a label, and the result
        # is the same whichever encoding (YAML, JSON, base64 JSON) a layer used.
        if isinstance(section, dict) and section and isinstance(current, dict) and isinstance(value, Mapping):
            _merge(current, value, origin, origins, dotted + ".", section)
        else:
            base[key] = copy.deepcopy(value)
            origins[dotted] = origin
            for child in list(origins):
                if child.startswith(dotted + "."):
                    origins[child] = origin


def _env_layer(environ: Mapping[str, str], prefix: str) -> dict[str, Any]:
    layer: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(prefix) or name in _NOT_KEYS:
            continue
        parts = name[len(prefix) :].lower().split("__")
        if parts[0] not in DEFAULTS:
            continue  # MLRun has many keys mlctl has no use for
        node = layer
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = _parse_env_value(raw)
    return layer


def _read_file(path: Path, *, strict: bool = True) -> dict[str, Any]:
    """A config file's keys; ``strict=False`` drops keys mlctl does not use.

    An MLRun config file (``MLRUN_CONFIG_FILE``) holds many keys mlctl has
    no use for; like ``MLRUN_*`` variables, those are skipped, not errors.
    """
    from mlctl.spec import loader

    text = loader.read_text(path, "config file")  # unreadable, a folder, not UTF-8: an error naming the file
    if not any(line.strip() and not line.lstrip().startswith("#") for line in text.splitlines()):
        return {}  # empty, or comments only
    document = loader.load_text(text, str(path), "a config file")
    if not strict:
        return {k: v for k, v in document.data.items() if k in DEFAULTS}
    unknown = [k for k in document.data if k not in DEFAULTS]
    if unknown:
        line, column = document.locate((unknown[0],))
        raise InvalidInput(
            f"{path}:{line}:{column}: unknown config key '{unknown[0]}' (known: {', '.join(sorted(DEFAULTS))})"
        )
    return document.data


def _project_file(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        candidate = folder / ".mlctl.yaml"
        if _is_file(candidate):
            return candidate
    return None


def _is_file(path: Path, *, any_kind: bool = False) -> bool:
    """Whether a config file (``any_kind``: anything) is there; a path that cannot be looked at
    (in a folder without search permission) is an error naming it, not a crash nor a skipped file."""
    try:
        return path.exists() if any_kind else path.is_file()
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read config file ({exc.strerror or exc})") from None


def user_config_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir("mlctl")) / "config.yaml"


def resolve(
    environ: Mapping[str, str],
    files: list[tuple[str, Mapping[str, Any]]],
    cluster: Mapping[str, Any] | None = None,
) -> Config:
    """Merge the layers (pure): defaults, cluster ConfigMap, files, MLRUN_, MLCTL_."""
    values = copy.deepcopy(DEFAULTS)
    origins = dict.fromkeys(_leaves(DEFAULTS), "default")
    layers: list[tuple[str, Mapping[str, Any]]] = []
    if cluster:
        layers.append(("cluster ConfigMap", cluster))
    layers.extend(files)
    layers.append(("environment (MLRUN_*)", _env_layer(environ, "MLRUN_")))
    layers.append(("environment (MLCTL_*)", _env_layer(environ, "MLCTL_")))
    for origin, layer in layers:
        _merge(values, layer, origin, origins)
    config = Config(values, origins)
    _check(config)
    return config


def with_value(config: Config, key: str, value: Any, origin: str) -> Config:
    """``config`` with one top-level key set from a command-line flag (the highest layer)."""
    changed = Config({**config.values, key: value}, {**config.origins, key: origin})
    _check(changed)
    return changed


def _check(config: Config) -> None:
    mode = config.default_preemption_mode
    if mode not in PREEMPTION_MODES:
        raise InvalidInput(
            f"config function_defaults.preemption_mode (from {config.origin('function_defaults.preemption_mode')}): "
            f"'{mode}' is not one of {', '.join(PREEMPTION_MODES)}"
        )
    mount = config.get("storage.auto_mount_type")
    if mount not in AUTO_MOUNT_TYPES:
        raise InvalidInput(
            f"config storage.auto_mount_type (from {config.origin('storage.auto_mount_type')}): "
            f"'{mount}' is not one of {', '.join(AUTO_MOUNT_TYPES)}"
        )
    level = config.validation
    if level not in VALIDATION_LEVELS:
        raise InvalidInput(
            f"config validation (from {config.origin('validation')}): "
            f"'{level}' is not one of {', '.join(VALIDATION_LEVELS)}"
        )
    # decode once so a broken base64/JSON value fails here, not mid-render
    config.preemptible_node_selector  # noqa: B018
    config.preemptible_tolerations  # noqa: B018
    config.default_node_selector  # noqa: B018


def load(
    config_file: str | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    cluster: Mapping[str, Any] | None = None,
) -> Config:
    """Read the config files that exist and the environment (the I/O end).

    ``cluster`` is the layer an admin set in the cluster's ConfigMap (read by
    ``mlctl.cluster.settings``); it lies below every file and variable.
    """
    environ = os.environ if environ is None else environ
    files: list[tuple[str, Mapping[str, Any]]] = []
    user = user_config_path()
    if _is_file(user):
        files.append((str(user), _read_file(user)))
    project = _project_file(cwd or Path.cwd())
    if project:
        files.append((str(project), _read_file(project)))
    explicit = config_file or environ.get("MLCTL_CONFIG")
    mlrun_file = not explicit and environ.get("MLRUN_CONFIG_FILE")
    if explicit or mlrun_file:
        path = Path(str(explicit or mlrun_file))
        if not _is_file(path, any_kind=True):
            raise InvalidInput(f"{path}: config file does not exist")
        files.append((str(path), _read_file(path, strict=not mlrun_file)))
    return resolve(environ, files, cluster)
