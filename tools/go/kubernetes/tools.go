//go:build tools

// Package tools pins one Kubernetes release's control plane and kubectl for tools/build.sh.
// k8s.io/kubernetes replaces its k8s.io staging modules with ./staging paths, which Go ignores
// in a dependency, so go.mod replaces each with the same release's published version.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
