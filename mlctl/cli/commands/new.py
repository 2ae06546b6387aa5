"""``mlctl new``: write a fresh spec (the counterpart of code_to_function)."""

from __future__ import annotations

from typing import Annotated

import typer

from mlctl.cli.main import app


@app.command("new")
def new(
    ctx: typer.Context,
    kind: Annotated[
        str, typer.Argument(help="job | mpijob | dask | nuclio | serving | application | spark.", show_default=False)
    ],
    name: Annotated[str, typer.Argument(help="Function name.", show_default=False)],
    from_file: Annotated[
        str | None, typer.Option("--from-file", help="Python file to embed as the function's code.", show_default=False)
    ] = None,
    handler: Annotated[
        str | None, typer.Option("--handler", help="Handler function in the code.", show_default=False)
    ] = None,
    image: Annotated[str, typer.Option("--image", help="Container image.")] = "python:3.11-slim",
    output_file: Annotated[
        str | None,
        typer.Option(
            "--output-file", "-f", help="Write here instead of stdout (refuses to overwrite).", show_default=False
        ),
    ] = None,
) -> int:
    """Write a fresh spec (the counterpart of mlrun.code_to_function)."""
    from pathlib import Path

    from mlctl.cli import invocation
    from mlctl.errors import InvalidInput
    from mlctl.pipeline import check
    from mlctl.spec import edit, loader, mutations, validate

    if kind not in validate.SUPPORTED_KINDS:
        raise InvalidInput(f"kind '{kind}' is not one of {', '.join(validate.SUPPORTED_KINDS)}")
    code = None
    filename = ""
    if from_file:
        try:
            code = Path(from_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(f"{from_file}: cannot read ({exc.strerror})") from None
        filename = Path(from_file).name
    data = mutations.new_function(kind, name, image, code, filename, handler or ("handler" if code else ""))
    text = edit.dump(data)
    check(loader.load_text(text, output_file or "<new>"), invocation.of(ctx).config())
    if output_file:
        target = Path(output_file)
        if target.exists():
            raise InvalidInput(f"{output_file}: exists; not overwriting it")
        edit.write_atomic(target, text)
        invocation.of(ctx).out.say(f"{output_file}: written")
    else:
        import sys

        sys.stdout.write(text)
    return 0
