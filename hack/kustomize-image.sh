#!/usr/bin/env bash
# Renders a kustomize directory with the manager image replaced through kustomize's
# own image transformer (no sed): it writes a throwaway overlay whose `images`
# entry maps ghcr.io/cxops/cxops to IMAGE, and runs `kubectl kustomize` on it.
#
#   hack/kustomize-image.sh IMAGE [DIR]     # DIR defaults to config/default
#
# IMAGE is name[:tag] or name@sha256:digest.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
img="${1:?usage: $0 IMAGE [DIR]}"
dir="$(cd "${2:-$root/config/default}" && pwd)"

name="$img" tag="" digest=""
if [[ "$img" == *@* ]]; then
  name="${img%@*}" digest="${img#*@}"
elif [[ "${img##*/}" == *:* ]]; then
  name="${img%:*}" tag="${img##*:}"
fi
[[ -n "$name" && "$name" != *[[:space:]]* ]] || { echo "invalid image: $img" >&2; exit 2; }

# kustomize takes only relative paths to other kustomizations: the overlay lives
# next to the tree (git-ignored) and is removed on exit.
tmp="$(mktemp -d "$root/.kustomize-image.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
{
  echo "apiVersion: kustomize.config.k8s.io/v1beta1"
  echo "kind: Kustomization"
  echo "resources:"
  echo "  - $(realpath --relative-to="$tmp" "$dir")"
  echo "images:"
  echo "  - name: ghcr.io/cxops/cxops"
  echo "    newName: \"$name\""
  [[ -n "$tag" ]] && echo "    newTag: \"$tag\""
  [[ -n "$digest" ]] && echo "    digest: \"$digest\""
  true
} > "$tmp/kustomization.yaml"
kubectl kustomize "$tmp"
