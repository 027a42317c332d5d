#!/usr/bin/env bash
# Build the API image from the repository's Dockerfile and push it to Harbor.
# Safe to run again: a rebuild of the same sources reuses the layer cache and
# the push only sends what the registry lacks.
#
# Required settings:
#   HARBOR_USERNAME, HARBOR_PASSWORD   an account allowed to push to the project
#                                      (admin, or a robot with push permission)
# Optional:
#   HARBOR_REGISTRY   registry host:port (default harbor.local:30002; the Docker
#                     daemon must trust it, see k8s/harbor/HARBOR_SETUP.md)
#   HARBOR_PROJECT    default kubekloud
#   IMAGE_TAG         default: the version in package.json, which the prod overlay deploys
#   DOCKER            the client to use (default docker; podman works too)
set -euo pipefail
case "${BASH_SOURCE[0]}" in */*) here="${BASH_SOURCE[0]%/*}" ;; *) here=. ;; esac
# shellcheck source=lib.sh
source "$here/lib.sh"

docker_cli="${DOCKER:-docker}"
require_tools "$docker_cli" git sed
require_env HARBOR_USERNAME HARBOR_PASSWORD

repo_root="$(cd "$here/../.." && pwd)"
registry="${HARBOR_REGISTRY:-harbor.local:30002}"
project="${HARBOR_PROJECT:-kubekloud}"
version="$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$repo_root/package.json")"
[ -n "$version" ] || die "cannot read the version from package.json"
tag="${IMAGE_TAG:-$version}"
revision="$(git -C "$repo_root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
image="$registry/$project/api"

"$docker_cli" info >/dev/null 2>&1 || die "$docker_cli cannot reach its daemon"

info "building $image:$tag (revision $revision)"
"$docker_cli" build \
  --label "org.opencontainers.image.version=$tag" \
  --label "org.opencontainers.image.revision=$revision" \
  -t "$image:$tag" -t "$image:git-$revision" \
  "$repo_root"

info "logging in to $registry as $HARBOR_USERNAME"
printf '%s' "$HARBOR_PASSWORD" | "$docker_cli" login "$registry" --username "$HARBOR_USERNAME" --password-stdin >/dev/null

"$docker_cli" push "$image:$tag"
"$docker_cli" push "$image:git-$revision"
info "pushed $image:$tag and $image:git-$revision"
