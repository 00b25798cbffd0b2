//go:build tools

// Package tools pins pulumi-kubernetes' provider plugin for tools/build.sh.
package tools

import _ "github.com/pulumi/pulumi-kubernetes/provider/v4/cmd/pulumi-resource-kubernetes"
