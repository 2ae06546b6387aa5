"""Check a loaded spec: shape against the JSON Schema, meaning in Python.

The schema (``schemas/function.schema.json``) is the contract for shape;
the checks here cover what a schema says badly or not at all: quantities
with a useful message, requests above limits, GPU requests, label syntax,
time strings, thresholds on kinds that do not support them, priority
classes against the configured list, and lints that are warnings only.

Pure: takes a ``Document`` and a ``Config``, returns ``Problem``s. Every
problem is reported at once; the caller decides what to raise.
"""

from __future__ import annotations

import base64
import binascii
import copy
import difflib
import functools
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from decimal import Decimal
from importlib import resources
from typing import Any

from mlctl.config import PREEMPTION_MODES, Config
from mlctl.errors import Problem
from mlctl.spec import durations, quantity
from mlctl.spec import state_thresholds as state_thresholds_
from mlctl.spec.loader import Document, Path_

# The newest MLRun whose exported spec keys the schema knows
MLRUN_VERSION = "1.12"
SUPPORTED_KINDS = ("job", "mpijob", "dask", "nuclio", "remote", "serving", "application", "spark")
NUCLIO_KINDS = ("nuclio", "remote", "serving", "application")
# MLRun's own words (DaskCluster / RemoteRuntime.set_state_thresholds), so a
# user who met them in MLRun recognises them here
_THRESHOLD_REFUSALS = {
    "dask": "State thresholds is not supported for Dask runtime yet, use spec.scheduler_timeout instead",
    **dict.fromkeys(
        NUCLIO_KINDS,
        "State thresholds do not apply for nuclio as it has its own function pods healthiness monitoring",
    ),
}
_LABEL_NAME = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


@functools.cache
def schema(name: str = "function") -> dict[str, Any]:
    """A JSON Schema shipped in ``mlctl/schemas``: ``function`` (a spec) or ``task`` (a run template)."""
    text = resources.files("mlctl").joinpath(f"schemas/{name}.schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@functools.cache
def _validator(name: str = "function") -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema(name))


def check(document: Document, config: Config) -> list[Problem]:
    """Every problem in the document, errors and warnings, sorted by position."""
    semantic = list(_semantic_problems(document, config))
    # Where a check below explains an error in words (a quantity, a time
    # string, a state name), the schema's generic message for the same
    # value would only repeat it: one problem, said once.
    explained = {p.path for p in semantic if p.severity == "error"}
    level = config.validation
    problems = [p for p in _schema_problems(document, level) if p.path not in explained]
    problems.extend(semantic)
    unique = {(p.line, p.column, p.path, p.message): p for p in problems}
    return sorted(unique.values())


def unknown_keys(data: Mapping[str, Any]) -> list[Path_]:
    """Paths of the keys the schema does not know (whatever the validation level)."""
    found = _UNKNOWN_SEEN.get(repr(data))
    if found is None:
        found = _remember(data, list(_schema_errors(data)))
    return list(found)


# The unknown keys of the document validated last, by its data's text. A
# spec is validated (``check``), then modelled from its known keys only
# (``known_only``): the schema is the costly part of both, and the second
# would find the same errors in the same data. The text, not the object, is
# the key, so data changed in place is validated again; one entry, since a
# spec is modelled right after its last check.
_UNKNOWN_SEEN: dict[str, list[Path_]] = {}


def _remember(data: Mapping[str, Any], errors: Iterable[Any]) -> list[Path_]:
    found = [path for error in errors for path in _unknown_in(error)]
    _UNKNOWN_SEEN.clear()
    _UNKNOWN_SEEN[repr(data)] = found
    return found


def _schema_errors(data: Mapping[str, Any]) -> Iterator[Any]:
    """The schema's errors for ``data``, at the paths of ``data``.

    An env list can hold tens of thousands of entries (env files), and the
    JSON Schema validator spends about 50 microseconds on each. An entry that
    is a name and a literal value is valid by a look at its two keys: only
    the other entries go through the validator, and their errors are moved
    back to the entries' own indexes.
    """
    spec = data.get("spec")
    env = spec.get("env") if isinstance(spec, Mapping) else None
    if not isinstance(env, list) or len(env) < 64:
        yield from _validator().iter_errors(data)
        return
    kept = [index for index, item in enumerate(env) if not _plain_env_entry(item)]
    view = {**data, "spec": {**spec, "env": [env[index] for index in kept]}}  # type: ignore[dict-item]
    for error in _validator().iter_errors(view):
        path = error.path  # the top-level error's path: its sub-errors' absolute paths follow it
        if len(path) > 2 and path[0] == "spec" and path[1] == "env" and isinstance(path[2], int):
            path[2] = kept[path[2]]
        if error.instance is view["spec"]["env"]:
            error.instance = env
        yield error


def _plain_env_entry(item: Any) -> bool:
    """Whether an env entry is exactly what the schema's envVar accepts without a closer look."""
    if type(item) is not dict or not 1 <= len(item) <= 2:
        return False
    name = item.get("name")
    if type(name) is not str or not name:
        return False
    return len(item) == 1 or ("value" in item and type(item["value"]) in (str, int, float, bool, type(None)))


def known_only(data: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``data`` without the keys the schema does not know: what gets rendered."""
    copy_: dict[str, Any] = copy.deepcopy(dict(data))
    for path in sorted(unknown_keys(data), key=len, reverse=True):
        node: Any = copy_
        for part in path[:-1]:
            node = node[part]
        if isinstance(node, dict):
            node.pop(path[-1], None)
    return copy_


def errors(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]


def warnings(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "warning"]


# --- shape -----------------------------------------------------------------


def _schema_problems(document: Document, level: str = "warn") -> Iterator[Problem]:
    found = list(_schema_errors(document.data))
    _remember(document.data, found)
    for error in found:
        yield from _translate(document, error, level)


def schema_problems(document: Document, name: str, level: str = "warn") -> list[Problem]:
    """The problems of ``document`` against the shipped schema ``name``, located, unknown keys at ``level``.

    For a schema without ``$ref``s (the function schema goes through ``check``).
    """
    return [p for error in _validator(name).iter_errors(document.data) for p in _translate(document, error, level)]


def _unknown_in(error: Any) -> Iterator[Path_]:
    if error.validator in ("additionalProperties", "unevaluatedProperties"):
        known = _known_keys(error.schema)
        instance = error.instance if isinstance(error.instance, Mapping) else {}
        for key in instance:
            if key not in known and not _matches_pattern(error.schema, key):
                yield (*tuple(error.absolute_path), key)
    elif error.validator in ("anyOf", "oneOf") and error.context:
        from jsonschema.exceptions import best_match

        yield from _unknown_in(best_match(error.context))


def _translate(document: Document, error: Any, level: str = "warn") -> Iterator[Problem]:
    path: Path_ = tuple(error.absolute_path)
    kind = error.validator
    if kind in ("additionalProperties", "unevaluatedProperties"):
        if level == "ignore":
            return
        known = sorted(_known_keys(error.schema))
        for key_path in _unknown_in(error):
            yield _unknown_key(document, key_path, known, level)
        return
    if kind in ("anyOf", "oneOf") and error.context:
        from jsonschema.exceptions import best_match

        yield from _translate(document, best_match(error.context), level)
        return
    if kind == "required":
        missing = re.findall(r"'([^']+)' is a required property", error.message)
        yield document.problem(path, f"missing required key '{missing[0] if missing else error.message}'")
        return
    secret = secret_bearing(path)
    if kind == "enum":
        options = ", ".join(str(o) for o in error.validator_value if o not in (None, ""))
        yield document.problem(path, f"{_show(error.instance, secret)} is not one of: {options}")
        return
    if kind == "type":
        wanted = error.validator_value
        wanted = " or ".join(wanted) if isinstance(wanted, list) else wanted
        got = _type_name(error.instance) if secret else f"{_type_name(error.instance)} {_show(error.instance)}"
        yield document.problem(path, f"expected {wanted}, got {got}")
        return
    if kind == "pattern":
        title = error.schema.get("title") or error.schema.get("description")
        what = f"a valid {title}" if title else f"matching {error.validator_value}"
        yield document.problem(path, f"{_show(error.instance, secret)} is not {what}")
        return
    if secret:  # jsonschema's own messages quote the value
        yield document.problem(path, f"{_type_name(error.instance)} that fails the schema's '{kind}' rule")
        return
    yield document.problem(path, error.message)


def _unknown_key(document: Document, path: Path_, known: list[str], level: str) -> Problem:
    """A likely typo (one edit from a known key) is an error; another unknown key a warning, unless strict."""
    key = str(path[-1])
    typo = next((k for k in known if _one_edit_apart(key, k)), None)
    if typo is not None:
        return document.problem(path, f"unknown key '{key}'", f"did you mean '{typo}'?")
    if level == "strict":
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else ""
        if not hint and known and len(known) <= 12:
            hint = "known keys: " + ", ".join(known)
        return document.problem(path, f"unknown key '{key}'", hint)
    return document.problem(
        path,
        f"unknown key '{key}': kept in the file, not rendered",
        f"not a key of MLRun {MLRUN_VERSION} or earlier; --validate=strict makes it an error, ignore silences it",
        "warning",
    )


def _one_edit_apart(one: str, other: str) -> bool:
    """Whether one insertion, deletion, substitution or swap of neighbours turns ``one`` into ``other``."""
    if one == other or abs(len(one) - len(other)) > 1:
        return False
    if len(one) == len(other):
        diffs = [i for i, (a, b) in enumerate(zip(one, other, strict=True)) if a != b]
        if len(diffs) == 1:
            return True
        first = diffs[0]
        return (
            len(diffs) == 2
            and diffs[1] == first + 1
            and one[first] == other[first + 1]
            and one[first + 1] == other[first]
        )
    shorter, longer = sorted((one, other), key=len)
    at = next((i for i, (a, b) in enumerate(zip(shorter, longer, strict=False)) if a != b), len(shorter))
    return shorter[at:] == longer[at + 1 :]


_SECRET_NAME = re.compile(r"pass(word|wd)?|secret|token|credential|access_?key|api_?key|private|auth", re.IGNORECASE)


def secret_bearing(path: Path_) -> bool:
    """Whether the value at ``path`` may hold a secret: env values, credentials, keys, passwords.

    Messages about such a value name its type, never the value.
    """
    if len(path) >= 2 and path[:2] == ("spec", "env"):
        return True
    return any(isinstance(part, str) and _SECRET_NAME.search(part) for part in path)


def _show(value: Any, secret: bool = False) -> str:
    if secret:
        return f"the value ({_type_name(value)})"
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _type_name(value: Any) -> str:
    return {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def _resolve(node: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = node.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return node
    target: Any = schema()
    for part in ref[2:].split("/"):
        target = target[part.replace("~1", "/").replace("~0", "~")]
    return _resolve(target) if isinstance(target, Mapping) else node


def _known_keys(node: Mapping[str, Any], depth: int = 0) -> set[str]:
    """Property names a (sub)schema evaluates, through $ref, allOf and if/then/else."""
    if depth > 12:
        return set()
    node = _resolve(node)
    keys = set(node.get("properties", {}))
    for branch in ("allOf", "anyOf", "oneOf"):
        for sub in node.get(branch, []):
            keys |= _known_keys(sub, depth + 1)
    for branch in ("then", "else"):
        if isinstance(node.get(branch), Mapping):
            keys |= _known_keys(node[branch], depth + 1)
    if "$ref" in node and node is not _resolve(node):
        keys |= _known_keys(_resolve(node), depth + 1)
    return keys


def _matches_pattern(node: Mapping[str, Any], key: str) -> bool:
    node = _resolve(node)
    return any(re.search(p, str(key)) for p in node.get("patternProperties", {}))


# --- meaning ---------------------------------------------------------------


def _semantic_problems(document: Document, config: Config) -> Iterator[Problem]:
    data = document.data
    kind = data.get("kind")
    spec: Mapping[str, Any] = data["spec"] if isinstance(data.get("spec"), Mapping) else {}
    metadata: Mapping[str, Any] = data["metadata"] if isinstance(data.get("metadata"), Mapping) else {}
    if isinstance(kind, str) and kind not in SUPPORTED_KINDS:
        return  # the schema has said which kinds exist; nothing below applies
    # Function labels go onto the pods (as MLRun does) when Kubernetes accepts
    # them; one it would refuse (hub specs have `framework: tensorflow, keras`)
    # stays in the spec only, which warrants a warning, not an error
    yield from (
        Problem(
            p.file,
            p.line,
            p.column,
            p.path,
            p.message + "; kept in the spec, not put on Kubernetes objects",
            p.hint,
            "warning",
        )
        for p in _labels(document, ("metadata", "labels"), metadata.get("labels"))
    )
    yield from _labels(document, ("spec", "node_selector"), spec.get("node_selector"))
    for side in ("driver", "executor"):
        yield from _labels(document, ("spec", f"{side}_node_selector"), spec.get(f"{side}_node_selector"))
    for key in ("resources", "scheduler_resources", "worker_resources"):
        yield from _resources(document, ("spec", key), spec.get(key), config)
    for key in ("driver_resources", "executor_resources"):
        # Spark reads its memory as a JVM size (2g, 4G: binary units)
        yield from _resources(document, ("spec", key), spec.get(key), config, memory=quantity.parse_spark_memory)
    yield from _env(document, spec.get("env"))
    yield from _function_code(document, spec.get("build"))
    yield from _volumes(document, spec.get("volumes"), spec.get("volume_mounts"))
    yield from threshold_problems(document, kind, spec.get("state_thresholds"))
    yield from _priority(document, spec.get("priority_class_name"), config)
    yield from _preemption(document, spec, config)
    yield from _autoscaling_lints(document, kind, spec)
    if spec.get("mount_otlp_secret") is True:
        yield document.problem(
            ("spec", "mount_otlp_secret"),
            "MLRun's server mounts its OpenTelemetry exporter secret here; mlctl mounts none",
            "mount the secret yourself: mlctl mount FILE secret NAME PATH",
            "warning",
        )
    yield from _workers_vs_gpus(document, kind, spec, config)


def _labels(document: Document, path: Path_, labels: Any) -> Iterator[Problem]:
    if not isinstance(labels, Mapping):
        return
    for key, value in labels.items():
        message = label_key_problem(str(key))
        if message:
            yield document.problem((*path, key), message)
        message = label_value_problem(value)
        if message:
            yield document.problem((*path, key), message)


def label_key_problem(key: str) -> str | None:
    """Why ``key`` is not a valid Kubernetes label key, or None."""
    if key.count("/") > 1:
        return f"label key '{key}' has more than one '/'"
    prefix, _, name = key.rpartition("/")
    if "/" in key and not prefix:
        return f"label key '{key}' has an empty prefix"
    if prefix and (len(prefix) > 253 or not _DNS1123_SUBDOMAIN.match(prefix)):
        return f"label key prefix '{prefix}' is not a DNS subdomain (lower case, digits, '-', '.')"
    if not name:
        return f"label key '{key}' has an empty name"
    if len(name) > 63 or not _LABEL_NAME.match(name):
        return (
            f"label key name '{name}' must be at most 63 characters of letters, digits, '-', '_', '.', "
            "starting and ending with a letter or digit"
        )
    return None


def label_value_problem(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value) if not isinstance(value, bool) else str(value).lower()
    if len(text) > 63 or not _LABEL_NAME.match(text):
        return (
            f"label value '{text}' must be at most 63 characters of letters, digits, '-', '_', '.', "
            "starting and ending with a letter or digit"
        )
    return None


def _resources(
    document: Document,
    path: Path_,
    value: Any,
    config: Config,
    memory: Callable[[object], Decimal] = quantity.parse,
) -> Iterator[Problem]:
    if not isinstance(value, Mapping):
        return
    sections = {name: value.get(name) for name in ("requests", "limits")}
    parsed: dict[str, dict[str, Any]] = {"requests": {}, "limits": {}}
    for name, section in sections.items():
        if not isinstance(section, Mapping):
            continue
        for resource, amount in section.items():
            if amount is None or amount == "":
                continue
            try:
                parse = memory if resource == "memory" else quantity.parse
                parsed[name][resource] = parse(amount)
            except quantity.QuantityError as exc:
                yield document.problem((*path, name, resource), str(exc))
                continue
            if parsed[name][resource] < 0:
                yield document.problem(
                    (*path, name, resource), f"{name[:-1]} {amount} is negative", "resource amounts are 0 or more"
                )
    requests, limits = parsed["requests"], parsed["limits"]
    for resource, amount in requests.items():
        limit = limits.get(resource)
        if quantity.is_gpu(resource):
            if limit is None:
                yield document.problem(
                    (*path, "requests", resource),
                    f"a GPU request ({resource}) needs an equal limit",
                    f"set limits.{resource} too; Kubernetes does not overcommit GPUs",
                )
            elif limit != amount:
                yield document.problem(
                    (*path, "requests", resource),
                    f"GPU request {sections['requests'][resource]} differs from its limit "  # type: ignore[index]
                    f"{sections['limits'][resource]}",  # type: ignore[index]
                    "GPU requests must equal GPU limits",
                )
        elif limit is not None and amount > limit:
            yield document.problem(
                (*path, "requests", resource),
                f"request {sections['requests'][resource]} is above the limit "  # type: ignore[index]
                f"{sections['limits'][resource]} for {resource}",  # type: ignore[index]
                "requests must be at most limits",
            )


def _env(document: Document, env: Any) -> Iterator[Problem]:
    if not isinstance(env, list):
        return
    for index, item in enumerate(env):
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            continue
        if not _ENV_NAME.match(item["name"]):
            yield document.problem(
                ("spec", "env", index, "name"),
                f"'{item['name']}' is not a valid environment variable name",
                "letters, digits, '_', '-', '.'; not starting with a digit",
            )
        if "value" in item and "valueFrom" in item and item["value"] not in (None, ""):
            yield document.problem(("spec", "env", index), "an env entry has either value or valueFrom, not both")


def function_code(encoded: str) -> str:
    """The text of ``build.functionSourceCode``: base64 (line breaks allowed) of UTF-8.

    Strict: a character outside the base64 alphabet is an error, where a
    lenient decoder would drop it and run less code, or none, than written.
    """
    try:
        return base64.b64decode("".join(encoded.split()), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError("spec.build.functionSourceCode is not base64-encoded UTF-8 text") from None


def _function_code(document: Document, build: Any) -> Iterator[Problem]:
    encoded = build.get("functionSourceCode") if isinstance(build, Mapping) else None
    if not isinstance(encoded, str) or not encoded:
        return
    try:
        function_code(encoded)
    except ValueError:
        yield document.problem(
            ("spec", "build", "functionSourceCode"),
            "not base64-encoded UTF-8 text",
            "write the code file's base64 (base64 -w0 FILE), or start from `mlctl new --from-file FILE`",
        )


def _volumes(document: Document, volumes: Any, mounts: Any) -> Iterator[Problem]:
    """Each mount names a volume of the spec, and no two volumes share a name (Kubernetes refuses both)."""
    names: list[str] = []
    for index, volume in enumerate(volumes if isinstance(volumes, list) else []):
        name = volume.get("name") if isinstance(volume, Mapping) else None
        if isinstance(name, str):
            if name in names:
                yield document.problem(("spec", "volumes", index, "name"), f"a second volume named '{name}'")
            names.append(name)
    for index, mount in enumerate(mounts if isinstance(mounts, list) else []):
        name = mount.get("name") if isinstance(mount, Mapping) else None
        if isinstance(name, str) and name not in names:
            known = f"volumes: {', '.join(names)}" if names else "spec.volumes is empty"
            yield document.problem(
                ("spec", "volume_mounts", index, "name"),
                f"no volume named '{name}' in spec.volumes",
                f"{known}; `mlctl mount` adds a volume and its mount together",
            )


def threshold_problems(document: Document, kind: Any, value: Any) -> Iterator[Problem]:
    """``spec.state_thresholds`` of a function of ``kind`` (or of a run template, whose kind is a run's)."""
    if not value:
        return
    path: Path_ = ("spec", "state_thresholds")
    if kind in _THRESHOLD_REFUSALS:
        yield document.problem(path, _THRESHOLD_REFUSALS[kind], "remove spec.state_thresholds")
        return
    if not isinstance(value, Mapping):
        return
    seen: dict[str, str] = {}
    for name, limit in value.items():
        state = state_thresholds_.canonical_state(str(name))
        if state is None:
            close = difflib.get_close_matches(str(name), [*state_thresholds_.STATES, "executing"], n=1)
            yield document.problem(
                (*path, name),
                f"unknown state '{name}'",
                f"did you mean '{close[0]}'?" if close else "states: " + ", ".join(state_thresholds_.STATES),
            )
            continue
        if state in seen:
            yield document.problem(
                (*path, name), f"'{name}' and '{seen[state]}' name the same state", "keep one of them"
            )
        seen[state] = str(name)
        try:
            durations.parse_seconds(limit)
        except durations.TimeStringError as exc:
            yield document.problem((*path, name), str(exc))


def _priority(document: Document, name: Any, config: Config) -> Iterator[Problem]:
    valid = config.valid_priority_classes
    if not name or not valid or name in valid:
        return
    yield document.problem(
        ("spec", "priority_class_name"),
        f"priority class '{name}' is not among the configured names",
        "valid: " + ", ".join(valid),
    )


def _preemption(document: Document, spec: Mapping[str, Any], config: Config) -> Iterator[Problem]:
    mode = spec.get("preemption_mode") or config.default_preemption_mode
    if mode not in PREEMPTION_MODES:
        return  # the schema reports it
    path: Path_ = ("spec", "preemption_mode")
    profile = config.preemptible_node_selector
    if mode == "constrain" and not config.has_preemptible_profile:
        yield document.problem(
            path,
            "preemption mode 'constrain' has no effect: no preemptible-node profile is configured",
            "set preemptible_nodes.node_selector / tolerations (MLCTL_PREEMPTIBLE_NODES__...)",
            "warning",
        )
    for prefix in ("", "driver_", "executor_"):  # Spark's sides have their own mode and affinity
        side_mode = (spec.get(f"{prefix}preemption_mode") or mode) if prefix else mode
        if side_mode == "prevent" and (not prefix or spec.get(f"{prefix}affinity")):
            yield from _spot_requirements_removed(document, f"{prefix}affinity", spec.get(f"{prefix}affinity"), profile)
    selector = spec.get("node_selector")
    if not isinstance(selector, Mapping):
        return
    for key, value in selector.items():
        if key not in profile:
            continue
        if mode == "prevent" and str(value) == profile[key]:
            yield document.problem(
                ("spec", "node_selector", key),
                f"node selector {key}={value} asks for a preemptible node, but preemption mode is 'prevent'",
                "the selector pair is removed at render time; use 'constrain' to run on spot nodes",
                "warning",
            )
        if mode == "constrain" and str(value) != profile[key]:
            yield document.problem(
                ("spec", "node_selector", key),
                f"node selector {key}={value} excludes preemptible nodes ({key}={profile[key]}), "
                "but preemption mode is 'constrain'",
                "no node can satisfy both",
                "warning",
            )


def demands_spot(expression: Any, profile_selector: Mapping[str, str]) -> bool:
    """Whether a node-selector expression requires a label of the preemptible-node profile."""
    if not isinstance(expression, Mapping) or expression.get("operator") != "In":
        return False
    key = str(expression.get("key"))
    return key in profile_selector and list(expression.get("values") or []) == [profile_selector[key]]


def _spot_requirements_removed(
    document: Document, key: str, affinity: Any, profile: Mapping[str, str]
) -> Iterator[Problem]:
    """Warn where 'prevent' takes a spot requirement out of the user's own node-affinity terms."""
    required = "requiredDuringSchedulingIgnoredDuringExecution"
    node_affinity = affinity.get("nodeAffinity") if isinstance(affinity, Mapping) else None
    terms = (node_affinity.get(required) or {}) if isinstance(node_affinity, Mapping) else {}
    terms = terms.get("nodeSelectorTerms") if isinstance(terms, Mapping) else None
    for i, term in enumerate(terms if isinstance(terms, list) else []):
        expressions = term.get("matchExpressions") if isinstance(term, Mapping) else None
        for j, expression in enumerate(expressions if isinstance(expressions, list) else []):
            if demands_spot(expression, profile):
                yield document.problem(
                    ("spec", key, "nodeAffinity", required, "nodeSelectorTerms", i, "matchExpressions", j),
                    f"node affinity requires {expression['key']}={profile[expression['key']]}, "
                    "a preemptible node, but preemption mode is 'prevent'",
                    "the requirement is removed at render time; use 'constrain' to run on spot nodes",
                    "warning",
                )


def _autoscaling_lints(document: Document, kind: Any, spec: Mapping[str, Any]) -> Iterator[Problem]:
    low, high = spec.get("min_replicas"), spec.get("max_replicas")
    autoscaled = isinstance(low, int) and isinstance(high, int) and high > low and not spec.get("replicas")
    if isinstance(low, int) and isinstance(high, int) and low > high and high >= 0:
        yield document.problem(("spec", "min_replicas"), f"min_replicas {low} is above max_replicas {high}")
    if not autoscaled:
        return
    resources = spec.get("worker_resources" if kind == "dask" else "resources")
    if not isinstance(resources, Mapping):
        return
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    if isinstance(requests, Mapping) and isinstance(limits, Mapping) and requests and limits:
        # a resource with a limit and no request is requested at its limit (Kubernetes'
        # default, and how GPUs are given), so only requests can differ
        differing = [r for r in requests if not _same_amount(requests[r], limits.get(r))]
        if differing:
            yield document.problem(
                ("spec", "resources"),
                f"limits differ from requests ({', '.join(sorted(differing))}) on an autoscaled function",
                "node auto-scaling works best with limits equal to requests",
                "warning",
            )


def _same_amount(request: Any, limit: Any) -> bool:
    if not quantity.is_valid(request) or not quantity.is_valid(limit):
        return str(request) == str(limit)
    return quantity.parse(request) == quantity.parse(limit)


def _workers_vs_gpus(document: Document, kind: Any, spec: Mapping[str, Any], config: Config) -> Iterator[Problem]:
    if kind not in NUCLIO_KINDS:
        return
    limits = ((spec.get("resources") or {}).get("limits") or {}) if isinstance(spec.get("resources"), Mapping) else {}
    gpus = sum(int(quantity.parse(v)) for k, v in limits.items() if quantity.is_gpu(k) and quantity.is_valid(v))
    if not gpus:
        return
    trigger = (spec.get("config") or {}).get("spec.triggers.http") if isinstance(spec.get("config"), Mapping) else None
    workers = trigger.get("maxWorkers", 1) if isinstance(trigger, Mapping) else 1
    if workers != gpus:
        yield document.problem(
            ("spec", "config", "spec.triggers.http") if trigger else ("spec", "resources"),
            f"{workers} HTTP worker(s) share {gpus} GPU(s) per pod",
            "use as many workers as GPUs, or manage GPU use in the code",
            "warning",
        )
