#!/usr/bin/env bash
# Prints the path of a CPython 3.12 for the differential syntax test (convert's
# check follows 3.12's grammar): pyenv's, else python3.12 on PATH, else
# CPython 3.12 compiled to WebAssembly (Pyodide 0.27.7, Python 3.12.7, from
# the npm registry), run by the machine's Node.js and installed once into
# ${NBPIPE_CACHE:-$HOME/.cache/nbpipe}/pyodide. NBPIPE_PYTHON312_PYODIDE=1
# skips the native interpreters (to test the fallback).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
is312() { "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' >/dev/null 2>&1; }

if [[ -z "${NBPIPE_PYTHON312_PYODIDE:-}" ]]; then
    for p in $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3.12 2>/dev/null | sort -rV) \
        "$(command -v python3.12 2>/dev/null || true)"; do
        if [[ -n "$p" ]] && is312 "$p"; then
            echo "$p"
            exit 0
        fi
    done
fi

version=0.27.7
dir="${NBPIPE_CACHE:-$HOME/.cache/nbpipe}/pyodide-$version"
py="$dir/python3.12"
if ! is312 "$py"; then
    command -v node >/dev/null || { echo "python312.sh: no CPython 3.12 and no node for Pyodide" >&2; exit 1; }
    mkdir -p "$dir"
    (cd "$dir" && npm install --silent --no-audit --no-fund --no-save "pyodide@$version" >"$dir/npm.log" 2>&1) || {
        tail -20 "$dir/npm.log" >&2
        exit 1
    }
    cp "$here/py312/pyodide-python.cjs" "$dir/"
    printf '#!/bin/sh\nexec node "%s/pyodide-python.cjs" "$@"\n' "$dir" >"$py"
    chmod +x "$py"
    is312 "$py" || { echo "python312.sh: Pyodide's python does not run" >&2; exit 1; }
fi
echo "$py"
