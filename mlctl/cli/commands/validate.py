"""``mlctl validate FILE...``: every problem of every spec, sorted, at once."""

from __future__ import annotations

from typing import Annotated

import typer

from mlctl.cli.main import app


@app.command()
def validate(
    files: Annotated[list[str], typer.Argument(help="Spec files or hub:// references.", show_default=False)],
    output: Annotated[str, typer.Option("--output", "-o", help="text | json.")] = "text",
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as errors.")] = False,
) -> int:
    """Check specs against the schema and mlctl's rules; exit 3 on any error.

    Problems print as FILE:LINE:COL: path: message (hint).
    """
    from mlctl.cli import options, state
    from mlctl.cli import output as out
    from mlctl.errors import ExitCode, InvalidInput, Problem
    from mlctl.pipeline import check, read

    options.check_output(output, ("text", "json"))
    config = state.config()
    found: list[Problem] = []
    for source in files:
        try:
            found += check(read(source, config), config)
        except InvalidInput as exc:
            found += exc.problems or [Problem("", 0, 0, "", exc.message)]
    failed = any(p.severity == "error" or strict for p in found)
    if output == "json":
        out.emit(
            {
                "valid": not failed,
                "files": len(files),
                "problems": [
                    {
                        "file": p.file,
                        "line": p.line,
                        "column": p.column,
                        "path": p.path,
                        "message": p.message,
                        "hint": p.hint,
                        "severity": p.severity,
                    }
                    for p in sorted(found)
                ],
            },
            "json",
        )
    else:
        out.problems(sorted(found))
        if failed:
            count = sum(1 for p in found if p.severity == "error" or strict)
            out.say(f"error: {count} problem{'s' if count != 1 else ''} found", "bold red")
        else:
            out.say(f"{len(files)} spec{'s' if len(files) != 1 else ''} valid", "green")
    return ExitCode.INVALID_INPUT if failed else ExitCode.OK
