"""Env files in python-dotenv's format: quoting, escapes, comments, export, interpolation."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from mlctl.errors import ExitCode, InvalidInput
from mlctl.spec import envfile


def parse(text: str) -> dict[str, str]:
    return envfile.parse(text, "vars.env")


def problems(text: str) -> list[str]:
    with pytest.raises(InvalidInput) as caught:
        parse(text)
    assert caught.value.exit_code == ExitCode.INVALID_INPUT
    return [str(p) for p in caught.value.problems]


def test_plain_assignment() -> None:
    assert parse("A=1\n") == {"A": "1"}


def test_comments_blank_lines_and_indented_comments_are_ignored() -> None:
    assert parse("# a comment\n\n   # indented comment\nA=1\n\n") == {"A": "1"}


def test_export_prefix_is_accepted() -> None:
    assert parse("export A=1\n") == {"A": "1"}


def test_spaces_around_keys_and_values_are_trimmed() -> None:
    assert parse("A = 1\n  B=  two  \n") == {"A": "1", "B": "two"}


def test_single_quotes_keep_the_text_literally() -> None:
    assert parse("A='hello world'\nB='a\\nb'\n") == {"A": "hello world", "B": "a\\nb"}


def test_double_quotes_process_escapes() -> None:
    assert parse('A="a\\nb"\nC="x\\"y"\n') == {"A": "a\nb", "C": 'x"y'}


def test_a_double_quoted_value_may_span_lines() -> None:
    assert parse('A="line one\nline two"\nB=2\n') == {"A": "line one\nline two", "B": "2"}


def test_a_comment_after_a_value_needs_whitespace_before_the_hash() -> None:
    assert parse("A=1 # comment\nC=x#y\n") == {"A": "1", "C": "x#y"}


def test_empty_values() -> None:
    assert parse("A=\nB=''\nC=\"\"\n") == {"A": "", "B": "", "C": ""}


def test_only_the_first_equals_sign_splits() -> None:
    assert parse("A=a=b=c\n") == {"A": "a=b=c"}


def test_a_repeated_key_takes_the_last_value_and_keeps_its_first_place() -> None:
    values = parse("A=1\nB=2\nA=3\n")

    assert values == {"A": "3", "B": "2"}
    assert list(values) == ["A", "B"]


def test_braced_variables_are_expanded_from_earlier_keys_then_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FROM_SHELL", "shell")
    monkeypatch.delenv("UNDEFINED_HERE", raising=False)

    values = parse("A=x\nB=${A}z\nC=${FROM_SHELL}\nD=${UNDEFINED_HERE:-dflt}\nE=${UNDEFINED_HERE}\nF=$A\n")

    assert values == {"A": "x", "B": "xz", "C": "shell", "D": "dflt", "E": "", "F": "$A"}


def test_crlf_line_endings_are_handled() -> None:
    assert parse("A=1\r\nB=two words\r\n") == {"A": "1", "B": "two words"}


@pytest.mark.parametrize(
    ("text", "line", "shown"),
    [
        ("A=1\nB: 2\n", 2, "cannot parse the line that starts 'B...'"),
        ("=novalue\n", 1, "cannot parse the line that starts '...'"),
        ("A=1\n\nB='unterminated\n", 3, "cannot parse the line that starts 'B...'"),
    ],
)
def test_a_line_that_cannot_be_parsed_is_an_error_with_its_line_number(text: str, line: int, shown: str) -> None:
    (problem,) = problems(text)

    assert problem.startswith(f"vars.env:{line}:1: {shown}")


def test_a_key_without_a_value_is_an_error_naming_the_line() -> None:
    assert problems("A=1\njustkey\n") == [
        "vars.env:2:1: a line with no '=' ('justke...') (lines must be KEY=VALUE; write KEY= for an empty value)"
    ]


@pytest.mark.parametrize(
    "line",
    ["DB_PASSWORD: hunter2", "ghp_hunter2hunter2hunter2", "export TOKEN hunter2", "  hunter2: x"],
)
def test_a_line_without_an_equals_sign_never_shows_a_value(line: str) -> None:
    (problem,) = problems(f"A=1\n{line}\n")

    assert "hunter2" not in problem
    assert problem.startswith("vars.env:2:1:")


def test_every_bad_line_is_reported_at_once() -> None:
    found = problems("A=1\nbad line\nB=2\nC: 3\nlonely\n")

    assert [p.split(": ", 1)[0] for p in found] == ["vars.env:2:1", "vars.env:4:1", "vars.env:5:1"]


def test_an_error_does_not_print_the_value_of_a_secret() -> None:
    (problem,) = problems("PASSWORD='hunter2\n")

    assert "hunter2" not in problem


def test_the_example_file_reads_as_documented() -> None:
    text = "# c\nexport A=1\nB='x y'\nC=\"q\\nz\"\nD=plain # trailing\nA=override\n"

    values = parse(text)

    assert values == {"A": "override", "B": "x y", "C": "q\nz", "D": "plain"}
    assert next(iter(values)) == "A"


def test_read_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"missing\.env: env file does not exist"):
        envfile.read(tmp_path / "missing.env")


def test_read_reports_problems_under_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "bad.env"
    path.write_text("OK=1\nnot a line\n", encoding="utf-8")

    with pytest.raises(InvalidInput) as caught:
        envfile.read(path)

    assert str(caught.value.problems[0]).startswith(f"{path}:2:1: cannot parse")


def test_expanding_variables_does_not_copy_the_environment_per_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    copies = 0

    class Environment(dict[str, str]):
        def keys(self) -> Any:
            nonlocal copies
            copies += 1
            return super().keys()

        def __iter__(self) -> Any:  # so that dict.update() goes through keys()
            return iter(super().keys())

    monkeypatch.setattr(os, "environ", Environment(os.environ, HOME_DIR="/home/a"))
    text = "".join(f"VAR_{i}=value{i}\n" for i in range(500)) + "LAST=${VAR_5}-${HOME_DIR}\n"

    values = envfile.parse(text)

    assert len(values) == 501
    assert values["LAST"] == "value5-/home/a"
    assert copies <= 1  # a copy per line makes a 40,000-line file take minutes


@pytest.mark.parametrize(
    "text",
    [
        "A=1\nB=2\n",
        "A=1\r\nB=\r\n\r\n# a comment with 'quotes'\nC=$A\n",
        "A=1\rB=x${A}y\n",
        "  # indented comment\nA.b_c-d=/x/y:z@w",
        "A=1\nA=2\n",
        "A= 1\nB=2",
        "export A=1",
        "A='x\nB=2'\nC=3",
        "A=b#c\nB=c # note",
    ],
)
def test_plain_lines_read_as_dotenv_reads_them(text: str) -> None:
    from dotenv import dotenv_values

    assert envfile.parse(text) == dict(dotenv_values(stream=io.StringIO(text)))
