"""The pipeline every command is a prefix of.

    source --load--> Document --check--> --merge overrides--> --check again-->
    FunctionSpec --render[kind]--> manifests

``validate`` stops after the checks, ``render`` after rendering; ``deploy``
and ``run`` hand the manifests to ``mlctl.cluster``. Only ``load`` reads
files; everything after it is pure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlctl.errors import Problem, invalid
from mlctl.spec import loader, validate
from mlctl.spec.loader import Document

if TYPE_CHECKING:  # imported where used: `validate` needs neither, and starts faster without
    from mlctl.config import Config
    from mlctl.spec import model
    from mlctl.spec import overrides as overrides_


@dataclass(frozen=True)
class Loaded:
    document: Document
    function: model.FunctionSpec
    warnings: list[Problem] = field(default_factory=list)


def read(source: str, config: Config | None = None) -> Document:
    """The document behind a source: a file path, or a ``hub://`` reference."""
    if source.startswith("hub://"):
        from mlctl import hub

        hub_url = str(config.get("hub_url") or "") if config else ""
        text, label = hub.fetch_text(source, source=hub_url or None)
        return loader.load_text(text, label)
    return loader.load_file(source)


def check(document: Document, config: Config) -> list[Problem]:
    """All problems; raise when any is an error (warnings are returned)."""
    problems = validate.check(document, config)
    errors = validate.errors(problems)
    if errors:
        raise invalid(problems)
    return validate.warnings(problems)


def merge(document: Document, overrides: overrides_.Overrides, config: Config) -> Document:
    """The document with command-line overrides merged in (positions kept)."""
    from mlctl.spec import overrides as overrides_

    if overrides.is_empty():
        return document
    data = overrides_.apply(document.data, overrides, str(config.get("default_gpu_type")))
    return Document(document.source, data, document.text, document._root)


def load(source: str, config: Config, overrides: overrides_.Overrides | None = None) -> Loaded:
    from mlctl.spec import model

    document = read(source, config)
    warnings = check(document, config)
    if overrides and not overrides.is_empty():
        document = merge(document, overrides, config)
        warnings = check(document, config)
    function = model.build(document.data, document.source, config)
    return Loaded(document, function, warnings)


def render(loaded: Loaded, config: Config, ctx: Any) -> list[dict[str, Any]]:
    from mlctl import render as render_

    return render_.render(loaded.function, config, ctx)
