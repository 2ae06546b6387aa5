"""Everything mlctl prints: data on stdout, people's messages on stderr.

stdout carries data only (YAML, JSON, names, tables), so ``mlctl render
f.yaml | kubectl apply -f -`` works. Progress, warnings and errors go to
stderr, with rich colour on a terminal and plain text when stderr is not a
TTY, ``NO_COLOR`` is set or ``CI`` is.

Imports here are made where used: this module is on every command's
start-up path. One ``Output`` belongs to one invocation (``mlctl.cli.invocation``); the
module-level functions that need no console (``emit``, ``emit_documents``,
``table``) are the data half, shared by every command.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from mlctl.errors import MlctlError, Problem


def fancy() -> bool:
    return sys.stderr.isatty() and not os.environ.get("NO_COLOR") and not os.environ.get("CI")


class Output:
    """The stderr half of one invocation: messages, progress, spinners, errors."""

    def __init__(self) -> None:
        self._console: Console | None = None

    def console(self) -> Console:
        """The stderr console (rich), created on first use."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(
                stderr=True, no_color=not fancy(), highlight=False, force_terminal=fancy() or None, soft_wrap=True
            )
        return self._console

    def say(self, message: str, style: str = "") -> None:
        """One line for people, on stderr."""
        if fancy():
            self.console().print(message, style=style or None, markup=False)
        else:
            print(message, file=sys.stderr, flush=True)

    def warn(self, message: str) -> None:
        self.say(f"warning: {message}", "yellow")

    def say_lines(self, lines: Iterable[str]) -> None:
        """Several lines for people, on stderr, together."""
        self.say("\n".join(lines), "yellow")

    def progress(self, message: str) -> None:
        """A progress line while waiting (state changes, readiness)."""
        self.say(message, "cyan")

    def problems(self, items: Iterable[Problem]) -> None:
        for problem in items:
            style = "yellow" if problem.severity == "warning" else "red"
            prefix = "warning: " if problem.severity == "warning" else ""
            self.say(f"{prefix}{problem}", style)

    @contextlib.contextmanager
    def spinner(self, message: str) -> Iterator[None]:
        """A spinner on a terminal while something waits; one plain line otherwise."""
        if fancy():
            with self.console().status(message):
                yield
        else:
            self.say(message + " ...")
            yield

    def error(self, exc: MlctlError, *, debug: bool = False) -> None:
        from mlctl.errors import InvalidInput

        if debug:
            import traceback

            traceback.print_exception(exc, file=sys.stderr)
        if isinstance(exc, InvalidInput) and exc.problems:
            self.problems(exc.problems)
            errors = sum(1 for p in exc.problems if p.severity == "error")
            self.say(f"error: {errors} problem{'s' if errors != 1 else ''} found", "bold red")
            return
        for detail in exc.details:
            self.say(f"  {detail}", "red")
        self.say(f"error: {exc.message}", "bold red")

    def internal_error(self, exc: BaseException, *, debug: bool = False) -> None:
        if debug:
            import traceback

            traceback.print_exception(exc, file=sys.stderr)
        self.say(f"internal error: {type(exc).__name__}: {exc}", "bold red")
        if not debug:
            self.say("this is a bug in mlctl; run again with --debug for the traceback")


def emit(data: Any, fmt: str = "yaml") -> None:
    """Write data to stdout as yaml, json or name."""
    if fmt == "json":
        import json

        sys.stdout.write(json.dumps(_json_safe(data), indent=2, default=str, allow_nan=False) + "\n")
    elif fmt == "name":
        items = data.get("items", [data]) if isinstance(data, dict) else data
        for item in items:
            meta = item.get("metadata", {})
            sys.stdout.write(f"{item.get('kind', '').lower()}/{meta.get('name', item.get('name', ''))}\n")
    else:
        from mlctl.spec import loader

        sys.stdout.write(loader.dump(data))
    sys.stdout.flush()


def emit_pages(pages: Iterable[Sequence[Any]], fmt: str = "yaml") -> None:
    """A list written page by page as it arrives, as JSON or YAML: the same text ``emit`` writes for the whole list."""
    import json

    from mlctl.spec import loader

    started = False
    for page in pages:
        if not page:
            continue
        if fmt == "json":
            for item in page:
                text = json.dumps(_json_safe(item), indent=2, default=str, allow_nan=False)
                sys.stdout.write(",\n" if started else "[\n")
                sys.stdout.write("\n".join("  " + line for line in text.split("\n")))
                started = True
        else:
            sys.stdout.write(loader.dump(list(page)))
            started = True
        sys.stdout.flush()
    if fmt == "json":
        sys.stdout.write("\n]\n" if started else "[]\n")
    elif not started:
        sys.stdout.write(loader.dump([]))
    sys.stdout.flush()


def _json_safe(data: Any) -> Any:
    """JSON has no NaN or Infinity (a handler may return them): they become the strings Python writes."""
    import math

    if isinstance(data, float) and not math.isfinite(data):
        return "NaN" if math.isnan(data) else ("Infinity" if data > 0 else "-Infinity")
    if isinstance(data, dict):
        return {key: _json_safe(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [_json_safe(value) for value in data]
    return data


def emit_documents(objects: list[dict[str, Any]], fmt: str = "yaml") -> None:
    """Manifests: YAML documents, a JSON v1 List, or kind/name lines."""
    if fmt == "json":
        emit({"apiVersion": "v1", "kind": "List", "items": objects}, "json")
    elif fmt == "name":
        emit(objects, "name")
    else:
        from mlctl.spec import loader

        sys.stdout.write("---\n".join(loader.dump(o) for o in objects))
        sys.stdout.flush()


def lines(text: Iterable[str]) -> None:
    """Lines of data on stdout (names, log lines, a diff), each ended by one newline."""
    sys.stdout.writelines(line if line.endswith("\n") else line + "\n" for line in text)
    sys.stdout.flush()


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A plain, aligned table on stdout (greppable; no colour codes)."""
    table_pages(headers, [rows])


def table_pages(headers: Sequence[str], pages: Iterable[Sequence[Sequence[str]]]) -> None:
    """A table written page by page as its rows arrive: the headers once, each page as wide as its own values."""
    shown = False
    for rows in pages:
        widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows, strict=False)]
        for row in rows if shown else [headers, *rows]:
            sys.stdout.write("  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=False)).rstrip() + "\n")
        sys.stdout.flush()
        shown = True
    if not shown:
        sys.stdout.write("  ".join(headers).rstrip() + "\n")
        sys.stdout.flush()
