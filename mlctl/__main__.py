"""``python -m mlctl``: the same entry point as the ``mlctl`` command."""

from __future__ import annotations

from mlctl.cli import main

main.run()
