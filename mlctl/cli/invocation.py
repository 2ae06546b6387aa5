"""One invocation of mlctl: its global options, the config they load, and where it prints.

``mlctl.cli.main`` makes one per command line and hands it to the command as
Typer's context object (``invocation.of(ctx)``), so nothing about an
invocation outlives it and tests may run many in one process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlctl.cli import output

if TYPE_CHECKING:
    import typer

    from mlctl import pipeline
    from mlctl.cluster.client import Cluster
    from mlctl.config import Config
    from mlctl.hub import report
    from mlctl.spec.overrides import Overrides


class Invocation:
    """A plain class, not a dataclass: this module is on every command's start-up path."""

    def __init__(self, config_file: str | None = None, debug: bool = False, validation: str | None = None) -> None:
        self.config_file = config_file
        self.debug = debug
        self.validation = validation
        self.out = output.Output()
        self._config: Config | None = None
        self._cluster_layer: dict[str, Any] | None = None
        self._hub_reporter: report.Reporter | None = None

    def config(self) -> Config:
        """The effective config, read once per invocation."""
        if self._config is None:
            from mlctl import config as config_
            from mlctl.spec import config_files

            loaded = config_files.load(self.config_file, cluster=self._cluster_layer)
            if self.validation:
                loaded = config_.with_value(loaded, "validation", self.validation, "--validate")
            self._config = loaded
        return self._config

    def use_cluster_settings(self, layer: dict[str, Any] | None) -> None:
        """Add the cluster's admin-set config (below the user's own) to what config() returns."""
        self._cluster_layer = layer
        self._config = None

    def hub_reporter(self) -> report.Reporter:
        """Hub downloads and warnings on stderr, the same for every command that reads the hub."""
        if self._hub_reporter is None:
            from mlctl.cli import hub_progress

            self._hub_reporter = hub_progress.HubReporter(self.out)
        return self._hub_reporter

    def reporter_for(self, source: str) -> report.Reporter | None:
        return self.hub_reporter() if source.startswith("hub://") else None

    def load(self, source: str, overrides: Overrides | None = None) -> pipeline.Loaded:
        """Load a spec (a file or a ``hub://`` reference) with this invocation's config; say its warnings."""
        from mlctl import pipeline

        loaded = pipeline.load(source, self.config(), overrides, self.reporter_for(source))
        self.out.problems(loaded.warnings)
        return loaded

    def connect(
        self, kubeconfig: str | None, context: str | None, namespace: str | None, timeout: float = 30.0
    ) -> Cluster:
        """Connect, and add the cluster's admin-set config layer to this invocation's config."""
        from mlctl.cluster import client, settings

        cluster = client.connect(kubeconfig, context, namespace, timeout=min(timeout, 60.0))
        reference = str(self.config().get("cluster_config_map") or "")
        self.use_cluster_settings(settings.read(cluster, reference))
        return cluster


def of(ctx: typer.Context) -> Invocation:
    """The invocation a command runs in (set by ``mlctl.cli.main``)."""
    found = ctx.find_root().obj
    if not isinstance(found, Invocation):
        raise TypeError("a command ran outside mlctl.cli.main.invoke (no Invocation)")
    return found
