#!/usr/bin/env bash
# Everything in one go, from a cluster without KubeKloud to a serving API:
#   Harbor (install + configure) -> image (build + push) -> secrets -> manifests
#   -> rollout -> address of the API. Safe to run again: every step is idempotent.
#
# Required settings: those of the steps that run, checked before anything
# changes --
#   harbor-install.sh:   HARBOR_ADMIN_PASSWORD HARBOR_SECRET_KEY HARBOR_DB_PASSWORD
#   harbor-configure.sh: HARBOR_ADMIN_PASSWORD
#   build-push.sh:       HARBOR_USERNAME HARBOR_PASSWORD (default: admin and HARBOR_ADMIN_PASSWORD)
# Optional:
#   OVERLAY              dev or prod (default prod; prod needs the Prometheus Operator CRDs)
#   SKIP_HARBOR=yes      Harbor is already installed and configured
#   SKIP_BUILD=yes       the image is already in Harbor
#   KUBEKLOUD_ADMIN_TOKEN  bootstrap admin token for new secret files (default: generated)
#   KUBECONFIG           as for kubectl
#
# The secret inputs k8s/base/secrets/api.env and postgres.env are generated
# with random values when absent (mode 0600, ignored by git) and kept after.
set -euo pipefail
case "${BASH_SOURCE[0]}" in */*) here="${BASH_SOURCE[0]%/*}" ;; *) here=. ;; esac
# shellcheck source=lib.sh
source "$here/lib.sh"

overlay="${OVERLAY:-prod}"
skip_harbor="${SKIP_HARBOR:-no}"
skip_build="${SKIP_BUILD:-no}"

tools=(kubectl od tr grep)
settings=()
if [ "$skip_harbor" != yes ]; then
  tools+=(helm curl jq)
  settings+=(HARBOR_ADMIN_PASSWORD HARBOR_SECRET_KEY HARBOR_DB_PASSWORD)
fi
if [ "$skip_build" != yes ]; then
  tools+=("${DOCKER:-docker}" git sed)
  export HARBOR_USERNAME="${HARBOR_USERNAME:-admin}"
  export HARBOR_PASSWORD="${HARBOR_PASSWORD:-${HARBOR_ADMIN_PASSWORD:-}}"
  settings+=(HARBOR_PASSWORD)
fi
require_tools "${tools[@]}"
if [ "${#settings[@]}" -gt 0 ]; then require_env "${settings[@]}"; fi
case "$overlay" in dev | prod) ;; *) die "OVERLAY must be dev or prod (got '$overlay')" ;; esac

k8s_dir="$(cd "$here/.." && pwd)"
kubectl cluster-info >/dev/null 2>&1 || die "kubectl cannot reach a cluster (check KUBECONFIG)"
if [ "$overlay" = prod ]; then
  for crd in servicemonitors.monitoring.coreos.com prometheusrules.monitoring.coreos.com; do
    kubectl get crd "$crd" >/dev/null 2>&1 ||
      die "the prod overlay needs the Prometheus Operator CRD $crd (install the operator, or set OVERLAY=dev)"
  done
fi

if [ "$skip_harbor" != yes ]; then
  "$here/harbor-install.sh"
  "$here/harbor-configure.sh"
fi
if [ "$skip_build" != yes ]; then
  "$here/build-push.sh"
fi

# Secret inputs: random, URL-safe (hex) values, written once.
random_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }
secrets="$k8s_dir/base/secrets"
umask 077
if [ ! -f "$secrets/postgres.env" ] || [ ! -f "$secrets/api.env" ]; then
  if [ -f "$secrets/postgres.env" ] || [ -f "$secrets/api.env" ]; then
    die "only one of $secrets/api.env and postgres.env exists; supply both or neither"
  fi
  info "generating $secrets/postgres.env and api.env"
  db_password="$(random_hex 24)"
  printf 'POSTGRES_USER=kubekloud\nPOSTGRES_PASSWORD=%s\nPOSTGRES_DB=kubekloud\n' "$db_password" >"$secrets/postgres.env"
  printf 'DATABASE_URL=postgres://kubekloud:%s@postgres-service:5432/kubekloud\nKUBEKLOUD_ADMIN_TOKEN=%s\n' \
    "$db_password" "${KUBEKLOUD_ADMIN_TOKEN:-kk-admin-$(random_hex 24)}" >"$secrets/api.env"
  info "the bootstrap admin token is in $secrets/api.env (KUBEKLOUD_ADMIN_TOKEN)"
fi
if grep -q CHANGE_ME "$secrets/api.env" "$secrets/postgres.env"; then
  die "$secrets/api.env or postgres.env still holds CHANGE_ME placeholders"
fi

info "applying overlays/$overlay"
kubectl apply --server-side --field-manager=kubekloud-deploy -k "$k8s_dir/overlays/$overlay"
kubectl -n kubekloud-api rollout status deployment/postgres --timeout=10m
kubectl -n kubekloud-api rollout status deployment/kubekloud-api --timeout=10m

address="$(kubectl -n kubekloud-api get service kubekloud-api-service \
  -o jsonpath='{.status.loadBalancer.ingress[0].ip}{.status.loadBalancer.ingress[0].hostname}')"
if [ -n "$address" ]; then
  info "KubeKloud is up: curl http://$address/health"
else
  info "KubeKloud is up; the LoadBalancer has no address yet (kubectl -n kubekloud-api get svc kubekloud-api-service -w)."
  info "meanwhile: kubectl -n kubekloud-api port-forward svc/kubekloud-api-service 8080:80 && curl http://127.0.0.1:8080/health"
fi
