#!/usr/bin/env bash
# Configure Harbor for KubeKloud through its API, then give the cluster pull
# access. Safe to run again: every step looks before it creates.
#   1. project HARBOR_PROJECT (private, images scanned on push);
#   2. a robot account allowed to pull from it;
#   3. the kubernetes.io/dockerconfigjson Secret harbor-regcred in the
#      kubekloud-api namespace, holding the robot's credentials.
# The robot's secret is shown by Harbor only when created or refreshed, so an
# existing robot is refreshed when harbor-regcred is missing.
#
# Required settings:
#   HARBOR_ADMIN_PASSWORD   the Harbor admin password
# Optional:
#   HARBOR_URL              Harbor's API base (default http://harbor.local:30002)
#   HARBOR_REGISTRY         registry host:port in image names (default harbor.local:30002)
#   HARBOR_PROJECT          default kubekloud
#   HARBOR_ROBOT_NAME       default kubekloud-puller
#   KUBEKLOUD_NAMESPACE     default kubekloud-api
#   ROTATE_ROBOT_SECRET     yes: refresh the robot's secret and the Secret even if both exist
set -euo pipefail
case "${BASH_SOURCE[0]}" in */*) here="${BASH_SOURCE[0]%/*}" ;; *) here=. ;; esac
# shellcheck source=lib.sh
source "$here/lib.sh"

require_tools curl jq kubectl mktemp rm
require_env HARBOR_ADMIN_PASSWORD

harbor_url="${HARBOR_URL:-http://harbor.local:30002}"
registry="${HARBOR_REGISTRY:-harbor.local:30002}"
project="${HARBOR_PROJECT:-kubekloud}"
robot="${HARBOR_ROBOT_NAME:-kubekloud-puller}"
namespace="${KUBEKLOUD_NAMESPACE:-kubekloud-api}"
k8s_dir="$(cd "$here/.." && pwd)"
api="$harbor_url/api/v2.0"

# Credentials in a private netrc file, never on a command line.
umask 077
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
host="${harbor_url#*://}"
host="${host%%/*}"
host="${host%%:*}"
printf 'machine %s login admin password %s\n' "$host" "$HARBOR_ADMIN_PASSWORD" >"$work/netrc"

# harbor METHOD PATH [JSON]: prints the body, returns non-zero on HTTP >= 400.
harbor() {
  local method="$1" path="$2" body="${3:-}" code
  local args=(--silent --show-error --netrc-file "$work/netrc" -X "$method" -H 'Accept: application/json'
    -o "$work/body" -w '%{http_code}')
  if [ -n "$body" ]; then args+=(-H 'Content-Type: application/json' --data-binary "$body"); fi
  code="$(curl "${args[@]}" "$api$path")" || die "cannot reach Harbor at $harbor_url"
  cat "$work/body"
  [ "$code" -lt 400 ] || { echo >&2; info "$method $path answered HTTP $code"; return 1; }
}

info "checking Harbor at $harbor_url"
harbor GET /users/current >/dev/null || die "Harbor refused admin with HARBOR_ADMIN_PASSWORD (or is not ready)"

if [ "$(harbor GET "/projects?name=$project" | jq --arg p "$project" '[.[] | select(.name == $p)] | length')" = "0" ]; then
  info "creating project $project"
  harbor POST /projects "$(jq -cn --arg p "$project" '{project_name: $p, metadata: {public: "false", auto_scan: "true"}}')" >/dev/null
else
  info "project $project exists"
fi

full_name="robot\$$project+$robot"
robot_id="$(harbor GET "/robots?page_size=100&q=name%3D~$robot" | jq -r --arg n "$full_name" '[.[] | select(.name == $n)][0].id // empty')"
have_secret=no
if kubectl -n "$namespace" get secret harbor-regcred >/dev/null 2>&1; then have_secret=yes; fi

secret=""
if [ -z "$robot_id" ]; then
  info "creating robot account $full_name (pull only)"
  secret="$(harbor POST /robots "$(jq -cn --arg p "$project" --arg r "$robot" '{
      name: $r, level: "project", duration: -1, description: "KubeKloud image pulls",
      permissions: [{kind: "project", namespace: $p, access: [{resource: "repository", action: "pull"}]}]}')" |
    jq -r '.secret')"
elif [ "$have_secret" = no ] || [ "${ROTATE_ROBOT_SECRET:-no}" = yes ]; then
  info "refreshing the secret of robot account $full_name"
  secret="$(harbor PATCH "/robots/$robot_id" '{}' | jq -r '.secret')"
else
  info "robot account $full_name and Secret $namespace/harbor-regcred exist; nothing to do (ROTATE_ROBOT_SECRET=yes renews them)"
fi

if [ -n "$secret" ]; then
  [ "$secret" != null ] || die "Harbor did not return the robot's secret"
  kubectl apply --server-side --field-manager=kubekloud-deploy -f "$k8s_dir/base/namespace.yaml" >/dev/null
  jq -n --arg s "$registry" --arg u "$full_name" --arg p "$secret" \
    '{auths: {($s): {username: $u, password: $p, auth: (($u + ":" + $p) | @base64)}}}' >"$work/dockerconfig.json"
  kubectl -n "$namespace" create secret generic harbor-regcred \
    --type=kubernetes.io/dockerconfigjson \
    --from-file=.dockerconfigjson="$work/dockerconfig.json" \
    --dry-run=client -o yaml | kubectl apply --server-side --force-conflicts --field-manager=kubekloud-deploy -f -
  info "Secret $namespace/harbor-regcred holds the credentials of $full_name"
fi
