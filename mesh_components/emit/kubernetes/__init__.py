"""Kubernetes artifacts: the objects a mesh needs, and sidecar injection into pod templates."""
