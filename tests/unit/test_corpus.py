"""Every function of MLRun's hub loads and validates; every job renders to valid Kubernetes manifests.

The corpus is ``shared/corpus/mlrun-hub`` beside the repository. One file
there holds unresolved git merge-conflict markers and must be refused,
located, with exit code 3.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlctl import config as config_
from mlctl import pipeline
from mlctl.errors import ExitCode, InvalidInput
from mlctl.render.context import RenderContext
from tests.unit.support import CORPUS, Cli, assert_valid_manifest

FILES = sorted(CORPUS.glob("*.yaml"))
CONFLICTED = "rnn_serving__b7b630e4a8.yaml"
DEFAULT = config_.resolve({}, [])


def test_the_whole_corpus_is_there() -> None:
    assert len(FILES) == 596, f"expected 596 specs in {CORPUS}"
    assert CONFLICTED in {f.name for f in FILES}


@pytest.mark.parametrize("path", [f for f in FILES if f.name != CONFLICTED], ids=lambda p: p.name)
def test_hub_function_loads_and_validates(path: Path) -> None:
    loaded = pipeline.load(str(path), DEFAULT)

    assert loaded.function.name
    assert loaded.function.kind == loaded.document.data["kind"]
    # every warning says where: the file, and a line in it
    assert all(w.file == str(path) and w.line > 0 for w in loaded.warnings)


def test_the_file_with_merge_conflict_markers_is_refused_at_each_marker() -> None:
    with pytest.raises(InvalidInput) as caught:
        pipeline.load(str(CORPUS / CONFLICTED), DEFAULT)

    assert caught.value.exit_code == ExitCode.INVALID_INPUT
    assert [(p.line, p.column) for p in caught.value.problems] == [(5, 1), (82, 1), (97, 1), (125, 1)]
    assert {p.message for p in caught.value.problems} == {"unresolved merge conflict marker"}


def test_validate_reports_the_conflict_markers_and_exits_3(cli: Cli) -> None:
    result = cli("validate", CORPUS / CONFLICTED)

    assert result.code == 3
    assert result.err.splitlines()[0] == (
        f"{CORPUS / CONFLICTED}:5:1: unresolved merge conflict marker "
        "(resolve the conflict and keep one side before using this file)"
    )


def test_validate_takes_the_whole_corpus_in_one_command(cli: Cli) -> None:
    result = cli("validate", *FILES)

    assert result.code == 3
    errors = [
        line for line in result.err.splitlines() if not line.startswith("warning: ") and not line.startswith("error: ")
    ]
    assert errors and all(line.startswith(str(CORPUS / CONFLICTED)) for line in errors)
    assert result.err.splitlines()[-1] == "error: 4 problems found"


JOBS = [f for f in FILES if f.name != CONFLICTED and "\nkind: job\n" in "\n" + f.read_text(encoding="utf-8")]


def test_most_of_the_corpus_is_jobs() -> None:
    assert len(JOBS) == 436


@pytest.mark.parametrize("path", JOBS, ids=lambda p: p.name)
def test_hub_job_renders_to_valid_manifests(path: Path) -> None:
    loaded = pipeline.load(str(path), DEFAULT)

    objects = pipeline.render(loaded, DEFAULT, RenderContext(run_id="0000test"))

    assert [o["kind"] for o in objects][-1] == "Job"
    for obj in objects:
        assert_valid_manifest(obj)
