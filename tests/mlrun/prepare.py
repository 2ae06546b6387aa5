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
# What MLRun 1.12.1 is built and tested with: a newer kubernetes client
# (37, whose models take keyword arguments only) breaks its mount_v3io.
REQUIREMENTS = (f"mlrun=={MLRUN_VERSION}", "kubernetes==35.0.0", "timelength~=1.1")
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
    """Return the venv's python, building the venv first when it is not complete.

    The venv is built beside its final place and renamed into it, so a
    concurrent or interrupted build never leaves a half-made venv behind.
    """
    target = venv_dir(version)
    recipe = " ".join(REQUIREMENTS) + "\n"
    if _complete(target, recipe):
        return venv_python(version)
    target.parent.mkdir(parents=True, exist_ok=True)
    building = target.with_name(f"{target.name}.building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    try:
        venv.EnvBuilder(with_pip=True, clear=True).create(building)
        python = building / "bin" / "python"
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        _run([*pip, "--upgrade", "pip"])
        _run([*pip, *REQUIREMENTS])
        _run([str(python), "-c", "import mlrun"])
        (building / MARKER).write_text(recipe, encoding="utf-8")
        if not _complete(target, recipe):
            shutil.rmtree(target, ignore_errors=True)
            building.rename(target)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return venv_python(version)


def _complete(target: pathlib.Path, recipe: str) -> bool:
    marker = target / MARKER
    return marker.is_file() and (target / "bin" / "python").is_file() and marker.read_text("utf-8") == recipe


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
