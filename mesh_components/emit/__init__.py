"""Emitters: compiled plans to Envoy resources (`envoy/`), and the Kubernetes objects a mesh
needs, sidecar injection included (`kubernetes/`)."""
