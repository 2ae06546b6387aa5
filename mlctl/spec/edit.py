"""Edit a spec file in place: keep comments, order and quoting; write atomically.

``edit(path, change)`` reads the file with ruamel's round-trip loader,
lets ``change`` mutate the tree, validates the result with the same checks
``mlctl validate`` runs, and only then replaces the file (temporary file in
the same folder, fsync, rename). An invalid result or a failure midway
leaves the file untouched. With ``dry_run`` nothing is written and the
unified diff is returned.
"""

from __future__ import annotations

import difflib
import io
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlctl.config import Config
from mlctl.errors import InvalidInput, Problem, invalid
from mlctl.spec import loader, validate


@dataclass(frozen=True)
class EditResult:
    path: str
    changed: bool
    diff: str
    warnings: list[Problem]
    written: bool


def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 80  # what MLRun (PyYAML) writes with, so untouched lines stay as they are
    yaml.indent(mapping=2, sequence=2, offset=0)
    return yaml


def parse(text: str, source: str) -> Any:
    # load once with the checking loader for located syntax errors and duplicates
    loader.load_text(text, source)
    return _yaml().load(text)


def dump(tree: Any) -> str:
    stream = io.StringIO()
    _yaml().dump(tree, stream)
    return stream.getvalue()


def edit(path: str, change: Callable[[Any], None], config: Config, *, dry_run: bool = False) -> EditResult:
    target = Path(path)
    try:
        before = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such file") from None
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read ({exc.strerror})") from None
    original = parse(before, path)
    tree = parse(before, path)
    change(tree)
    after = splice(before, original, tree)
    document = loader.load_text(after, path)
    problems = validate.check(document, config)
    if validate.errors(problems):
        raise invalid([_as_result(p) for p in problems if p.severity == "error"])
    diff = "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True), after.splitlines(keepends=True), f"a/{path}", f"b/{path}"
        )
    )
    changed = before != after
    if changed and not dry_run:
        write_atomic(target, after)
    return EditResult(path, changed, diff, validate.warnings(problems), changed and not dry_run)


def _as_result(problem: Problem) -> Problem:
    return Problem(
        problem.file,
        problem.line,
        problem.column,
        problem.path,
        problem.message + " (in the edited result; the file was not changed)",
        problem.hint,
    )


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one rename; its mode is kept."""
    folder = path.parent if str(path.parent) else Path()
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot write ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        Path(temp).chmod(mode)
        Path(temp).replace(path)
    except BaseException as exc:
        Path(temp).unlink(missing_ok=True)
        if isinstance(exc, OSError):  # a full disk or a read-only folder is not a bug in mlctl
            raise InvalidInput(f"{path}: cannot write ({exc.strerror or exc})") from None
        raise


def splice(text: str, old: Any, new: Any) -> str:
    """``text`` with only the changed keys rewritten, every other line as it was.

    A full dump would re-wrap long strings and re-quote values all over the
    file; a reviewer wants a diff that shows the edit and nothing else. The
    spliced text is checked to load as ``new``; if it does not (an unusual
    layout such as flow style), the whole tree is dumped instead.
    """
    lines = text.splitlines(keepends=True)
    try:
        _splice_mapping(lines, old, new, 0, len(lines))
        result = "".join(lines)
        if _plain(_yaml().load(result)) == _plain(new):
            return result
    except (AttributeError, KeyError, TypeError, ValueError, IndexError):
        pass
    return dump(new)


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _is_block_map(node: Any) -> bool:
    from ruamel.yaml.comments import CommentedMap

    return isinstance(node, CommentedMap) and not node.fa.flow_style() and len(node) > 0


def _block_end(lines: list[str], start: int, end: int) -> int:
    """Leave trailing blank and comment lines to whatever follows the block."""
    while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
        end -= 1
    return end


def _render_key(key: Any, value: Any, indent: int) -> list[str]:
    from ruamel.yaml.comments import CommentedMap

    block = CommentedMap()
    block[key] = value
    pad = " " * indent
    return [pad + line if line.strip() else line for line in dump(block).splitlines(keepends=True)]


def _splice_mapping(lines: list[str], old: Any, new: Any, start: int, end: int) -> None:
    """Rewrite in ``lines[start:end]`` the keys of ``old`` whose value differs in ``new``.

    Works bottom-up so earlier line numbers stay valid while later ones move.
    """
    keys = list(old.keys())
    starts = [old.lc.key(k)[0] for k in keys]
    column = old.lc.key(keys[0])[1]
    spans = {
        k: (s, starts[i + 1] if i + 1 < len(keys) else end) for i, (k, s) in enumerate(zip(keys, starts, strict=True))
    }
    added = [k for k in new if k not in old]
    if added:
        last_start, last_end = spans[keys[-1]]
        at = _block_end(lines, last_start, last_end)
        insert: list[str] = []
        for key in added:
            insert += _render_key(key, new[key], column)
        if at > 0 and not lines[at - 1].endswith("\n"):
            lines[at - 1] += "\n"
        lines[at:at] = insert
    for key in reversed(keys):
        first, stop = spans[key]
        if key not in new:
            del lines[first : _block_end(lines, first, stop)]
            continue
        if _plain(old[key]) == _plain(new[key]):
            continue
        if (
            _is_block_map(old[key])
            and _is_block_map(new[key])
            and old.lc.key(key)[0] != old[key].lc.key(next(iter(old[key])))[0]
        ):
            _splice_mapping(lines, old[key], new[key], first + 1, stop)
            continue
        stop = _block_end(lines, first, stop)
        lines[first:stop] = _render_key(key, new[key], column)
