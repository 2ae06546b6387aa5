#!/usr/bin/env bash
# Builds the control plane used by the integration tests from Go modules:
# kube-apiserver, kube-controller-manager, kube-scheduler, kubectl and etcd
# (one wrapper module), and kwok. Binaries land in a cache directory outside
# the repository, keyed by version; a warm cache makes this a no-op.
#
#   tests/cluster/build.sh            build (or reuse) and print the bin dir
#   MLCTL_TESTBED_CACHE=DIR ...       choose the cache root
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.34.4}"
KWOK_VERSION="${KWOK_VERSION:-v0.7.0}"
CACHE_ROOT="${MLCTL_TESTBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mlctl-testbed}"
BIN="$CACHE_ROOT/k8s-$K8S_VERSION-kwok-$KWOK_VERSION/bin"
STAMP="$BIN/.complete"

if [ -f "$STAMP" ]; then
  echo "$BIN"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "error: the integration testbed is built from Go modules and needs Go (1.24 or newer) on PATH" >&2
  exit 3
fi

log() { echo "[testbed build] $*" >&2; }
start=$(date +%s)
mkdir -p "$BIN"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

export CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false"
minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
staging_version="v0.${K8S_VERSION#v1.}"

log "resolving k8s.io/kubernetes@$K8S_VERSION"
gomod="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
[ -f "$gomod" ] || { echo "error: cannot download k8s.io/kubernetes@$K8S_VERSION" >&2; exit 4; }
etcd_version="$(awk '$1=="go.etcd.io/etcd/server/v3"{print $2; exit}' "$gomod")"

cd "$work"
go mod init mlctl.local/testbed >/dev/null 2>&1
go mod edit -require "k8s.io/kubernetes@$K8S_VERSION" -require "go.etcd.io/etcd/server/v3@$etcd_version"
# The kubernetes module replaces its staging modules with local paths; point
# every one of them at the published v0.X.Y module instead.
n=0
for mod in $(awk '$2=="=>" && $3 ~ /^\.\/staging\// {print $1}' "$gomod"); do
  go mod edit -replace "$mod=$mod@$staging_version"
  n=$((n+1))
done
log "replaced $n staging modules with $staging_version; etcd $etcd_version"

build_date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags="$ldflags -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags="$ldflags -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
done

log "building kube-apiserver kube-controller-manager kube-scheduler kubectl etcd (cold: 15-30 min)"
go build -trimpath -ldflags "$ldflags" -o "$BIN/" \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler \
  k8s.io/kubernetes/cmd/kubectl
go build -trimpath -ldflags "-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3

log "building kwok $KWOK_VERSION"
GOBIN="$BIN" GOFLAGS="-buildvcs=false" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"

for b in kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok; do
  [ -x "$BIN/$b" ] || { echo "error: $b was not built" >&2; exit 4; }
done
end=$(date +%s)
log "built in $((end-start))s; $(du -sh "$BIN" | cut -f1) in $BIN"
touch "$STAMP"
echo "$BIN"
