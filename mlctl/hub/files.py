"""Writing files whole or not at all: cache entries and pulled specs.

A reader (another mlctl, an editor, ``kubectl apply -f``) must see either
the old file or the complete new one, never a half-written file: data goes
to a temporary file in the same directory, is flushed to disk, then renamed
over the target. Nothing here fetches or prints.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from mlctl.errors import InvalidInput


def write_atomic(path: Path, data: bytes, *, overwrite: bool = True, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` atomically.

    With ``overwrite=False`` an existing ``path`` is never replaced, even by
    a file that appears while we write (the final step is a hard link, which
    fails if the name exists), and ``InvalidInput`` says so.
    """
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        # mkstemp creates 0600; a spec or cache file is as readable as any other
        temp.chmod(mode)
        if overwrite:
            temp.replace(path)
        else:
            _link_new(temp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


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
