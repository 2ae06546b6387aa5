"""Settings an admin keeps in the cluster, as MLRun keeps its service config.

A ConfigMap (``cluster_config_map``, default ``mlctl-system/mlctl-config``)
may hold mlctl config under the data key ``config.yaml`` (the same keys as
a config file: ``preemptible_nodes``, ``valid_function_priority_class_names``
...). It lies below the user's own config. A missing ConfigMap, or one the
user may not read, means no such layer.
"""

from __future__ import annotations

from typing import Any

from mlctl import errors
from mlctl.cluster.client import Cluster
from mlctl.kube import kinds

DATA_KEY = "config.yaml"


def read(cluster: Cluster, reference: str) -> dict[str, Any] | None:
    """The config layer in ConfigMap ``namespace/name`` (or ``name`` in the current namespace)."""
    if not reference:
        return None
    namespace, _, name = reference.rpartition("/")
    try:
        config_map = cluster.find(*kinds.CONFIG_MAP.ref(), name, namespace or cluster.namespace)
    except errors.Forbidden:
        return None
    if not config_map:
        return None
    text = (config_map.get("data") or {}).get(DATA_KEY, "")
    if not text.strip():
        return None
    from mlctl.spec import loader

    document = loader.load_text(text, f"ConfigMap {namespace or cluster.namespace}/{name} ({DATA_KEY})")
    return dict(document.data)
