"""A run template (MLRun's "task"): the run's own parameters, retry policy and state thresholds.

MLRun keeps these in the run's spec, not the function's:
``mlrun.new_task(params=..., retry={"count": 3, "backoff": {"base_delay": "1m"}})``
with ``task.spec.state_thresholds`` exports, with ``to_yaml()``, as::

    metadata: {name: train, iteration: 0}
    spec:
      parameters: {a: 1}
      retry: {count: 3, backoff: {base_delay: 1m}}
      state_thresholds: {executing: 1h}

``mlctl run FILE --task TASK.yaml`` reads such a file (a whole RunObject
too: its ``status`` is not input). The shape is ``schemas/task.schema.json``;
unknown keys are handled at the ``--validate`` level, like a function
spec's; keys MLRun writes that mlctl does not use (``inputs``,
``hyperparams``, ...) draw a located warning when they hold something.
Command-line flags win over the file (``mlctl.pipeline.run``). Pure but
for reading the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlctl.config import Config
from mlctl.errors import Problem, invalid
from mlctl.spec import durations, loader, validate
from mlctl.spec import retry as retry_
from mlctl.spec.loader import Document

USED = ("parameters", "retry", "state_thresholds")


@dataclass(frozen=True)
class Task:
    source: str
    params: Mapping[str, Any] = field(default_factory=dict)
    thresholds: Mapping[str, Any] = field(default_factory=dict)
    retry: retry_.Retry = field(default_factory=retry_.Retry)
    warnings: tuple[Problem, ...] = ()


def load(path: str, config: Config) -> Task:
    """Read, check and interpret a task file; raise ``InvalidInput`` with every located error."""
    return read(loader.load_text(loader.read_text(path, "task file"), path, "a task (run template)"), config)


def read(document: Document, config: Config) -> Task:
    problems = check(document, config)
    errors = validate.errors(problems)
    if errors:
        raise invalid(problems)
    spec = document.data.get("spec") or {}
    retry = spec.get("retry") or {}
    backoff = (retry.get("backoff") or {}).get("base_delay")
    count = (retry.get("count") or 0) if "count" in retry else None  # MLRun writes no count for 0
    return Task(
        source=document.source,
        params=dict(spec.get("parameters") or {}),
        thresholds={str(k): v for k, v in (spec.get("state_thresholds") or {}).items()},
        retry=retry_.Retry(
            count=count,
            backoff=retry_.DEFAULT_BACKOFF if backoff is None else str(backoff),
        ),
        warnings=tuple(validate.warnings(problems)),
    )


def check(document: Document, config: Config) -> list[Problem]:
    """Every problem of a task document, sorted by position."""
    problems = validate.schema_problems(document, "task", config.validation)
    spec = document.data.get("spec")
    if isinstance(spec, Mapping):
        thresholds = spec.get("state_thresholds")
        if isinstance(thresholds, Mapping):
            explained = list(validate.threshold_problems(document, "job", thresholds))
            problems = [p for p in problems if p.path not in {q.path for q in explained}] + explained
        problems += _backoff_problems(document, spec.get("retry"))
        problems += _unused(document, spec)
    return sorted({(p.line, p.column, p.path, p.message): p for p in problems}.values())


def _backoff_problems(document: Document, retry: Any) -> list[Problem]:
    backoff = retry.get("backoff") if isinstance(retry, Mapping) else None
    value = backoff.get("base_delay") if isinstance(backoff, Mapping) else None
    if value is None or not isinstance(value, str | int):
        return []
    try:
        retry_.backoff_seconds(value)
    except durations.TimeStringError as exc:
        return [document.problem(("spec", "retry", "backoff", "base_delay"), str(exc))]
    return []


def _unused(document: Document, spec: Mapping[str, Any]) -> list[Problem]:
    """Keys MLRun knows and mlctl does not use, when they hold something: a located warning each."""
    known = validate.schema("task")["properties"]["spec"]["properties"]
    return [
        document.problem(
            ("spec", key),
            f"'{key}' is not used by mlctl: ignored",
            "mlctl reads spec.parameters, spec.retry and spec.state_thresholds of a task",
            "warning",
        )
        for key, value in spec.items()
        if key in known and key not in USED and value not in (None, "", {}, [], False)
    ]
