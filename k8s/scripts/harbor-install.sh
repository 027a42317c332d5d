#!/usr/bin/env bash
# Install (or upgrade) Harbor into harbor-system with Helm, using
# k8s/harbor/values.yaml. Safe to run again: helm upgrade --install.
#
# Required settings:
#   HARBOR_ADMIN_PASSWORD   the Harbor admin password (at least 8 characters,
#                           upper case, lower case and a digit)
#   HARBOR_SECRET_KEY       16 characters, encrypts Harbor's stored secrets
#   HARBOR_DB_PASSWORD      password of Harbor's internal PostgreSQL
# Optional:
#   HARBOR_CHART_VERSION    goharbor/harbor chart version (default 1.16.2)
#   HARBOR_EXTERNAL_URL     default http://harbor.local:30002
#   HELM_TIMEOUT            default 15m
#   KUBECONFIG              as for kubectl
set -euo pipefail
case "${BASH_SOURCE[0]}" in */*) here="${BASH_SOURCE[0]%/*}" ;; *) here=. ;; esac
# shellcheck source=lib.sh
source "$here/lib.sh"

require_tools helm kubectl mktemp rm
require_env HARBOR_ADMIN_PASSWORD HARBOR_SECRET_KEY HARBOR_DB_PASSWORD
[ "${#HARBOR_SECRET_KEY}" -eq 16 ] || die "HARBOR_SECRET_KEY must be exactly 16 characters (it has ${#HARBOR_SECRET_KEY})"
[ "${#HARBOR_ADMIN_PASSWORD}" -ge 8 ] || die "HARBOR_ADMIN_PASSWORD must be at least 8 characters"

chart_version="${HARBOR_CHART_VERSION:-1.16.2}"
external_url="${HARBOR_EXTERNAL_URL:-http://harbor.local:30002}"
k8s_dir="$(cd "$here/.." && pwd)"

kubectl cluster-info >/dev/null 2>&1 || die "kubectl cannot reach a cluster (check KUBECONFIG)"

info "namespace harbor-system"
kubectl apply --server-side --field-manager=kubekloud-deploy -f "$k8s_dir/harbor/namespace.yaml"

info "helm repository goharbor"
helm repo add harbor https://helm.goharbor.io --force-update >/dev/null
helm repo update harbor >/dev/null

# Secrets go to Helm in a private file, never on a command line.
umask 077
secrets="$(mktemp)"
trap 'rm -f "$secrets"' EXIT
cat >"$secrets" <<VALUES
externalURL: "$external_url"
harborAdminPassword: "$HARBOR_ADMIN_PASSWORD"
secretKey: "$HARBOR_SECRET_KEY"
database:
  internal:
    password: "$HARBOR_DB_PASSWORD"
VALUES

info "helm upgrade --install harbor (chart $chart_version)"
helm upgrade --install harbor harbor/harbor \
  --namespace harbor-system \
  --version "$chart_version" \
  --values "$k8s_dir/harbor/values.yaml" \
  --values "$secrets" \
  --wait --timeout "${HELM_TIMEOUT:-15m}"

kubectl -n harbor-system get pods
info "Harbor is up at $external_url (user admin)"
