"""The pipeline every command is a prefix of.

    source --load--> Document --check--> --merge overrides--> --check again-->
    FunctionSpec --render[kind]--> manifests --deploy/run--> outcome, verdict

This module loads and renders (``validate`` stops after the checks,
``render`` after rendering; only ``read`` does I/O). The stages that reach
a cluster each have a module here, taking a loaded function and returning
result objects for the CLI to print:

- ``pipeline.deploy``: plan, preflight and apply a function's objects; delete them;
- ``pipeline.diff``: how the live objects differ from the spec;
- ``pipeline.run``: where a run goes, starting it, and its verdict;
- ``pipeline.nodes``: the nodes and priority classes a cluster offers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlctl.errors import MlctlError, Problem, invalid
from mlctl.spec import loader, validate
from mlctl.spec.loader import Document

if TYPE_CHECKING:  # imported where used: `validate` needs neither, and starts faster without
    from mlctl.config import Config
    from mlctl.hub import report
    from mlctl.spec import model
    from mlctl.spec import overrides as overrides_


@dataclass(frozen=True)
class Loaded:
    document: Document
    function: model.FunctionSpec
    warnings: list[Problem] = field(default_factory=list)


def read(source: str, config: Config | None = None, reporter: report.Reporter | None = None) -> Document:
    """The document behind a source: a file path, or a ``hub://`` reference (``reporter`` hears the hub)."""
    if source.startswith("hub://"):
        from mlctl import hub

        hub_url = str(config.get("hub_url") or "") if config else ""
        text, label = hub.fetch_text(source, source=hub_url or None, reporter=reporter)
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


def load(
    source: str,
    config: Config,
    overrides: overrides_.Overrides | None = None,
    reporter: report.Reporter | None = None,
) -> Loaded:
    from mlctl.spec import model

    document = read(source, config, reporter)
    warnings = check(document, config)
    if overrides and not overrides.is_empty():
        document = merge(document, overrides, config)
        warnings = check(document, config)
    function = model.build(document.data, document.source, config)
    return Loaded(document, function, warnings)


def render(loaded: Loaded, config: Config, ctx: Any) -> list[dict[str, Any]]:
    from mlctl import render as render_

    return render_.render(loaded.function, config, ctx)


def default_namespace(kubeconfig: str | None = None, context: str | None = None) -> str:
    """The namespace when none is given and no cluster is contacted: the kubeconfig context's, else ``default``.

    As kubectl does: the context's ``namespace`` (or a pod's service account
    namespace); no kubeconfig, or one that cannot be read, gives ``default``
    (a command that connects reports what is wrong with it).
    """
    import os

    from mlctl.cluster import kubeconfig as kubeconfig_

    if not kubeconfig_.configured(kubeconfig, os.environ, context):
        return "default"
    try:
        return kubeconfig_.load(kubeconfig, context).namespace or "default"
    except MlctlError:
        return "default"
