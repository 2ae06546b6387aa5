"""Global options of one invocation (``--config``, ``--debug``, ``--validate``) and the config they load."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlctl.config import Config


class Options:
    """A plain class, not a dataclass: this module is on every command's start-up path."""

    def __init__(self) -> None:
        self.config_file: str | None = None
        self.debug = False
        self.validation: str | None = None
        self._config: Config | None = None
        self._cluster_layer: dict[str, Any] | None = None


options = Options()


def config() -> Config:
    """The effective config, read once per invocation."""
    if options._config is None:
        from mlctl import config as config_
        from mlctl.spec import config_files

        loaded = config_files.load(options.config_file, cluster=options._cluster_layer)
        if options.validation:
            loaded = config_.with_value(loaded, "validation", options.validation, "--validate")
        options._config = loaded
    return options._config


def use_cluster_settings(layer: dict[str, Any] | None) -> None:
    """Add the cluster's admin-set config (below the user's own) to what config() returns."""
    options._cluster_layer = layer
    options._config = None


def reset() -> None:
    """Forget what the last invocation read (tests run many in one process)."""
    options.config_file = None
    options.debug = False
    options.validation = None
    options._config = None
    options._cluster_layer = None
