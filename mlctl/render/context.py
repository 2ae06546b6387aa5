"""What a render needs besides the function: namespace, run id, parameters."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlctl.kube import labels
from mlctl.spec import retry as retry_
from mlctl.spec import state_thresholds as state_thresholds_
from mlctl.spec.model import FunctionSpec, thaw


@dataclass(frozen=True)
class RenderContext:
    namespace: str = "default"
    run_id: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    engine: str = ""  # serving engine override: nuclio | kubernetes
    retry: retry_.Retry = field(default_factory=retry_.Retry)

    @property
    def for_run(self) -> bool:
        return bool(self.run_id)

    def run_env(self, fn: FunctionSpec) -> dict[str, Any]:
        if not self.run_id:
            return {"function": fn.name}
        run: dict[str, Any] = {"run_id": self.run_id, "function": fn.name, "params": dict(self.params)}
        if self.retry.retries:  # a retried attempt waits this long before its handler runs (the bootstrap)
            run["retry_backoff"] = self.retry.backoff_seconds
        return run

    def run_annotations(self, fn: FunctionSpec) -> dict[str, str]:
        effective = state_thresholds_.effective(thaw(fn.get("state_thresholds") or {}))
        return {
            labels.THRESHOLDS: json.dumps(dict(effective.texts), sort_keys=True),
            labels.PARAMS: json.dumps(dict(self.params), sort_keys=True, default=str),
            labels.RETRY: self.retry.annotation(),
        }
