#!/usr/bin/env bash
# Cross-builds the release archives into OUT (make release):
#   kubectl-cx_VERSION_OS_ARCH.tar.gz and cxops-manager_VERSION_OS_ARCH.tar.gz for
#   linux and darwin on amd64 and arm64 (CGO_ENABLED=0, -trimpath), each holding the
#   binary, README.md and LICENSE (when the repository has one);
#   checksums.txt (sha256) and cx.yaml, the krew manifest with the checksums.
#
#   hack/release.sh VERSION OUT
#
# Both binaries report VERSION and the commit (COMMIT, else git rev-parse) in
# `manager --version` and `kubectl cx version` (internal/version, -ldflags -X).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
version="${1:?usage: $0 VERSION OUT}"
out="${2:?usage: $0 VERSION OUT}"
platforms="${PLATFORMS:-linux/amd64 linux/arm64 darwin/amd64 darwin/arm64}"
log() { printf '[release] %s\n' "$*" >&2; }

mkdir -p "$out"
out="$(cd "$out" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cd "$root"
commit="${COMMIT:-$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)}"
pkg=github.com/cxops/cxops/internal/version
ldflags="-s -w -X $pkg.Version=$version -X $pkg.Commit=$commit"
docs=(README.md)
[ -f LICENSE ] && docs+=(LICENSE) || log "no LICENSE file in the repository: archives carry README.md only"

for platform in $platforms; do
  os="${platform%/*}" arch="${platform#*/}"
  for bin in kubectl-cx manager; do
    name="$bin"; [ "$bin" = manager ] && name=cxops-manager
    dir="$work/${name}_${version}_${os}_${arch}"
    mkdir -p "$dir"
    log "building $name for $os/$arch"
    CGO_ENABLED=0 GOOS="$os" GOARCH="$arch" go build -trimpath -ldflags="$ldflags" -o "$dir/$bin" "./cmd/$bin"
    cp "${docs[@]}" "$dir/"
    # Reproducible archives: fixed owner, order and modification time.
    tar --sort=name --owner=0 --group=0 --numeric-owner --mtime='2000-01-01 00:00:00Z' \
      -C "$dir" -cf - "$bin" "${docs[@]}" | gzip -n > "$out/${name}_${version}_${os}_${arch}.tar.gz"
  done
done

(cd "$out" && sha256sum ./*.tar.gz | sed 's| \./| |' > checksums.txt)
hack/krew-manifest.sh "$version" "$out/checksums.txt" > "$out/cx.yaml"
log "wrote $(ls "$out" | wc -l) files to $out"
