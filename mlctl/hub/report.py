"""How the hub layer tells its caller what it is doing, without printing.

Downloads take time and a stale cached copy deserves a warning, but the
hub modules sit below the CLI and must not write to stdout or stderr. They
call a ``Reporter``: the one passed in (the CLI passes one that draws
progress and warnings on stderr, ``mlctl.cli.hub_progress``), else the one
installed here, silent unless a caller installs another.
"""

from __future__ import annotations


class Reporter:
    """Hooks for progress and warnings; every hook does nothing by default."""

    def warn(self, message: str) -> None:
        """A problem the user should know about that did not stop the work."""

    def download_started(self, url: str, total: int | None) -> None:
        """A download began; ``total`` is its size in bytes when known (often only later)."""

    def download_progress(self, url: str, done: int, total: int | None) -> None:
        """``done`` bytes of ``url`` have arrived, of ``total`` when the server said."""

    def download_finished(self, url: str) -> None:
        """The download ended, complete or not."""


_installed: Reporter = Reporter()


def install(reporter: Reporter) -> Reporter:
    """Make ``reporter`` the one used when a call names none; return the previous one."""
    global _installed
    previous, _installed = _installed, reporter
    return previous


def current() -> Reporter:
    return _installed
