//go:build tools

// Package tools pins etcd (the server module's main package) for tools/build.sh.
package tools

import _ "go.etcd.io/etcd/server/v3"
