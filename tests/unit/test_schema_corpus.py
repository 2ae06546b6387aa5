"""Every function spec of the MLRun function hub corpus validates against the schema.

The corpus holds specs exactly as MLRun exported them (``fn.export()``); where
it is found: ``tests.unit.support.CORPUS``.

One corpus file is a git merge left unresolved: it carries conflict markers, so
it is not YAML as a whole. Each side of the conflict is an MLRun export, and
each side must validate.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from ruamel.yaml import YAML

from tests.unit.support import CORPUS, REPO

SCHEMA_PATH = REPO / "schemas" / "function.schema.json"
CORPUS_SIZE = 596
FILES_WITH_CONFLICT_MARKERS = {"rnn_serving__b7b630e4a8.yaml"}

_CONFLICT_START = re.compile(r"^<{7} ", re.MULTILINE)


CORPUS_FILES: list[Path] = sorted(CORPUS.glob("*.yaml"))


def _schema() -> dict[str, Any]:
    with SCHEMA_PATH.open(encoding="utf-8") as f:
        schema: dict[str, Any] = json.load(f)
    return schema


VALIDATOR = Draft202012Validator(_schema())


def _has_conflict_markers(text: str) -> bool:
    return _CONFLICT_START.search(text) is not None


def _conflict_sides(text: str) -> Iterator[str]:
    """Yield the text as each side of its merge conflicts would have it (ours, then theirs)."""
    for keep in ("ours", "theirs"):
        lines: list[str] = []
        side: str | None = None
        for line in text.splitlines(keepends=True):
            if line.startswith("<<<<<<< "):
                side = "ours"
            elif side is not None and line.startswith("======="):
                side = "theirs"
            elif side is not None and line.startswith(">>>>>>> "):
                side = None
            elif side is None or side == keep:
                lines.append(line)
        yield "".join(lines)


def _documents(path: Path) -> list[tuple[str, Any]]:
    """The documents of one corpus file, labelled for error messages."""
    text = path.read_text(encoding="utf-8")
    if not _has_conflict_markers(text):
        return [(path.name, YAML(typ="safe").load(text))]
    yaml = YAML(typ="safe")
    # One side repeats a key inside base_spec, as the merge left it; the later value wins.
    yaml.allow_duplicate_keys = True
    return [
        (f"{path.name} ({side})", yaml.load(side_text))
        for side, side_text in zip(("ours", "theirs"), _conflict_sides(text), strict=True)
    ]


def _describe(error: ValidationError) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "<root>"
    return f"{where}: {error.message}"


def test_corpus_holds_every_exported_spec() -> None:
    assert len(CORPUS_FILES) == CORPUS_SIZE


def test_only_the_known_files_carry_merge_conflict_markers() -> None:
    marked = {p.name for p in CORPUS_FILES if _has_conflict_markers(p.read_text(encoding="utf-8"))}
    assert marked == FILES_WITH_CONFLICT_MARKERS


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.name)
def test_corpus_spec_validates(path: Path) -> None:
    problems = [
        f"{label}: {_describe(error)}"
        for label, document in _documents(path)
        for error in VALIDATOR.iter_errors(document)
    ]
    assert not problems, "\n".join(problems)
