"""mlctl: MLRun function specs to Kubernetes workloads."""

from __future__ import annotations

__version__ = "0.1.0"
