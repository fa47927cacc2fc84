#!/usr/bin/env bash
# compat-tools.sh VERSION DIR builds Kubernetes VERSION's etcd (the version that release pins),
# kube-apiserver, kube-controller-manager and kube-scheduler into DIR/bin, from a Go module
# generated in DIR/src: the same commands as test/cluster/tools, with k8s.io/kubernetes at
# VERSION and its staging modules at the matching v0.x.y. The other tools (kwok, Prometheus,
# helm, controller-gen) do not depend on the cluster's version: DIR/bin links to .local/bin's.
# Rebuilt only when DIR/bin/.version is not VERSION.
set -euo pipefail

version=${1:?usage: compat-tools.sh VERSION DIR}
dir=${2:?usage: compat-tools.sh VERSION DIR}
root=$(cd "$(dirname "$0")/.." && pwd)
version=${version#v}
if [[ -f $dir/bin/.version && $(cat "$dir/bin/.version") == "$version" ]]; then
	exit 0
fi
staging=v0.${version#*.}

mkdir -p "$dir/src" "$dir/bin"
dir=$(cd "$dir" && pwd)
cd "$dir/src"
export GOWORK=off GOFLAGS=-mod=mod
kubernetes_mod=$(go mod download -json "k8s.io/kubernetes@v$version" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
etcd=$(awk '$1 == "go.etcd.io/etcd/server/v3" { print $2 }' "$kubernetes_mod")

for cmd in etcd kube-apiserver kube-controller-manager kube-scheduler; do
	mkdir -p "$cmd"
	cp "$root/test/cluster/tools/$cmd/main.go" "$cmd/"
done
{
	echo "module stepwise.dev/compat-tools"
	echo
	echo "go 1.26.0"
	echo
	echo "require ("
	echo "	go.etcd.io/etcd/server/v3 $etcd"
	echo "	k8s.io/component-base $staging"
	echo "	k8s.io/kubernetes v$version"
	echo ")"
	echo
	echo "// k8s.io/kubernetes replaces its staging modules with local paths; use the published ones."
	echo "replace ("
	awk -v v="$staging" '$2 == "=>" && $3 ~ /^\.\/staging\// { printf "\t%s => %s %s\n", $1, $1, v }' "$kubernetes_mod"
	echo ")"
} >go.mod
go mod tidy
go build -ldflags=-s -o "$dir/bin/" ./...
for tool in kwok prometheus helm controller-gen; do
	ln -sf "$root/.local/bin/$tool" "$dir/bin/$tool"
done
echo "$version" >"$dir/bin/.version"
