#!/usr/bin/env bash
# Disaster recovery: restore the in-cluster API database from a dump on the
# kubekloud-backups volume.
#   1. a short-lived pod (restricted, no network) mounts the backups volume and
#      the chosen dump is copied out of it;
#   2. the API is scaled to zero so nothing writes during the restore;
#   3. PostgreSQL is reached through kubectl port-forward and restore-db.sh
#      replaces the database's content with the dump;
#   4. the API is scaled back to its previous replica count.
#
# Required settings:
#   CONFIRM_RESTORE      must be "yes": the current content of the database is replaced
# Optional:
#   BACKUP_NAME          file name on the volume (default: the newest kubekloud-*.dump)
#   BACKUP_FILE          a dump already on this machine (skips step 1)
#   KUBEKLOUD_NAMESPACE  default kubekloud-api
#   LOCAL_PORT           port for the port-forward (default 15432)
#   KUBECONFIG           as for kubectl
set -euo pipefail
case "${BASH_SOURCE[0]}" in */*) here="${BASH_SOURCE[0]%/*}" ;; *) here=. ;; esac
# shellcheck source=lib.sh
source "$here/lib.sh"

require_tools kubectl pg_restore psql base64 basename mktemp seq sleep
require_env CONFIRM_RESTORE
[ "$CONFIRM_RESTORE" = yes ] || die "CONFIRM_RESTORE must be yes (the database content will be replaced)"

namespace="${KUBEKLOUD_NAMESPACE:-kubekloud-api}"
port="${LOCAL_PORT:-15432}"
helper="kubekloud-restore-helper"
work="$(mktemp -d)"
pf_pid=""
api_replicas=""

cleanup() {
  [ -z "$pf_pid" ] || kill "$pf_pid" 2>/dev/null || true
  kubectl -n "$namespace" delete pod "$helper" --ignore-not-found --wait=false >/dev/null 2>&1 || true
  if [ -n "$api_replicas" ]; then
    info "scaling the API back to $api_replicas replicas"
    kubectl -n "$namespace" scale deployment/kubekloud-api --replicas="$api_replicas" >/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

kubectl -n "$namespace" get deployment postgres >/dev/null 2>&1 ||
  die "Deployment $namespace/postgres not found (deploy first, or check KUBECONFIG)"

if [ -n "${BACKUP_FILE:-}" ]; then
  dump="$BACKUP_FILE"
else
  info "starting $helper to read the kubekloud-backups volume"
  kubectl -n "$namespace" delete pod "$helper" --ignore-not-found --wait=true >/dev/null
  kubectl -n "$namespace" apply -f - >/dev/null <<POD
apiVersion: v1
kind: Pod
metadata:
  name: $helper
  labels: {app: kubekloud-restore-helper}
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  securityContext:
    runAsNonRoot: true
    runAsUser: 70
    runAsGroup: 70
    fsGroup: 70
    seccompProfile: {type: RuntimeDefault}
  containers:
    - name: helper
      image: postgres:16-alpine
      command: [sleep, "3600"]
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        capabilities: {drop: [ALL]}
      volumeMounts:
        - {name: backups, mountPath: /backups, readOnly: true}
  volumes:
    - name: backups
      persistentVolumeClaim: {claimName: kubekloud-backups}
POD
  kubectl -n "$namespace" wait --for=condition=Ready "pod/$helper" --timeout=5m >/dev/null
  name="${BACKUP_NAME:-$(kubectl -n "$namespace" exec "$helper" -- sh -c 'ls -1t /backups/kubekloud-*.dump 2>/dev/null | head -n 1 | xargs -r basename')}"
  [ -n "$name" ] || die "no kubekloud-*.dump on the kubekloud-backups volume"
  info "copying $name"
  dump="$work/$name"
  kubectl -n "$namespace" exec "$helper" -- cat "/backups/$name" >"$dump"
fi

secret="$(kubectl -n "$namespace" get deployment postgres -o jsonpath='{.spec.template.spec.containers[0].envFrom[0].secretRef.name}')"
field() { kubectl -n "$namespace" get secret "$secret" -o jsonpath="{.data.$1}" | base64 -d; }
db_user="$(field POSTGRES_USER)"
db_name="$(field POSTGRES_DB)"
PGPASSWORD="$(field POSTGRES_PASSWORD)"
export PGPASSWORD

api_replicas="$(kubectl -n "$namespace" get deployment kubekloud-api -o jsonpath='{.spec.replicas}')"
info "scaling the API to 0 (was $api_replicas) for the restore"
kubectl -n "$namespace" scale deployment/kubekloud-api --replicas=0 >/dev/null
kubectl -n "$namespace" wait --for=delete pod -l app=kubekloud-api --timeout=2m >/dev/null 2>&1 || true

kubectl -n "$namespace" port-forward svc/postgres-service "$port:5432" >"$work/port-forward.log" 2>&1 &
pf_pid=$!
for _ in $(seq 1 30); do
  if psql "postgres://$db_user@127.0.0.1:$port/$db_name" -X -A -t -c 'select 1' >/dev/null 2>&1; then break; fi
  sleep 1
done

BACKUP_FILE="$dump" TARGET_DATABASE_URL="postgres://$db_user@127.0.0.1:$port/$db_name" RESTORE_OVERWRITE=yes \
  "$here/restore-db.sh"
info "database restored from $(basename "$dump")"
