"""Writing files whole or not at all: edited specs, pulled specs, hub cache entries.

A reader (another mlctl, an editor, ``kubectl apply -f``) must see either
the old file or the complete new one, never a half-written file: data goes
to a temporary file in the same directory (``.<name>.XXXXXXXX.tmp``), is
flushed to disk, then renamed over the target.

No file changes identity: an existing file keeps its mode, owner and group;
one with several hard links, one whose owner cannot be kept, or one in a
folder mlctl may not write is rewritten in place instead (the same inode,
so every link sees it). Failures are ``OSError``s for the caller to word;
nothing here fetches or prints.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from mlctl.errors import InvalidInput

TEMP_SUFFIX = ".tmp"
NOT_CHANGED = "the file was not changed"  # the note on an OSError raised before anything was written


def write_atomic(path: Path, data: bytes | str, *, overwrite: bool = True, mode: int = 0o644) -> None:
    """Write ``data`` (text is written as UTF-8) to ``path`` atomically; a new file gets ``mode``.

    With ``overwrite=False`` an existing ``path`` is never replaced, even by
    a file that appears while we write (the final step is a hard link, which
    fails if the name exists), and ``InvalidInput`` says so.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    old = _stat(path) if overwrite else None
    if old is not None and old.st_nlink > 1:
        write_in_place(path, payload)
        return
    try:
        fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    except PermissionError:
        if old is None:
            raise
        write_in_place(path, payload)  # the folder is not ours to write, the file is
        return
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(payload)
            stream.flush()
            kept = _keep_owner(stream.fileno(), old)
            if kept:
                os.fchmod(stream.fileno(), old.st_mode & 0o7777 if old is not None else mode)
                os.fsync(stream.fileno())
        if not kept:
            write_in_place(path, payload)
        elif overwrite:
            temp.replace(path)
        else:
            _link_new(temp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def write_in_place(path: Path, data: bytes) -> None:
    """Overwrite the existing file ``path`` through its own inode."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except OSError as exc:
        exc.add_note(NOT_CHANGED)
        raise
    try:
        view = memoryview(data)
        offset = 0
        while offset < len(data):
            offset += os.pwrite(fd, view[offset:], offset)
        os.ftruncate(fd, len(data))
        os.fsync(fd)
    finally:
        os.close(fd)


def _stat(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except FileNotFoundError:
        return None


def _keep_owner(fd: int, old: os.stat_result | None) -> bool:
    """Give the temporary file the old file's owner and group; False when that is not allowed."""
    if old is None or (old.st_uid, old.st_gid) == (os.getuid(), os.getgid()):
        return True
    try:
        os.fchown(fd, old.st_uid, old.st_gid)
    except PermissionError:
        return False
    return True


def _link_new(temp: Path, path: Path) -> None:
    try:
        os.link(temp, path)
    except FileExistsError:
        raise InvalidInput(f"{path}: already exists (use --force to overwrite it)") from None
    except OSError:
        # Some filesystems (FAT, some network mounts) have no hard links:
        # check, then rename, accepting the small window between the two.
        if path.exists():
            raise InvalidInput(f"{path}: already exists (use --force to overwrite it)") from None
        temp.replace(path)
