#!/usr/bin/env bash
# make setup: everything a fresh machine needs, installed only when missing. Idempotent; a warm run takes seconds.
#   1. Debian packages (Java 17, Maven, a compiler and libkrb5-dev for the hdfs provider, ss/ps, chromium)
#   2. .venv from requirements.txt + constraints.txt (re-done only when either file changes)
#   3. the stack's jars from devstack/pom.xml into .stack/jars/ (re-done only when the pom changes)
#   4. the Airflow metadata database in .airflow/
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PYTHON=${PYTHON:-python3}

log() { printf '\033[1msetup:\033[0m %s\n' "$*"; }

# --- 1. Debian packages ------------------------------------------------------------------------------
need_pkgs=()
command -v java >/dev/null 2>&1 || need_pkgs+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null 2>&1 || need_pkgs+=(maven)
command -v gcc >/dev/null 2>&1 || need_pkgs+=(build-essential)
command -v ss >/dev/null 2>&1 || need_pkgs+=(iproute2)
command -v ps >/dev/null 2>&1 || need_pkgs+=(procps)
# the mTLS client key and its certificate request (devstack/secure.py; keytool signs it)
command -v openssl >/dev/null 2>&1 || need_pkgs+=(openssl)
dpkg -s libkrb5-dev >/dev/null 2>&1 || need_pkgs+=(libkrb5-dev)
# the browser that tests/integration/test_ui.py drives with Playwright (`playwright install` can't download here)
command -v chromium >/dev/null 2>&1 || need_pkgs+=(chromium)
"$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1 || need_pkgs+=(python3-venv)
if ((${#need_pkgs[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing Debian packages: ${need_pkgs[*]} - install them as root: apt-get install ${need_pkgs[*]}" >&2
    exit 1
  fi
  log "installing Debian packages: ${need_pkgs[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

# --- 2. Python virtual environment -------------------------------------------------------------------
want=$(cat requirements.txt constraints.txt | sha256sum | cut -d' ' -f1)
stamp=.venv/.requirements.sha256
if [[ ! -x .venv/bin/python || ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  log "creating .venv and installing requirements.txt (first time: several minutes, pyspark builds a wheel)"
  [[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements.txt -c constraints.txt
  echo "$want" >"$stamp"
else
  log ".venv up to date"
fi

# --- 3. JVM jars (Kafka broker + tools, HDFS, Spark's Kafka connector) ------------------------------------
.venv/bin/python -m devstack jars

# --- 3b. class-data-sharing archive for the Spark driver (spark-submit maps it instead of parsing the jars) --
.venv/bin/python -m devstack cds

# --- 4. Airflow metadata database --------------------------------------------------------------------
: "${AIRFLOW_HOME:=$ROOT/.airflow}"
export AIRFLOW_HOME
# landing/: where source_csv may come from besides include/data/ (docs/security.md#what-a-run-may-reach)
mkdir -p "$AIRFLOW_HOME/landing"
if [[ ! -f $AIRFLOW_HOME/.migrated || $AIRFLOW_HOME/.migrated -ot constraints.txt ]]; then
  log "initialising the Airflow database in $AIRFLOW_HOME"
  .venv/bin/airflow db migrate >"$AIRFLOW_HOME/db-migrate.log" 2>&1 || {
    tail -20 "$AIRFLOW_HOME/db-migrate.log" >&2
    exit 1
  }
  touch "$AIRFLOW_HOME/.migrated"
fi
log "ready"
