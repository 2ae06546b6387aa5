"""What a render needs besides the function: namespace, run id, parameters."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlctl.kube import labels
from mlctl.spec import state_thresholds as state_thresholds_
from mlctl.spec.model import FunctionSpec, thaw


@dataclass(frozen=True)
class RenderContext:
    namespace: str = "default"
    run_id: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    engine: str = ""  # serving engine override: nuclio | kubernetes

    @property
    def for_run(self) -> bool:
        return bool(self.run_id)

    def run_env(self, fn: FunctionSpec) -> dict[str, Any]:
        if not self.run_id:
            return {"function": fn.name}
        return {"run_id": self.run_id, "function": fn.name, "params": dict(self.params)}

    def run_annotations(self, fn: FunctionSpec) -> dict[str, str]:
        effective = state_thresholds_.effective(thaw(fn.get("state_thresholds") or {}))
        return {
            labels.THRESHOLDS: json.dumps(dict(effective.texts), sort_keys=True),
            labels.PARAMS: json.dumps(dict(self.params), sort_keys=True, default=str),
        }
