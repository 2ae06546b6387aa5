"""Build (once) the cached virtual environment that holds the real MLRun SDK.

MLRun pins versions of `kubernetes` and `timelength` that conflict with
mlctl's own, so it lives in its own venv outside the checkout, under
``$MLCTL_MLRUN_CACHE`` (default ``~/.cache/mlctl-mlrun``)/<version>/. The venv is
marked complete only once the SDK imports, so an interrupted build is redone.

Run as a script (``python tests/mlrun/prepare.py``) it prints the venv's python.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import venv

MLRUN_VERSION = "1.12.1"
MARKER = ".complete"


def cache_root() -> pathlib.Path:
    configured = os.environ.get("MLCTL_MLRUN_CACHE")
    if configured:
        return pathlib.Path(configured).expanduser()
    return pathlib.Path.home() / ".cache" / "mlctl-mlrun"


def venv_dir(version: str = MLRUN_VERSION) -> pathlib.Path:
    return cache_root() / version


def venv_python(version: str = MLRUN_VERSION) -> pathlib.Path:
    return venv_dir(version) / "bin" / "python"


class PrepareError(RuntimeError):
    """The venv could not be built; the message says why."""


def _run(args: list[str]) -> None:
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-30:]
        raise PrepareError(f"{' '.join(args)} failed ({done.returncode}):\n" + "\n".join(tail))


def ensure(version: str = MLRUN_VERSION) -> pathlib.Path:
    """Return the venv's python, building the venv first when it is not complete."""
    target = venv_dir(version)
    python = venv_python(version)
    if (target / MARKER).is_file() and python.is_file():
        return python
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(target)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    _run([*pip, "--upgrade", "pip"])
    _run([*pip, f"mlrun=={version}"])
    _run([str(python), "-c", "import mlrun, sys; sys.stdout.write(mlrun.__version__)"])
    (target / MARKER).write_text(version + "\n", encoding="utf-8")
    return python


def main() -> int:
    try:
        python = ensure()
    except PrepareError as error:
        sys.stderr.write(f"cannot build the MLRun venv: {error}\n")
        return 1
    sys.stdout.write(f"{python}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
