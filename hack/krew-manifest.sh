#!/usr/bin/env bash
# Prints the krew manifest of kubectl-cx for VERSION: plugins/krew/cx.yaml with its
# placeholders (@VERSION@, @SHA256_<os>_<arch>@) replaced from CHECKSUMS, the
# sha256sum output of the release archives (hack/release.sh). Fails when an
# archive's checksum is missing.
#
#   hack/krew-manifest.sh VERSION CHECKSUMS
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
version="${1:?usage: $0 VERSION CHECKSUMS}"
sums="${2:?usage: $0 VERSION CHECKSUMS}"
[[ "$version" =~ ^v[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$ ]] || { echo "version $version is not vX.Y.Z" >&2; exit 2; }

manifest="$(sed "s/@VERSION@/$version/g" "$root/plugins/krew/cx.yaml")"
for platform in linux_amd64 linux_arm64 darwin_amd64 darwin_arm64; do
  archive="kubectl-cx_${version}_${platform}.tar.gz"
  sum="$(awk -v f="$archive" '$2 == f {print $1}' "$sums")"
  [[ "$sum" =~ ^[0-9a-f]{64}$ ]] || { echo "no sha256 for $archive in $sums" >&2; exit 1; }
  manifest="${manifest//@SHA256_${platform}@/$sum}"
done
printf '%s\n' "$manifest"
