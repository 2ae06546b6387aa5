#!/usr/bin/env bash
# Builds the integration testbed from Go modules, each component into its own
# cache directory outside the repository, keyed by its version, with its own
# .complete stamp (a warm cache makes this a no-op):
#   k8s-<k8s>-kwok-<kwok>/bin   kube-apiserver, kube-controller-manager,
#                               kube-scheduler, kubectl, etcd (one wrapper
#                               module) and kwok
#   mpi-operator-<v>-port/bin   the MPI Operator (MPIJob v2beta1), with its
#                               health-check port taken from
#                               MPI_OPERATOR_HEALTH_PORT (upstream fixes it at
#                               8080, which would allow one testbed a machine)
#   metrics-server-<v>/bin      metrics-server (the metrics.k8s.io API)
#   kwok-<kwok>-crds            kwok's CRDs (Logs, ClusterLogs, ResourceUsage,
#                               ...), copied from the kwok module
#   dask-kubernetes-<v>/venv    a Python venv with the dask-kubernetes package,
#                               whose Dask operator (a kopf controller) the
#                               testbed runs ($PYTHON makes it, default python3)
#
#   tests/cluster/build.sh            build (or reuse); print "<component> <bin dir>" lines
#   MLCTL_TESTBED_CACHE=DIR ...       choose the cache root
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.34.4}"
KWOK_VERSION="${KWOK_VERSION:-v0.7.0}"
MPI_OPERATOR_VERSION="${MPI_OPERATOR_VERSION:-v0.7.0}"
METRICS_SERVER_VERSION="${METRICS_SERVER_VERSION:-v0.8.0}"
# The Dask CRDs in crds/ come from this release.
DASK_KUBERNETES_VERSION="${DASK_KUBERNETES_VERSION:-2025.4.3}"
CACHE_ROOT="${MLCTL_TESTBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mlctl-testbed}"
BIN="$CACHE_ROOT/k8s-$K8S_VERSION-kwok-$KWOK_VERSION/bin"
# "-port": built with the wrapper below, whose health port is not fixed.
MPI_BIN="$CACHE_ROOT/mpi-operator-$MPI_OPERATOR_VERSION-port/bin"
METRICS_BIN="$CACHE_ROOT/metrics-server-$METRICS_SERVER_VERSION/bin"
KWOK_CRDS="$CACHE_ROOT/kwok-$KWOK_VERSION-crds"
DASK_VENV="$CACHE_ROOT/dask-kubernetes-$DASK_KUBERNETES_VERSION/venv"

log() { echo "[testbed build] $*" >&2; }

need_go() {
  if ! command -v go >/dev/null 2>&1; then
    echo "error: the integration testbed is built from Go modules and needs Go (1.24 or newer) on PATH" >&2
    exit 3
  fi
}

# go_build DIR NAME MODULE VERSION PACKAGE [MAIN_GO]: one binary, built in a
# wrapper module that requires MODULE@VERSION (`go install pkg@version` would
# also ask the module proxy for the module's version list, which it may
# refuse). With MAIN_GO, that text is the wrapper's own main package and
# PACKAGE is ".".
go_build() {
  local dir="$1" name="$2" mod="$3" version="$4" pkg="$5" main_go="${6:-}" t0 tmp
  [ -f "$dir/.complete" ] && return 0
  need_go
  t0=$(date +%s)
  mkdir -p "$dir"
  tmp="$(mktemp -d)"
  log "building $pkg ($mod@$version)"
  (
    cd "$tmp"
    go mod init mlctl.local/testbed-extra >/dev/null 2>&1
    go mod edit -require "$mod@$version"
    [ -z "$main_go" ] || printf '%s\n' "$main_go" > main.go
    CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false" go build -trimpath -ldflags "-s -w" -o "$dir/$name" "$pkg"
  ) || { rm -rf "$tmp"; echo "error: cannot build $pkg from $mod@$version" >&2; exit 4; }
  rm -rf "$tmp"
  [ -x "$dir/$name" ] || { echo "error: $name was not built" >&2; exit 4; }
  log "built $name in $(( $(date +%s) - t0 ))s; $(du -sh "$dir" | cut -f1) in $dir"
  touch "$dir/.complete"
}

kwok_crds() {
  local dir
  [ -f "$KWOK_CRDS/.complete" ] && return 0
  need_go
  dir="$(cd / && go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
  [ -d "$dir/kustomize/crd/bases" ] || { echo "error: cannot download sigs.k8s.io/kwok@$KWOK_VERSION" >&2; exit 4; }
  mkdir -p "$KWOK_CRDS"
  cp "$dir"/kustomize/crd/bases/*.yaml "$KWOK_CRDS/"
  chmod u+w "$KWOK_CRDS"/*.yaml
  touch "$KWOK_CRDS/.complete"
}

dask_venv() {
  local python="${PYTHON:-python3}" t0
  [ -f "$DASK_VENV/.complete" ] && return 0
  t0=$(date +%s)
  log "creating $DASK_VENV (dask-kubernetes $DASK_KUBERNETES_VERSION)"
  rm -rf "$DASK_VENV"
  "$python" -m venv "$DASK_VENV" >&2 || { echo "error: $python cannot create a venv" >&2; exit 5; }
  "$DASK_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "dask-kubernetes==$DASK_KUBERNETES_VERSION" >&2 \
    || { echo "error: cannot install dask-kubernetes==$DASK_KUBERNETES_VERSION into $DASK_VENV" >&2; exit 5; }
  log "created the Dask operator venv in $(( $(date +%s) - t0 ))s"
  touch "$DASK_VENV/.complete"
}

# The MPI Operator's own main, except that the health-check port (a package
# variable upstream, 8080) comes from MPI_OPERATOR_HEALTH_PORT, so that
# several testbeds can run on one machine.
MPI_OPERATOR_MAIN='package main

import (
	"flag"
	"os"
	"strconv"
	_ "unsafe"

	"github.com/kubeflow/mpi-operator/cmd/mpi-operator/app"
	"github.com/kubeflow/mpi-operator/cmd/mpi-operator/app/options"
	"k8s.io/klog/v2"
)

//go:linkname healthCheckPort github.com/kubeflow/mpi-operator/cmd/mpi-operator/app.healthCheckPort
var healthCheckPort int

func main() {
	if port, err := strconv.Atoi(os.Getenv("MPI_OPERATOR_HEALTH_PORT")); err == nil {
		healthCheckPort = port
	}
	klog.InitFlags(nil)
	s := options.NewServerOption()
	s.AddFlags(flag.CommandLine)
	flag.Parse()
	if err := app.Run(s); err != nil {
		klog.Fatalf("%v\n", err)
	}
}'

build_extras() {
  kwok_crds
  dask_venv
  go_build "$MPI_BIN" mpi-operator github.com/kubeflow/mpi-operator "$MPI_OPERATOR_VERSION" . "$MPI_OPERATOR_MAIN"
  go_build "$METRICS_BIN" metrics-server sigs.k8s.io/metrics-server "$METRICS_SERVER_VERSION" \
    sigs.k8s.io/metrics-server/cmd/metrics-server
}

report() {
  echo "kwok-crds $KWOK_CRDS"
  echo "dask-venv $DASK_VENV"
  echo "mpi-operator $MPI_BIN"
  echo "metrics-server $METRICS_BIN"
  echo "k8s $BIN"
}

# The control plane (k8s) has its own stamp: the extras never rebuild it.
if [ -f "$BIN/.complete" ]; then
  build_extras
  report
  exit 0
fi
STAMP="$BIN/.complete"
need_go
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
cd /
build_extras
report
