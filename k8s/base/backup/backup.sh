#!/usr/bin/env bash
# Logical backup of the KubeKloud database, run daily by the CronJob
# kubekloud-db-backup (k8s/base/backup-cronjob.yaml) and by the tests.
#
# Settings (environment):
#   PGHOST, PGDATABASE, PGUSER    required: the database to dump (libpq variables;
#                                 PGPORT and PGPASSWORD are read by pg_dump too)
#   BACKUP_DIR                    required: where dumps are written
#   BACKUP_RETENTION_DAYS         dumps older than this many days are deleted (default 7)
#
# Writes BACKUP_DIR/kubekloud-<UTC time>.dump (pg_dump custom format, restore
# with k8s/scripts/restore-db.sh) atomically, checks it can be read back, then
# records the time in BACKUP_DIR/last-success.
set -euo pipefail

fail() { echo "backup: $*" >&2; exit 1; }

missing=()
for tool in pg_dump pg_restore find date mv rm sed wc; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
[ "${#missing[@]}" -eq 0 ] || fail "missing tools: ${missing[*]}"
unset_vars=()
for var in PGHOST PGDATABASE PGUSER BACKUP_DIR; do
  [ -n "${!var:-}" ] || unset_vars+=("$var")
done
[ "${#unset_vars[@]}" -eq 0 ] || fail "missing settings: ${unset_vars[*]}"
retention="${BACKUP_RETENTION_DAYS:-7}"
if ! [[ "$retention" =~ ^[0-9]+$ ]] || [ "$retention" -lt 1 ]; then
  fail "BACKUP_RETENTION_DAYS must be a whole number of days >= 1 (got '$retention')"
fi
if ! [ -d "$BACKUP_DIR" ] || ! [ -w "$BACKUP_DIR" ]; then
  fail "BACKUP_DIR $BACKUP_DIR is not a writable directory"
fi

stamp="$(date -u +%Y%m%dT%H%M%SZ)"
final="$BACKUP_DIR/kubekloud-$stamp.dump"
partial="$final.partial"
trap 'rm -f "$partial"' EXIT

echo "backup: dumping database $PGDATABASE on $PGHOST to $final"
pg_dump --format=custom --compress=6 --no-owner --no-privileges --file="$partial"
# A dump that pg_restore cannot list is not a backup.
pg_restore --list "$partial" >/dev/null || fail "the dump just written cannot be read back"
mv "$partial" "$final"

# Retention: the dump just written is never older than a day, so at least one remains.
find "$BACKUP_DIR" -maxdepth 1 -type f -name 'kubekloud-*.dump' -mtime "+$((retention - 1))" -print -delete |
  sed 's/^/backup: deleted expired /'
find "$BACKUP_DIR" -maxdepth 1 -type f -name 'kubekloud-*.dump.partial' -mmin +120 -delete

date -u +%s >"$BACKUP_DIR/last-success.tmp"
mv "$BACKUP_DIR/last-success.tmp" "$BACKUP_DIR/last-success"
echo "backup: done, $(wc -c <"$final") bytes"
