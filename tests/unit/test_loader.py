"""Reading a spec file: data, the position of every node, and located YAML failures."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from mlctl.errors import ExitCode, InvalidInput
from mlctl.spec import loader

SPEC = """\
kind: job
metadata:
  name: trainer
  labels:
    team: ml
spec:
  image: python:3.11
  env:
  - name: A
    value: '1'
  - name: B
    value: '2'
  resources:
    requests: {cpu: 500m, memory: 1Gi}
"""


def problems_of(text: str, source: str = "f.yaml") -> list[str]:
    with pytest.raises(InvalidInput) as caught:
        loader.load_text(text, source)
    assert caught.value.exit_code == ExitCode.INVALID_INPUT
    return [str(p) for p in caught.value.problems]


def test_load_gives_the_data_as_plain_python_values() -> None:
    document = loader.load_text(SPEC, "f.yaml")

    assert document.data["metadata"]["name"] == "trainer"
    assert document.data["spec"]["env"][1] == {"name": "B", "value": "2"}
    assert document.data["spec"]["resources"]["requests"] == {"cpu": "500m", "memory": "1Gi"}


@pytest.mark.parametrize(
    ("path", "where"),
    [
        (("kind",), (1, 1)),
        (("metadata", "name"), (3, 3)),
        (("metadata", "labels", "team"), (5, 5)),
        (("spec", "env"), (8, 3)),
        (("spec", "env", 1), (11, 5)),
        (("spec", "env", 1, "value"), (12, 5)),
        (("spec", "resources", "requests", "memory"), (14, 27)),
    ],
)
def test_locate_gives_line_and_column_of_a_key(path: tuple[str | int, ...], where: tuple[int, int]) -> None:
    assert loader.load_text(SPEC, "f.yaml").locate(path) == where


def test_locate_falls_back_to_the_nearest_written_parent() -> None:
    document = loader.load_text(SPEC, "f.yaml")

    assert document.locate(("spec", "resources", "limits", "cpu")) == (13, 3)
    assert document.locate(("nowhere",)) == (1, 1)


def test_problem_names_file_line_column_and_dotted_path() -> None:
    document = loader.load_text(SPEC, "train.yaml")

    problem = document.problem(("spec", "env", 1, "value"), "bad value", "a hint")

    assert str(problem) == "train.yaml:12:5: spec.env[1].value: bad value (a hint)"


def test_every_duplicate_key_is_reported_with_its_first_line() -> None:
    text = (
        "kind: job\nmetadata:\n  name: a\n  name: b\nspec:\n  image: x\n  image: y\n  env:\n  - name: A\n    name: B\n"
    )

    assert problems_of(text) == [
        "f.yaml:4:3: metadata.name: duplicate key 'name' (first defined on line 3)",
        "f.yaml:7:3: spec.image: duplicate key 'image' (first defined on line 6)",
        "f.yaml:10:5: spec.env[0].name: duplicate key 'name' (first defined on line 9)",
    ]


def test_broken_yaml_is_located_by_line_and_column() -> None:
    (problem,) = problems_of("kind: job\nmetadata:\n  name: [a\nspec: {}\n")

    assert problem.startswith("f.yaml:4:5: invalid YAML: ")
    assert "flow sequence" in problem


def test_a_tab_in_the_indentation_is_located() -> None:
    (problem,) = problems_of("kind: job\n\tmetadata: x\n")

    assert problem.startswith("f.yaml:2:1: invalid YAML: ")
    assert "tab" in problem


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_an_empty_file_is_refused(text: str) -> None:
    assert problems_of(text) == ["f.yaml:1:1: empty file: a function spec is a YAML mapping"]


@pytest.mark.parametrize(("text", "where"), [("- a\n- b\n", "1:1"), ("just text\n", "1:1"), ("\n\n42\n", "3:1")])
def test_a_document_that_is_not_a_mapping_is_refused(text: str, where: str) -> None:
    assert problems_of(text) == [f"f.yaml:{where}: a function spec must be a YAML mapping"]


def test_every_merge_conflict_marker_is_reported_at_its_line() -> None:
    text = (
        "kind: job\n<<<<<<< HEAD\nmetadata: {name: a}\n=======\nmetadata: {name: b}\n>>>>>>> main\n"
        "spec:\n<<<<<<< HEAD\n  image: x\n=======\n  image: y\n>>>>>>> main\n"
    )

    found = problems_of(text)

    assert [p.split(": ", 1)[0] for p in found] == ["f.yaml:2:1", "f.yaml:8:1"]
    assert all("unresolved merge conflict marker" in p for p in found)


def test_seven_equals_signs_inside_a_value_are_not_a_conflict_marker() -> None:
    document = loader.load_text("kind: job\nmetadata:\n  name: a\n  description: |\n    x =======\n", "f.yaml")

    assert document.data["metadata"]["description"] == "x =======\n"


def test_load_file_reports_a_missing_file_by_name(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no such file"):
        loader.load_file(tmp_path / "missing.yaml")


def test_load_file_refuses_a_directory(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="is a directory"):
        loader.load_file(tmp_path)


def test_load_file_refuses_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("kind: job\nmetadata: {name: caf\xe9}\n".encode("latin-1"))

    with pytest.raises(InvalidInput, match="not UTF-8"):
        loader.load_file(path)


def test_load_file_keeps_the_text_for_editing(spec_file: Callable[..., Path]) -> None:
    path = spec_file(SPEC)

    document = loader.load_file(path)

    assert document.text == SPEC
    assert document.source == str(path)


def test_dotted_path_mixes_keys_and_indexes() -> None:
    assert loader.dotted(("spec", "env", 0, "name")) == "spec.env[0].name"
    assert loader.dotted(()) == ""


def test_dump_writes_multi_line_text_as_a_literal_block() -> None:
    text = loader.dump({"data": {"code.py": "def f():\n    return 1\n"}, "n": 1})

    assert "code.py: |\n    def f():\n        return 1\n" in text
    assert text.endswith("n: 1\n")


def test_without_the_c_parser_the_same_data_and_positions_come_back(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.unit.support import CORPUS

    samples = sorted(CORPUS.glob("*.yaml"))[::40]
    samples = [p for p in samples if "b7b630e4a8" not in p.name]
    fast = [loader.load_file(p) for p in samples]
    monkeypatch.setattr(loader, "_PURE", True)
    pure = [loader.load_file(p) for p in samples]

    assert samples
    assert [d.data for d in pure] == [d.data for d in fast]
    assert [d.locate(("spec", "image")) for d in pure] == [d.locate(("spec", "image")) for d in fast]
    with pytest.raises(InvalidInput) as error:
        loader.load_text("a: 1\na: 2\n", "dup.yaml")
    assert "duplicate key 'a'" in str(error.value.problems[0])


JOB = "kind: job\nmetadata:\n  name: h\nspec:\n  image: x\n"


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        (JOB + "  command: a\x07b\n", "f.yaml:6:13:", "character #x0007 is not allowed"),
        (JOB + "  args: " + "[" * 3000 + "]" * 3000 + "\n", "f.yaml:6:", "nested more than 64 levels"),
        (JOB + "  args: " + "[" * 70 + "]" * 70 + "\n", "f.yaml:6:", "nested more than 64 levels"),
        (JOB + "  args: &a [*a]\n", "f.yaml:6:9:", "a recursive alias"),
        (JOB + "  replicas: " + "9" * 5000 + "\n", "f.yaml:6:13:", "limited to 4300 digits"),
        (JOB + "  replicas: !!int abc\n", "f.yaml:6:13:", "not a valid !!int"),
        (JOB + "  replicas: !!bool maybe\n", "f.yaml:6:13:", "not a valid !!bool"),
        (JOB + "  node_selector:\n    ? [a, b]\n    : c\n", "f.yaml:7:7:", "a mapping key must be a plain value"),
    ],
)
def test_hostile_yaml_is_a_located_problem_not_a_crash(text: str, where: str, message: str) -> None:
    [problem] = problems_of(text)

    assert problem.startswith(where)
    assert message in problem


def test_a_bad_value_is_located_without_showing_it() -> None:
    [problem] = problems_of(JOB + "  password: !!int hunter2\n")

    assert "hunter2" not in problem


def test_an_alias_bomb_is_refused_without_walking_every_expansion(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.unit.support import REPO

    lines = ["kind: job", "a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for previous, level in zip("abcdefghijklmno", "bcdefghijklmnop", strict=True):
        lines.append(f"{level}: &{level} [{', '.join([f'*{previous}'] * 10)}]")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")

    try:  # in a child, so that walking every expansion fails the test instead of hanging it
        result = subprocess.run(
            [sys.executable, "-m", "mlctl", "validate", str(path)],
            env={**os.environ, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("validating an alias bomb took over 10 s")

    assert result.returncode == 3
    assert f"{path}:1:1: more than 1,000,000 values once aliases are expanded" in result.stderr


def test_aliases_within_the_bound_load() -> None:
    document = loader.load_text("kind: job\nbase: &b {cpu: 1}\nspec: {resources: {requests: *b, limits: *b}}\n", "f")

    assert document.data["spec"]["resources"]["limits"] == {"cpu": 1}


def test_text_over_the_size_limit_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader, "MAX_BYTES", 1000)
    path = tmp_path / "big.yaml"
    path.write_text(JOB + "  command: '" + "x" * 2000 + "'\n")

    with pytest.raises(InvalidInput) as caught:
        loader.load_file(path)

    assert [str(p) for p in caught.value.problems] == [f"{path}: larger than 1,000 bytes, the most mlctl reads"]


def test_a_file_that_is_not_utf8_is_located(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_bytes(b"kind: job\nmetadata:\n  name: \xff\n")

    with pytest.raises(InvalidInput) as caught:
        loader.load_file(path)

    assert str(caught.value.problems[0]).startswith(f"{path}:3:9: not UTF-8 text")


def test_a_missing_file_is_a_problem_that_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        loader.load_file(tmp_path / "nope.yaml")

    assert [p.file for p in caught.value.problems] == [str(tmp_path / "nope.yaml")]


def test_a_multi_line_command_line_value_is_kept_whole() -> None:
    assert loader.value("a\nb: c") == "a\nb: c"


def test_a_deeply_nested_command_line_value_is_text_not_a_crash() -> None:
    deep = "[" * 3000 + "]" * 3000

    assert loader.value(deep) == deep
