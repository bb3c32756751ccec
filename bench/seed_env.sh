#!/usr/bin/env bash
# Build (once) and print the isolated virtualenv that holds the seed,
# jupyterlab-pipelines 0.1.0, pinned by bench/seed-requirements.txt.
#
#   venv="$(bench/seed_env.sh | tail -n 1)"
#
# Idempotent: the venv carries a stamp with the sha256 of the requirements file
# (and the interpreter version); a matching stamp and a working interpreter
# mean nothing is done. Otherwise the venv is rebuilt from scratch.
# Progress goes to stderr, pip's output to ${NBPIPE_CACHE}/seed-venv-pip.log,
# and the venv path is the last line on stdout.
#
# Env: NBPIPE_CACHE (default ~/.cache/nbpipe), PYTHON (default python3).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
req="$here/seed-requirements.txt"
cache="${NBPIPE_CACHE:-$HOME/.cache/nbpipe}"
venv="$cache/seed-venv"
stamp="$venv/.nbpipe-seed-stamp"
log="$cache/seed-venv-pip.log"
py="${PYTHON:-python3}"

log_msg() { printf 'seed_env: %s\n' "$*" >&2; }

[[ -f "$req" ]] || { log_msg "missing $req"; exit 1; }
command -v "$py" >/dev/null || { log_msg "no $py on PATH"; exit 1; }
mkdir -p "$cache"

want="$(sha256sum "$req" | cut -d' ' -f1) $("$py" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"

is_current() {
  [[ -f "$stamp" ]] && [[ "$(cat "$stamp")" == "$want" ]] &&
    "$venv/bin/python" -c 'from importlib.metadata import version
assert version("jupyterlab-pipelines") == "0.1.0"' >/dev/null 2>&1
}

# One builder at a time; a second caller waits, then finds the stamp current.
exec 9>"$cache/seed-venv.lock"
flock 9

if is_current; then
  log_msg "up to date: $venv"
else
  log_msg "building $venv (pip log: $log)"
  rm -rf "$venv"
  {
    echo "== $(date -u +%FT%TZ) building $venv"
    echo "== python: $("$py" -c 'import sys; print(sys.executable, sys.version)')"
    echo "== requirements sha256: ${want%% *}"
  } >"$log"
  if ! "$py" -m venv "$venv" >>"$log" 2>&1 ||
    ! "$venv/bin/python" -m pip install --disable-pip-version-check --no-input \
      -r "$req" >>"$log" 2>&1; then
    rm -rf "$venv"
    log_msg "pip failed; last lines of $log:"
    tail -n 20 "$log" >&2
    exit 1
  fi
  if ! "$venv/bin/python" -c 'import jupyterlab_pipelines.airflow_generator' >>"$log" 2>&1; then
    rm -rf "$venv"
    log_msg "installed, but jupyterlab_pipelines does not import; see $log"
    exit 1
  fi
  printf '%s\n' "$want" >"$stamp"
  log_msg "ready: $venv"
fi

printf '%s\n' "$venv"
