"""Integration testbed: a real Kubernetes control plane with kwok-simulated nodes."""
