"""Edit a spec file in place: keep comments, order and quoting; write atomically.

``edit(path, change)`` reads the file with ruamel's round-trip loader,
lets ``change`` mutate the tree, validates the result with the same checks
``mlctl validate`` runs, and only then replaces the file (temporary file in
the same folder, fsync, rename). An invalid result or a failure midway
leaves the file untouched. With ``dry_run`` nothing is written and the
unified diff is returned.

No edit is lost and no file changes identity:

* the file is read, changed and written under an exclusive advisory lock
  (``flock``) on the file itself, and re-opened if another editor replaced
  it meanwhile, so two editors at once both land, one after the other;
* a symlink is followed and its target edited (the link stays a link);
  owner, group and mode are kept; a file with several hard links, or one
  whose owner cannot be kept, is rewritten in place instead of replaced;
* a file the user may not write is refused before anything is done;
* CRLF line endings are kept; temporary files left by an editor that was
  killed are removed by the next edit of the same file.
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import errno
import fcntl
import io
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
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


LOCK_WAIT = 30.0  # seconds to wait for another editor of the same file


def parse(text: str, source: str) -> Any:
    # load once with the checking loader for located syntax errors and duplicates
    loader.load_text(text, source)
    return _round_trip(text, source)


def _round_trip(text: str, source: str) -> Any:
    """The round-trip tree; the pure parser is stricter than the C one (a tab after ``{}``)."""
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        return _yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        raise invalid([Problem(source, line, column, "", f"cannot be edited in place: {message}")]) from None
    except (YAMLError, ValueError, TypeError, RecursionError) as exc:
        raise invalid([Problem(source, 1, 1, "", f"cannot be edited in place: {type(exc).__name__}")]) from None


def dump(tree: Any) -> str:
    stream = io.StringIO()
    _yaml().dump(tree, stream)
    return stream.getvalue()


def edit(path: str, change: Callable[[Any], None], config: Config, *, dry_run: bool = False) -> EditResult:
    target = _target(path)
    with _locked(target, path) as fd:
        raw = _read_all(fd)
        if not dry_run and not os.access(target, os.W_OK):
            raise InvalidInput(f"{path}: not writable by this user; the file was not changed")
        text = loader.decode(raw, path)
        crlf = "\r\n" in text
        before = text.replace("\r\n", "\n") if crlf else text
        original = parse(before, path)
        tree = copy.deepcopy(original)  # a second tree to change, without parsing the text again
        change(tree)
        after = splice(before, original, tree, path)
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
            _remove_stale_temporaries(target)
            write_atomic(target, after.replace("\n", "\r\n") if crlf else after)
    return EditResult(path, changed, diff, validate.warnings(problems), changed and not dry_run)


def _target(path: str) -> Path:
    """The file to edit: a symlink's final target, so the link itself stays a link."""
    return Path(os.path.realpath(path))


@contextlib.contextmanager
def _locked(target: Path, shown: str) -> Iterator[int]:
    """A read descriptor of ``target`` under an exclusive lock, re-opened if the file was replaced."""
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        try:
            fd = os.open(target, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise InvalidInput(f"{shown}: no such file") from None
        except OSError as exc:
            raise InvalidInput(f"{shown}: cannot read ({exc.strerror})") from None
        try:
            if _lock(fd, deadline):
                try:
                    now = target.stat()
                except FileNotFoundError:
                    now = None
                held = os.fstat(fd)
                if now is not None and (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino):
                    yield fd
                    return
            elif time.monotonic() >= deadline:
                raise InvalidInput(
                    f"{shown}: another process has been editing this file for {LOCK_WAIT:.0f}s; "
                    "the file was not changed"
                )
        finally:
            os.close(fd)  # closing releases the lock


def _lock(fd: int, deadline: float) -> bool:
    """Take the lock, waiting until ``deadline``; False when it is still held elsewhere."""
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        except OSError as exc:
            if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
                return True  # a filesystem without locks: edit unlocked, as before locks existed
            raise


def _read_all(fd: int) -> bytes:
    chunks = []
    size = 0
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
        size += len(chunk)
        if size > loader.MAX_BYTES:
            break
    return b"".join(chunks)


def _temporaries(path: Path) -> re.Pattern[str]:
    return re.compile(rf"^\.{re.escape(path.name)}\.[A-Za-z0-9_]{{8}}\.tmp$")


def _remove_stale_temporaries(path: Path) -> None:
    """Temporary files of this file's editors that died (kill -9) before renaming them.

    Called under the file's lock: only the lock holder writes a temporary
    file, so every one found now belongs to an editor that no longer runs.
    """
    pattern = _temporaries(path)
    with contextlib.suppress(OSError):
        for entry in os.scandir(path.parent):
            if pattern.match(entry.name) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    Path(entry.path).unlink()


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
    """Replace ``path``'s content with ``text``: in one rename, keeping mode, owner and group.

    Where a rename would change what the file is (several hard links share
    it, its owner cannot be kept, or its folder is not writable), the content
    is rewritten in place instead: the same inode, so every link sees it.
    """
    data = text.encode("utf-8")
    try:
        old = path.stat()
    except FileNotFoundError:
        old = None
    if old is not None and old.st_nlink > 1:
        _write_in_place(path, data)
        return
    folder = path.parent if str(path.parent) else Path()
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except PermissionError:
        if old is None:
            raise InvalidInput(f"{path}: cannot write (permission denied)") from None
        _write_in_place(path, data)
        return
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot write ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            if old is not None and (old.st_uid, old.st_gid) != (os.getuid(), os.getgid()):
                try:
                    os.fchown(out.fileno(), old.st_uid, old.st_gid)
                except PermissionError:
                    Path(temp).unlink(missing_ok=True)
                    _write_in_place(path, data)
                    return
            os.fchmod(out.fileno(), old.st_mode & 0o7777 if old is not None else 0o644)
            os.fsync(out.fileno())
        Path(temp).replace(path)
    except BaseException as exc:
        Path(temp).unlink(missing_ok=True)
        if isinstance(exc, OSError):  # a full disk or a read-only folder is not a bug in mlctl
            raise InvalidInput(f"{path}: cannot write ({exc.strerror or exc})") from None
        raise


def _write_in_place(path: Path, data: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot write ({exc.strerror}); the file was not changed") from None
    try:
        view = memoryview(data)
        offset = 0
        while offset < len(data):
            offset += os.pwrite(fd, view[offset:], offset)
        os.ftruncate(fd, len(data))
        os.fsync(fd)
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot write ({exc.strerror or exc})") from None
    finally:
        os.close(fd)


def splice(text: str, old: Any, new: Any, source: str = "<edit>") -> str:
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
        if _reads_as(result, new, source):
            return result
    except (AttributeError, KeyError, TypeError, ValueError, IndexError, InvalidInput):
        pass
    return dump(new)


def _reads_as(text: str, tree: Any, source: str) -> bool:
    """Whether ``text`` loads as ``tree``: by the fast checking loader, else by the round-trip one.

    The two read some rare values differently (the round-trip loader keeps
    tags and merge keys), so a mismatch by the first is checked with the second.
    """
    expected = _plain(tree)
    try:
        if loader.load_text(text, source).data == expected:
            return True
    except InvalidInput:
        pass
    return bool(_plain(_round_trip(text, source)) == expected)


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
