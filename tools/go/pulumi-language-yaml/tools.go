//go:build tools

// Package tools pins the Pulumi YAML language host for tools/build.sh.
package tools

import _ "github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml"
