"""Node selector layers: config default < project < function; an empty value removes."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from mlctl import config as config_
from mlctl import pipeline
from mlctl.render import pod
from mlctl.render.context import RenderContext
from tests.unit.support import Cli, SpecFile

SERVICE = {"region": "us-central1", "gpu": "False", "arch": "arm64"}
PROJECT = {"zone": "us-west1", "arch": "amd64"}


def layered_config(**extra: str) -> config_.Config:
    return config_.resolve(
        {
            "MLCTL_DEFAULT_FUNCTION_NODE_SELECTOR": json.dumps(SERVICE),
            "MLCTL_PROJECTS": json.dumps({"demo": {"default_function_node_selector": PROJECT}}),
            **extra,
        },
        [],
    )


def spec(node_selector: str, project: str = "demo") -> str:
    return textwrap.dedent(f"""\
        kind: job
        metadata:
          name: trainer
          project: {project}
        spec:
          image: python:3.11
          node_selector: {node_selector}
        """)


def selector(spec_file: SpecFile, text: str, config: config_.Config) -> dict[str, str]:
    loaded = pipeline.load(str(spec_file(text)), config)
    return pod.node_selector(loaded.function, config)


def rendered_selector(spec_file: SpecFile, text: str, config: config_.Config) -> dict[str, Any]:
    loaded = pipeline.load(str(spec_file(text)), config)
    (job,) = [o for o in pipeline.render(loaded, config, RenderContext(run_id="r1")) if o["kind"] == "Job"]
    selector_: dict[str, Any] = job["spec"]["template"]["spec"].get("nodeSelector", {})
    return selector_


def test_later_layers_win_key_by_key(spec_file: SpecFile) -> None:
    found = selector(spec_file, spec('{zone: us-east1, gpu: "true"}'), layered_config())

    assert found == {"region": "us-central1", "zone": "us-east1", "gpu": "true", "arch": "amd64"}


def test_the_pod_carries_the_layered_selector(spec_file: SpecFile) -> None:
    found = rendered_selector(spec_file, spec('{zone: us-east1, gpu: "true"}'), layered_config())

    assert found == {"region": "us-central1", "zone": "us-east1", "gpu": "true", "arch": "amd64"}


def test_an_empty_value_in_the_function_removes_a_key_from_a_lower_layer(spec_file: SpecFile) -> None:
    found = selector(spec_file, spec('{region: "", arch: ""}'), layered_config())

    assert found == {"gpu": "False", "zone": "us-west1"}


def test_another_project_gets_only_the_service_default(spec_file: SpecFile) -> None:
    found = selector(spec_file, spec("{}", project="other"), layered_config())

    assert found == SERVICE


def test_no_layers_no_selector(spec_file: SpecFile) -> None:
    found = rendered_selector(spec_file, spec("{}"), config_.resolve({}, []))

    assert found == {}


def test_prevent_removes_the_spot_pair_after_layering(spec_file: SpecFile) -> None:
    config = layered_config(
        MLCTL_DEFAULT_FUNCTION_NODE_SELECTOR=json.dumps({"node-lifecycle": "spot", "a": "b"}),
        MLCTL_PREEMPTIBLE_NODES__NODE_SELECTOR=json.dumps({"node-lifecycle": "spot"}),
    )

    found = rendered_selector(spec_file, spec("{}"), config)

    assert "node-lifecycle" not in found
    assert found["a"] == "b"


def test_node_selector_flag_with_an_empty_value_removes_a_layered_key(
    spec_file: SpecFile, cli: Cli, tmp_path: Path
) -> None:
    (tmp_path / "team.yaml").write_text(
        "default_function_node_selector: {region: us-central1, arch: arm64}\n", encoding="utf-8"
    )
    path = spec_file(spec("{}"))

    result = cli(
        "--config",
        tmp_path / "team.yaml",
        "render",
        path,
        "--run-id",
        "r1",
        "-o",
        "json",
        "--node-selector",
        "region=",
        "--node-selector",
        "disk=ssd",
    )

    assert result.code == 0, result.err
    job = json.loads(result.out)["items"][-1]
    assert job["spec"]["template"]["spec"]["nodeSelector"] == {"arch": "arm64", "disk": "ssd"}
