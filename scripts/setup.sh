#!/usr/bin/env bash
# Idempotent set-up for a fresh machine: PowerDNS (Debian packages) and a virtualenv with Bascule and its
# dev tools. `make drill` and `make test` call it; running it again is fast when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

# postgresql-15 gives the data sandbox its servers (initdb, postgres); its package also creates the `postgres` user
# the servers run as when this script and CI run as root (initdb refuses root).
# chromium renders the HTML reports in the browser tests (driven by Playwright, which brings no browser of its own).
# jq reads `bascule ... --format json` in the tests as scripts and workflows do.
# pebble (Let's Encrypt's ACME test server) and lego (the ACME client inside pulumiverse-acme) give the sandbox's
# secondary its certificate by DNS-01 through the sandbox's PowerDNS (`bascule sandbox up --acme`).
# prometheus brings promtool, which checks docs/alerts.yml (`promtool check rules`); its server is stopped below.
if ! command -v pdns_server >/dev/null 2>&1 || ! ls /usr/lib/*/pdns/libbindbackend.so >/dev/null 2>&1 \
   || ! ls /usr/lib/*/pdns/libgsqlite3backend.so >/dev/null 2>&1 || ! command -v pdns_recursor >/dev/null 2>&1 \
   || ! command -v chromium >/dev/null 2>&1 || [ ! -x /usr/lib/postgresql/15/bin/initdb ] \
   || ! command -v jq >/dev/null 2>&1 || ! command -v pebble >/dev/null 2>&1 || ! command -v lego >/dev/null 2>&1 \
   || ! command -v promtool >/dev/null 2>&1; then
  echo "setup: installing pdns-server, pdns-backend-bind, pdns-backend-sqlite3, pdns-recursor, chromium, postgresql-15, jq, pebble, lego, prometheus (Debian packages)"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq pdns-server pdns-backend-bind pdns-backend-sqlite3 pdns-recursor \
    chromium postgresql-15 jq pebble lego prometheus >/dev/null
  # The packages may start system-wide servers; the sandbox runs its own, so stop those.
  if command -v systemctl >/dev/null 2>&1; then
    $SUDO systemctl disable --now pdns pdns-recursor postgresql prometheus >/dev/null 2>&1 || true
  fi
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  python3 -m venv .venv
fi
stamp=.venv/.bascule-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing Bascule and its dependencies into .venv (the cloud SDKs take a few minutes once)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[dev]"
  touch "$stamp"
fi
