#!/usr/bin/env bash
# Creates (once) the cached virtualenv used by nbpipe's Python verification tier:
# real Airflow 3 (DagBag, and the Git DAG bundle scripts/airflow.sh runs), ruff,
# black, PySpark, the Ilum job API and jupytext.
#
#   scripts/pyenv.sh            -> builds or reuses the venv, prints its path last
#
# The venv lives at ${NBPIPE_CACHE:-$HOME/.cache/nbpipe}/venv. A stamp file in it
# holds the sha256 of scripts/requirements-test.txt; when it matches (and the
# venv's python runs) the script does nothing. pip's output goes to
# $NBPIPE_CACHE/pip.log; its tail is printed on failure.
# NBPIPE_PYTHON picks the interpreter (default python3; Python 3.11 expected).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
req="$here/requirements-test.txt"
cache="${NBPIPE_CACHE:-$HOME/.cache/nbpipe}"
venv="$cache/venv"
stamp="$venv/.nbpipe-requirements.sha256"
log="$cache/pip.log"
python="${NBPIPE_PYTHON:-python3}"

mkdir -p "$cache"
want="$(sha256sum "$req" | cut -d' ' -f1)"

up_to_date() {
    [[ -f "$stamp" ]] && [[ "$(cat "$stamp")" == "$want" ]] &&
        "$venv/bin/python" -c 'import sys' >/dev/null 2>&1
}

if up_to_date; then
    echo "$venv"
    exit 0
fi

# One builder at a time (two parallel test jobs on a cold machine).
if command -v flock >/dev/null 2>&1; then
    exec 9>"$cache/.lock"
    flock 9
    if up_to_date; then
        echo "$venv"
        exit 0
    fi
fi

fail() {
    echo "pyenv.sh: $1 (log: $log)" >&2
    if [[ -f "$log" ]]; then
        echo "---- last 40 lines of $log ----" >&2
        tail -n 40 "$log" >&2
    fi
    exit 1
}

echo "pyenv.sh: building $venv (first run takes about 1-2 minutes)" >&2
start=$SECONDS
rm -rf "$venv"
: >"$log"
"$python" -m venv "$venv" >>"$log" 2>&1 || fail "python -m venv failed"
PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/python" -m pip install \
    --no-input --progress-bar off -r "$req" >>"$log" 2>&1 ||
    fail "pip install failed"

# Smoke test: every import the checks rely on. AIRFLOW_HOME goes to a throwaway
# dir so importing airflow does not write ~/airflow.
smoke_home="$(mktemp -d)"
AIRFLOW_HOME="$smoke_home" "$venv/bin/python" - >>"$log" 2>&1 <<'EOF' || { rm -rf "$smoke_home"; fail "smoke import failed"; }
import airflow
import pyspark
from airflow.dag_processing.dagbag import DagBag  # noqa: F401
from airflow.providers.apache.livy.hooks.livy import LivyHook  # noqa: F401
from airflow.providers.git.bundles.git import GitDagBundle  # noqa: F401
from airflow.providers.standard.operators.python import PythonOperator  # noqa: F401
from airflow.sdk import DAG, Param  # noqa: F401
from ilum.api import IlumJob  # noqa: F401
import jupytext  # noqa: F401

print("smoke ok: airflow", airflow.__version__, "pyspark", pyspark.__version__)
EOF
rm -rf "$smoke_home"
"$venv/bin/ruff" --version >>"$log" 2>&1 || fail "ruff missing"
"$venv/bin/black" --version >>"$log" 2>&1 || fail "black missing"

echo "$want" >"$stamp"
echo "pyspark/airflow venv ready in $((SECONDS - start))s" >&2
echo "$venv"
