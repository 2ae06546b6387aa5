"""Run templates ("tasks") the real MLRun SDK exports, read by mlctl: parameters, retry, state thresholds.

MLRun keeps a run's retry policy in the run's spec (``mlrun.new_task(...,
retry={"count": 3, "backoff": {"base_delay": "1m"}})``), not the
function's; ``mlctl run FILE --task TASK.yaml`` reads what ``to_yaml()``
wrote, a template or a whole run object.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from mlctl import config as config_
from mlctl import pipeline
from mlctl.pipeline import run as run_
from mlctl.spec import overrides as overrides_
from mlctl.spec import retry as retry_
from mlctl.spec import task as task_
from tests.mlrun.conftest import Exported
from tests.unit.support import Cli

TASKS = ["train", "defaults", "once", "run-object"]


def _expected(exported: Exported) -> dict[str, Any]:
    held: dict[str, Any] = json.loads((exported.folder / "tasks" / "expected.json").read_text(encoding="utf-8"))
    return held


@pytest.mark.parametrize("name", TASKS)
def test_a_task_the_sdk_exported_loads_with_the_count_backoff_parameters_and_thresholds_mlrun_holds(
    exported: Exported, name: str
) -> None:
    held = _expected(exported)[name]
    config = config_.with_value(config_.resolve({}, []), "validation", "strict", "--validate")

    loaded = task_.load(str(exported.folder / "tasks" / f"{name}.yaml"), config)

    assert loaded.retry.count == held["count"]  # MLRun writes no count (None) for "no retry"
    assert loaded.retry.backoff == (held["base_delay"] or retry_.DEFAULT_BACKOFF)
    assert dict(loaded.params) == (held["parameters"] or {})
    assert dict(loaded.thresholds) == (held["state_thresholds"] or {})


def test_the_sdks_retry_reaches_the_job_that_runs_it(exported: Exported) -> None:
    config = config_.resolve({}, [])
    asked = run_.request(config, {}, overrides_.Overrides(), task_file=str(exported.folder / "tasks" / "train.yaml"))
    loaded = pipeline.load(str(exported.folder / "job.yaml"), config, asked.overrides)

    objects = run_.objects(loaded, config, "ml", "abcd1234", asked.params, asked.retry)

    (job,) = [o for o in objects if o["kind"] == "Job"]
    assert job["spec"]["backoffLimitPerIndex"] == 3
    assert json.loads(job["metadata"]["annotations"]["mlctl.io/retry"]) == {
        "count": 3,
        "backoff": "1m",
        "max_disruptions": 3,
    }
    assert json.loads(job["metadata"]["annotations"]["mlctl.io/thresholds"])["running"] == "1h"  # executing
    (run_env,) = [e for e in job["spec"]["template"]["spec"]["containers"][0]["env"] if e["name"] == "MLCTL_RUN"]
    run = json.loads(run_env["value"])
    assert (run["params"], run["retry_backoff"]) == ({"epochs": 3, "lr": 0.1}, 60)


def test_a_run_with_the_sdks_task_is_tried_count_plus_one_times_and_flags_win(
    exported: Exported, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLCTL_STATE_DIR", str(tmp_path / "state"))
    code = "def handler(context, epochs=1):\n    raise ValueError(f'no luck with {epochs} epochs')\n"
    spec = tmp_path / "failing.yaml"
    spec.write_text(
        json.dumps(
            {
                "kind": "job",
                "metadata": {"name": "failing", "project": "demo"},
                "spec": {
                    "image": "python:3.11",
                    "default_handler": "handler",
                    "build": {
                        "functionSourceCode": base64.b64encode(code.encode()).decode(),
                        "origin_filename": "failing.py",
                    },
                },
            }
        ),
        encoding="utf-8",
    )

    result = cli(
        "run", "--local", spec, "--task", exported.folder / "tasks" / "train.yaml", "--retry-backoff", "0", "-o", "json"
    )

    assert result.code == 5, result.err
    record = json.loads(result.out)
    assert [a["outcome"] for a in record["attempts"]] == ["failed"] * 4
    assert record["status_text"] == "ValueError: no luck with 3 epochs; failed after 4 attempts"
    assert record["params"] == {"epochs": 3, "lr": 0.1}
