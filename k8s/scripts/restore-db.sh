#!/usr/bin/env bash
# Load a dump written by the backup job (k8s/base/backup/backup.sh, pg_dump
# custom format) into a database.
#
# Required settings:
#   BACKUP_FILE           the .dump file to load
#   TARGET_DATABASE_URL   postgres://user@host:port/database to load it into
#                         (PGPASSWORD is honoured, so the URL need not hold it)
# Optional:
#   RESTORE_OVERWRITE     yes: the target may already hold tables; objects of
#                         the dump are dropped and recreated. Without it the
#                         script refuses a non-empty target, so running it
#                         twice cannot silently merge two states.
set -euo pipefail
case "${BASH_SOURCE[0]}" in */*) here="${BASH_SOURCE[0]%/*}" ;; *) here=. ;; esac
# shellcheck source=lib.sh
source "$here/lib.sh"

require_tools pg_restore psql
require_env BACKUP_FILE TARGET_DATABASE_URL

if ! [ -f "$BACKUP_FILE" ] || ! [ -r "$BACKUP_FILE" ]; then
  die "BACKUP_FILE $BACKUP_FILE is not a readable file"
fi
pg_restore --list "$BACKUP_FILE" >/dev/null 2>&1 || die "BACKUP_FILE $BACKUP_FILE is not a pg_dump custom-format archive"

tables="$(psql "$TARGET_DATABASE_URL" -X -A -t -v ON_ERROR_STOP=1 -c \
  "select count(*) from pg_tables where schemaname not in ('pg_catalog', 'information_schema')")" ||
  die "cannot connect to TARGET_DATABASE_URL"

options=(--no-owner --no-privileges --exit-on-error --single-transaction)
if [ "$tables" != 0 ]; then
  [ "${RESTORE_OVERWRITE:-no}" = yes ] ||
    die "the target database already has $tables tables; set RESTORE_OVERWRITE=yes to replace them with the dump"
  options+=(--clean --if-exists)
fi

info "restoring $BACKUP_FILE"
pg_restore "${options[@]}" --dbname="$TARGET_DATABASE_URL" "$BACKUP_FILE"
info "restored; the target now has $(psql "$TARGET_DATABASE_URL" -X -A -t -c \
  "select count(*) from pg_tables where schemaname not in ('pg_catalog', 'information_schema')") tables"
