"""Emitters: compiled plans to Envoy resources (`envoy/`) and, later, Kubernetes objects."""
