//go:build tools

// Package tools pins the Pulumi CLI (pkg/v3's cmd/pulumi) for tools/build.sh.
package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
