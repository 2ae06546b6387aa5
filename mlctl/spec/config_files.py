"""mlctl's config files found and read: the reading end of ``mlctl.config``.

The user's file, the project's ``.mlctl.yaml`` (in the current directory or
the nearest parent) and an explicit ``--config`` / ``MLCTL_CONFIG`` file (or
else ``MLRUN_CONFIG_FILE``) are read as YAML with the spec loader, so a bad
key is reported at its FILE:LINE:COL; ``mlctl.config.resolve`` merges them
with the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlctl import config as config_
from mlctl.errors import InvalidInput
from mlctl.spec import loader


def _read_file(path: Path, *, strict: bool = True) -> dict[str, Any]:
    """A config file's keys; ``strict=False`` drops keys mlctl does not use.

    An MLRun config file (``MLRUN_CONFIG_FILE``) holds many keys mlctl has
    no use for; like ``MLRUN_*`` variables, those are skipped, not errors.
    """
    text = loader.read_text(path, "config file")  # unreadable, a folder, not UTF-8: an error naming the file
    if not any(line.strip() and not line.lstrip().startswith("#") for line in text.splitlines()):
        return {}  # empty, or comments only
    document = loader.load_text(text, str(path), "a config file")
    if not strict:
        return {k: v for k, v in document.data.items() if k in config_.DEFAULTS}
    unknown = [k for k in document.data if k not in config_.DEFAULTS]
    if unknown:
        line, column = document.locate((unknown[0],))
        raise InvalidInput(
            f"{path}:{line}:{column}: unknown config key '{unknown[0]}' (known: {', '.join(sorted(config_.DEFAULTS))})"
        )
    return document.data


def _project_file(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        candidate = folder / ".mlctl.yaml"
        if _is_file(candidate):
            return candidate
    return None


def _is_file(path: Path, *, any_kind: bool = False) -> bool:
    """Whether a config file (``any_kind``: anything) is there; a path that cannot be looked at
    (in a folder without search permission) is an error naming it, not a crash nor a skipped file."""
    try:
        return path.exists() if any_kind else path.is_file()
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read config file ({exc.strerror or exc})") from None


def user_config_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir("mlctl")) / "config.yaml"


def load(
    config_file: str | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    cluster: Mapping[str, Any] | None = None,
) -> config_.Config:
    """Read the config files that exist and the environment (the I/O end).

    ``cluster`` is the layer an admin set in the cluster's ConfigMap (read by
    ``mlctl.cluster.settings``); it lies below every file and variable.
    """
    environ = os.environ if environ is None else environ
    files: list[tuple[str, Mapping[str, Any]]] = []
    user = user_config_path()
    if _is_file(user):
        files.append((str(user), _read_file(user)))
    project = _project_file(cwd or Path.cwd())
    if project:
        files.append((str(project), _read_file(project)))
    explicit = config_file or environ.get("MLCTL_CONFIG")
    mlrun_file = not explicit and environ.get("MLRUN_CONFIG_FILE")
    if explicit or mlrun_file:
        path = Path(str(explicit or mlrun_file))
        if not _is_file(path, any_kind=True):
            raise InvalidInput(f"{path}: config file does not exist")
        files.append((str(path), _read_file(path, strict=not mlrun_file)))
    return config_.resolve(environ, files, cluster)
