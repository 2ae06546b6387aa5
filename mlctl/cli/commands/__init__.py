"""The command table: which module registers each command, and its one-line help.

Only the module of the command being run is imported (the rest of the CLI
costs nothing); ``mlctl --help`` lists the table without importing any.
Each command has a module of its own, named after it; a group of
subcommands (``runs``, ``hub``, ``config``) is one module.
"""

from __future__ import annotations

from importlib import import_module

# command -> (module under mlctl.cli.commands, one-line help); in help order
TABLE: dict[str, tuple[str, str]] = {
    "validate": ("validate", "Check specs against the schema and mlctl's rules."),
    "render": ("render", "Print the Kubernetes manifests of a spec."),
    "deploy": ("deploy", "Apply functions' objects to the cluster, all or nothing."),
    "diff": ("diff", "Show how the live objects differ from the spec."),
    "delete": ("delete", "Delete what deploy created."),
    "run": ("run", "Start a run of a function and watch it to its end."),
    "runs": ("runs", "Runs on the cluster and on this machine: list, get, logs, explain, abort, delete."),
    "monitor": ("monitor", "Abort every run stuck past its state thresholds."),
    "priority-classes": ("priority_classes", "The valid priority class names and the default."),
    "nodes": ("nodes", "Nodes, and which ones the preemptible-node profile marks as spot."),
    "config": ("config", "Show mlctl's effective configuration and where it came from."),
    "hub": ("hub", "Functions of the MLRun function hub: list, show, pull."),
    "new": ("new", "Write a fresh spec (the counterpart of code_to_function)."),
    "set-env": ("set_env", "Set environment variables in a spec."),
    "set-thresholds": ("set_thresholds", "Set the state thresholds that abort stuck runs."),
    "set-resources": ("set_resources", "Set CPU, memory and GPU requests and limits."),
    "set-replicas": ("set_replicas", "Set a fixed replica count or an autoscaling range."),
    "set-preemption": ("set_preemption", "Choose spot or on-demand nodes (preemption mode)."),
    "set-priority": ("set_priority", "Set the pod priority class."),
    "set-node-selection": ("set_node_selection", "Set node selector, node name, tolerations, affinity."),
    "mount": ("mount", "Mount a PVC, ConfigMap, Secret or v3io volume."),
    "set-http": ("set_http", "Set the HTTP trigger of a Nuclio or serving function."),
    "add-stream-trigger": ("add_stream_trigger", "Add a v3io stream trigger to a Nuclio or serving function."),
}


def short_help(name: str) -> str:
    return TABLE[name][1]


def load(name: str) -> None:
    """Import the module that registers ``name`` (and its neighbours) on the app."""
    import_module(f"mlctl.cli.commands.{TABLE[name][0]}")


def load_all() -> None:
    for module in dict.fromkeys(module for module, _ in TABLE.values()):
        import_module(f"mlctl.cli.commands.{module}")
