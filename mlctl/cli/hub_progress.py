"""Hub downloads and warnings on stderr, for whichever command reads the hub.

A module of its own so that only commands that touch a hub import it
(importing ``mlctl.hub`` costs more than a command's start-up can spare).
"""

from __future__ import annotations

from typing import Any

from mlctl.cli import output
from mlctl.cli.output import fancy
from mlctl.hub import report


def _short(url: str) -> str:
    """The part of a hub URL that tells downloads apart: NAME/TAG/src/function.yaml."""
    parts = url.split("/")
    return "/".join(parts[-4:]) if len(parts) > 4 else url


class HubReporter(report.Reporter):
    """Hub downloads as a rich progress bar (plain lines off a terminal), warnings in yellow.

    Every command that reads a ``hub://`` source hands one to the hub
    (``mlctl.cli.invocation``), so a stale cached copy gets the same warning
    whichever command read it.
    """

    def __init__(self, out: output.Output) -> None:
        self._out = out
        self._bar: Any = None  # a rich Progress while downloads run on a terminal
        self._tasks: dict[str, Any] = {}

    def warn(self, message: str) -> None:
        self._out.warn(message)

    def download_started(self, url: str, total: int | None) -> None:
        if not fancy():
            self._out.say(f"fetching {url}")
            return
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

        if self._bar is None:
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                console=self._out.console(),
                transient=True,
            )
            self._bar.start()
        self._tasks[url] = self._bar.add_task(_short(url), total=total)

    def download_progress(self, url: str, done: int, total: int | None) -> None:
        if self._bar is not None and url in self._tasks:
            self._bar.update(self._tasks[url], completed=done, total=total)

    def download_finished(self, url: str) -> None:
        if self._bar is None or url not in self._tasks:
            return
        self._bar.remove_task(self._tasks.pop(url))
        if not self._tasks:
            self._bar.stop()
            self._bar = None
