#!/usr/bin/env bash
# Builds the test control plane (kube-apiserver and etcd) from Go modules and caches
# the binaries by version outside the clone. The usual envtest download needs the
# internet; the Go module proxy is all this needs.
#
# Usage: hack/setup-envtest.sh            # build if missing, print the assets directory
# The last line printed on stdout is the directory to use as KUBEBUILDER_ASSETS.
# Progress goes to stderr.
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-v3.7.3}"
CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/cxops/envtest"
ASSETS="${CACHE_ROOT}/k8s-${KUBE_VERSION}-etcd-${ETCD_VERSION}"

log() { printf '[setup-envtest] %s\n' "$*" >&2; }

# Staging modules are released as v0.X.Y alongside Kubernetes v1.X.Y.
STAGING_VERSION="v0${KUBE_VERSION#v1}"

export GOWORK=off GOFLAGS="-buildvcs=false" CGO_ENABLED=0 GOTOOLCHAIN=local

mkdir -p "${CACHE_ROOT}"
# One builder at a time: parallel test runs wait here instead of building twice.
exec 9>"${CACHE_ROOT}/.lock"
flock 9

build_apiserver() {
  local out="$1" work
  work="$(mktemp -d "${CACHE_ROOT}/build-apiserver.XXXXXX")"
  log "building kube-apiserver ${KUBE_VERSION} from k8s.io/kubernetes (first time only, ~8 minutes on 2 cores)"
  (
    cd "${work}"
    cat > main.go <<'GO'
// Command kube-apiserver is the upstream API server, built from Go modules for tests.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
GO
    go mod init cxops.local/kube-apiserver >/dev/null 2>&1
    log "resolving the k8s.io staging modules of ${KUBE_VERSION}"
    local gomod
    gomod="$(go mod download -json "k8s.io/kubernetes@${KUBE_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
    # Every "k8s.io/x => ./staging/src/k8s.io/x" replace in kubernetes' go.mod becomes
    # "k8s.io/x => k8s.io/x v0.X.Y" here.
    local mods
    mods="$(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\1#p' "${gomod}")"
    [ -n "${mods}" ] || { log "found no staging replaces in ${gomod}"; exit 1; }
    local args=(-require "k8s.io/kubernetes@${KUBE_VERSION}")
    for m in ${mods}; do
      args+=(-replace "${m}=${m}@${STAGING_VERSION}")
    done
    go mod edit "${args[@]}"
    log "downloading modules"
    go mod tidy >&2
    log "compiling"
    go build -trimpath -ldflags "-s -w \
      -X k8s.io/component-base/version.gitVersion=${KUBE_VERSION} \
      -X k8s.io/component-base/version.gitMajor=1 \
      -X k8s.io/component-base/version.gitMinor=$(echo "${KUBE_VERSION}" | cut -d. -f2)" \
      -o "${out}.tmp" . >&2
    mv "${out}.tmp" "${out}"
  )
  rm -rf "${work}"
}

build_etcd() {
  local out="$1" work
  work="$(mktemp -d "${CACHE_ROOT}/build-etcd.XXXXXX")"
  log "building etcd ${ETCD_VERSION} from go.etcd.io/etcd/server/v3 (first time only, ~1 minute)"
  (
    cd "${work}"
    cat > main.go <<'GO'
// Command etcd is the upstream etcd server, built from Go modules for tests.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
GO
    go mod init cxops.local/etcd >/dev/null 2>&1
    go mod edit -require "go.etcd.io/etcd/server/v3@${ETCD_VERSION}"
    go mod tidy >&2
    go build -trimpath -ldflags "-s -w" -o "${out}.tmp" . >&2
    mv "${out}.tmp" "${out}"
  )
  rm -rf "${work}"
}

mkdir -p "${ASSETS}"
if [ -x "${ASSETS}/etcd" ]; then
  log "etcd ${ETCD_VERSION}: cached in ${ASSETS}"
else
  build_etcd "${ASSETS}/etcd"
fi
if [ -x "${ASSETS}/kube-apiserver" ]; then
  log "kube-apiserver ${KUBE_VERSION}: cached in ${ASSETS}"
else
  build_apiserver "${ASSETS}/kube-apiserver"
fi
# envtest only runs kubectl when a test asks for it; link the one on PATH if any.
if [ ! -e "${ASSETS}/kubectl" ] && command -v kubectl >/dev/null 2>&1; then
  ln -sf "$(command -v kubectl)" "${ASSETS}/kubectl"
fi
echo "${ASSETS}"
