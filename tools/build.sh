#!/usr/bin/env bash
# Builds the pinned Go tools into .tools/bin: the Pulumi CLI, its YAML language host and the
# Kubernetes provider; and one Kubernetes release's control plane (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler) and kubectl. Each comes from its Go module through a
# wrapper module in tools/go/<wrapper> (go.mod and go.sum pin every version). A tool whose pins and recipe have not changed since its
# last build is left alone, so a second run takes a second or two. Nothing is downloaded except
# Go modules, through the Go module proxy; the Go caches stay in their default places.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
recipes=$root/tools/go
bin=$root/.tools/bin
work=$root/.tools/build
mkdir -p "$bin" "$work"

export CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" GOTOOLCHAIN=local

say() { printf 'tools: %s\n' "$*"; }

# The version a wrapper module pins for MODULE.
pinned() { (cd "$recipes/$1" && go list -m -f '{{.Version}}' "$2"); }

# The wrapper module a tool is built from: the Kubernetes binaries share one.
wrapper() {
    case $1 in
        kube-* | kubectl) echo kubernetes ;;
        *) echo "$1" ;;
    esac
}

# A fingerprint of what a tool is built from: its wrapper module and this script.
fingerprint() {
    local recipe=$recipes/$(wrapper "$1")
    cat "$recipe/go.mod" "$recipe/go.sum" "$0" | sha256sum | cut -c1-16
}

up_to_date() {
    [ -x "$bin/$1" ] && [ "$(cat "$bin/.$1.built" 2>/dev/null)" = "$(fingerprint "$1")" ]
}

# build TOOL PACKAGE LDFLAGS [TAGS]: compile PACKAGE in a scratch copy of the wrapper module and
# install it as .tools/bin/TOOL only once it has built.
build() {
    local tool=$1 package=$2 ldflags=$3 tags=${4:-} started=$SECONDS
    say "building $tool (a cold build takes minutes; Go's caches make the next one fast)"
    (cd "$work/$(wrapper "$tool")" &&
        go build -trimpath -tags "$tags" -ldflags "$ldflags" -o "$bin/$tool.new" "$package")
    mv "$bin/$tool.new" "$bin/$tool"
    fingerprint "$tool" >"$bin/.$tool.built"
    say "built $tool in $((SECONDS - started)) s"
}

# A scratch copy of a wrapper module, where generated files may be written.
scratch() {
    rm -rf "${work:?}/$1"
    mkdir -p "$work/$1"
    cp "$recipes/$1"/go.mod "$recipes/$1"/go.sum "$recipes/$1"/*.go "$work/$1/"
}

pulumi_cli() {
    local version
    version=$(pinned pulumi github.com/pulumi/pulumi/pkg/v3)
    scratch pulumi
    # The release build's flags (pulumi/pulumi's .goreleaser.yml).
    build pulumi github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
        "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$version" \
        osusergo,grpcnotrace
}

yaml_host() {
    local version
    version=$(pinned pulumi-language-yaml github.com/pulumi/pulumi-yaml)
    scratch pulumi-language-yaml
    build pulumi-language-yaml github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml \
        "-X github.com/pulumi/pulumi-yaml/pkg/version.Version=$version"
}

# The provider's main package embeds schema-embed.json and terraform-mapping-embed.json, which
# upstream generates (cmd/pulumi-resource-kubernetes/generate.go) and leaves out of the module.
# So the module is copied out of the module cache (where go verified it), its generate.go is
# run as upstream's `go generate` runs it, and the wrapper builds the copy (replace => ./src).
kubernetes_provider() {
    local tool=pulumi-resource-kubernetes module=github.com/pulumi/pulumi-kubernetes/provider/v4
    local version release dir
    version=$(sed -n "s#^require $module \(v[^ ]*\)\$#\1#p" "$recipes/$tool/go.mod")
    release=$(cat "$recipes/$tool/RELEASE")
    dir=$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "$module@$version" |
        sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
    scratch "$tool"
    cp -r "$dir" "$work/$tool/src"
    chmod -R u+w "$work/$tool/src"
    local cmd=$work/$tool/src/cmd/$tool gen=$work/$tool/generate
    mkdir -p "$gen"
    cp "$cmd/generate.go" "$cmd/schema.json" "$cmd/terraform-mapping.json" "$gen/"
    (cd "$gen" && VERSION=$release go run generate.go)
    cp "$gen/schema-embed.json" "$gen/terraform-mapping-embed.json" "$cmd/"
    build "$tool" "$module/cmd/$tool" \
        "-X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$release"
}

# The version flags of Kubernetes' own release build (hack/lib/version.sh): kubectl and the
# Pulumi provider read the server's version, and a client warns when it differs from its own.
kubernetes_binary() {
    local tool=$1 version minor flags="-s -w"
    version=$(pinned kubernetes k8s.io/kubernetes)
    minor=$(echo "$version" | cut -d. -f2)
    [ -f "$work/kubernetes/go.mod" ] || scratch kubernetes
    for package in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        flags+=" -X $package.gitVersion=$version -X $package.gitMajor=1"
        flags+=" -X $package.gitMinor=$minor -X $package.gitTreeState=clean"
    done
    build "$tool" "k8s.io/kubernetes/cmd/$tool" "$flags"
}

etcd_server() {
    scratch etcd
    build etcd go.etcd.io/etcd/server/v3 "-s -w"
}

tools=(pulumi pulumi-language-yaml pulumi-resource-kubernetes
    etcd kube-apiserver kube-controller-manager kube-scheduler kubectl)
rm -rf "${work:?}/kubernetes" # a fresh scratch copy for this run's Kubernetes binaries
for tool in "${tools[@]}"; do
    if up_to_date "$tool"; then
        say "$tool is up to date"
        continue
    fi
    case $tool in
        pulumi) pulumi_cli ;;
        pulumi-language-yaml) yaml_host ;;
        pulumi-resource-kubernetes) kubernetes_provider ;;
        etcd) etcd_server ;;
        *) kubernetes_binary "$tool" ;;
    esac
done
say "ready in .tools/bin: $(cd "$bin" && ls | tr '\n' ' ')"
