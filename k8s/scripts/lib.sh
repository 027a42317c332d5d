# shellcheck shell=bash
# Shared helpers of the k8s/scripts: sourced, never run. Pure bash, so the
# prerequisite checks work even when PATH lacks every tool.

SCRIPT_NAME="${0##*/}"

die() {
  echo "$SCRIPT_NAME: $*" >&2
  exit 1
}

info() {
  echo "$SCRIPT_NAME: $*" >&2
}

# require_tools TOOL...: exit naming every tool missing from PATH.
require_tools() {
  local missing=() tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    die "missing tools: ${missing[*]} (install them, or put them on PATH, and run again)"
  fi
}

# require_env VAR...: exit naming every setting that is unset or empty.
require_env() {
  local missing=() var
  for var in "$@"; do
    [ -n "${!var:-}" ] || missing+=("$var")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    die "missing settings: ${missing[*]} (set them in the environment and run again)"
  fi
}

# The repository root and k8s/ folder, from the location of the calling script.
scripts_dir() {
  local src="${BASH_SOURCE[1]}"
  case "$src" in
    */*) (cd "${src%/*}" && pwd) ;;
    *) pwd ;;
  esac
}
