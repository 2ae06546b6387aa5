"""The programs mlctl ships to pods and child processes, kept as real files.

Each file here runs outside mlctl's process: ``bootstrap.py`` runs a handler
in a run's pod (or a local run's child process), ``nuclio_shim.py`` serves a
Nuclio-style handler over HTTP (``--engine kubernetes``), ``serving_wrapper.py``
hands Nuclio events to MLRun's serving runtime, ``application_proxy.go`` is
the Nuclio function in front of an application's sidecar, ``guard.py`` is
the parent of a local run's process tree and ``dask_cluster.py`` a local run's
Dask cluster. None imports mlctl (an import-linter contract holds them to
it). What a pod runs (the bootstrap, the shim, the serving wrapper) works on
any Python 3.8+ image; the guard and the Dask cluster run on mlctl's own
interpreter.

This module only finds them: ``source`` for a file's text (what goes into a
ConfigMap or a Nuclio build), ``path`` for a file to start as a program.
"""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).parent


def path(name: str) -> Path:
    """The file ``name`` of this package on disk."""
    return _HERE / name


def source(name: str) -> str:
    """The text of the file ``name``."""
    return path(name).read_text("utf-8")
