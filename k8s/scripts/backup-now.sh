#!/usr/bin/env bash
# Take a database backup now, outside the daily schedule: starts a Job from
# the CronJob kubekloud-db-backup and waits for it. Before an upgrade or a
# risky change, run this and keep the name it prints.
#
# Optional settings:
#   KUBEKLOUD_NAMESPACE   default kubekloud-api
#   BACKUP_TIMEOUT        default 15m
#   KUBECONFIG            as for kubectl
set -euo pipefail
case "${BASH_SOURCE[0]}" in */*) here="${BASH_SOURCE[0]%/*}" ;; *) here=. ;; esac
# shellcheck source=lib.sh
source "$here/lib.sh"

require_tools kubectl date
namespace="${KUBEKLOUD_NAMESPACE:-kubekloud-api}"
kubectl -n "$namespace" get cronjob kubekloud-db-backup >/dev/null 2>&1 ||
  die "CronJob $namespace/kubekloud-db-backup not found (deploy first, or check KUBECONFIG)"

job="kubekloud-db-backup-manual-$(date -u +%Y%m%d%H%M%S)"
kubectl -n "$namespace" create job "$job" --from=cronjob/kubekloud-db-backup >/dev/null
info "started Job $namespace/$job"
if ! kubectl -n "$namespace" wait --for=condition=complete "job/$job" --timeout="${BACKUP_TIMEOUT:-15m}"; then
  kubectl -n "$namespace" logs "job/$job" --tail=50 >&2 || true
  die "backup Job $job did not complete"
fi
kubectl -n "$namespace" logs "job/$job"
