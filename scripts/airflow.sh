#!/usr/bin/env bash
# Runs a real Airflow 3 (api-server, scheduler, dag-processor; LocalExecutor,
# SQLite) that reads its DAGs from a git repository through a Git DAG bundle,
# for nbpipe's Airflow client tests:
#
#   scripts/airflow.sh start DIR  -> starts an instance with ALL its state in DIR; prints one JSON line
#                                    {"url","jwt_secret","user","password","viewer_password","bundle","home"}
#   scripts/airflow.sh status DIR -> prints DIR/instance.json, exit 0 if it answers and is healthy, 1 if not
#   scripts/airflow.sh stop DIR   -> stops every process that instance started; idempotent
#
# Environment:
#   NBPIPE_VENV                  (required) the venv of scripts/pyenv.sh (apache-airflow 3.3.2,
#                                providers standard, apache-livy and git)
#   NBPIPE_AIRFLOW_REPO_URL      (required for start) the DAG repository, e.g. a public
#                                http://127.0.0.1:PORT/owner/dags.git (no credentials needed)
#   NBPIPE_AIRFLOW_TRACKING_REF  branch the bundle follows (default main); it must exist before
#                                start (see the check in start)
#   NBPIPE_AIRFLOW_REFRESH       the bundle's refresh_interval in seconds (default 300)
#   NBPIPE_AIRFLOW_LOCAL_SETTINGS a file installed as airflow_local_settings.py (cluster policies)
#   NBPIPE_AIRFLOW_PORT          api-server port (default: a free loopback port)
#   NBPIPE_PYTHON                python for the helper one-liners (default python3)
#
# Layout of DIR: home/ (AIRFLOW_HOME: airflow.cfg, task logs), airflow.db, bundles/
# (the bundle's bare clone and checkouts; Airflow's default is a shared /tmp/airflow,
# which two instances must not share), logs/{migrate,api-server,scheduler,dag-processor}.log,
# pids/*.pid, passwords.json, env.sh (`. DIR/env.sh` then `airflow ...` talks to this
# instance), instance.json. Secrets (jwt_secret, [api] secret_key, the passwords) are
# random per start; the files holding them are mode 600.
#
# Settings and why (see also /work/shared/api-facts.md §1.5):
# - [core] parallelism 4: the default 32 makes the LocalExecutor spawn 34 processes (4.4 GiB).
# - The bundle `nbpipe` is airflow.providers.git.bundles.git.GitDagBundle with repo_url and
#   no git_conn_id. GitHook then fails to find the `git_default` connection and the bundle
#   logs "Connection not found but repo_url provided, continuing without Airflow
#   connection": an unauthenticated http://, https:// or git:// URL is cloned as is.
#   GIT_TERMINAL_PROMPT=0 makes a repository that asks for credentials fail at once
#   instead of waiting on a prompt nobody answers.
# - dags_are_paused_at_creation is left at its default (True).
# - The scheduler starts `airflow serve-logs`, which listens on all interfaces (no
#   setting for the address) at [logging] worker_log_server_port, default 8793: each
#   instance gets its own free port for it (and for the triggerer's, unused here), so
#   two instances on one machine do not collide.
# - Each process runs in its own process group (setsid); stop sends SIGTERM to the
#   groups, then SIGKILL after 5 s (the api-server does not stop on SIGTERM).
set -euo pipefail

python="${NBPIPE_PYTHON:-python3}"
BUNDLE=nbpipe
COMPONENTS=(api-server scheduler dag-processor)

log() { echo "airflow.sh: $*" >&2; }
die() {
    log "$*"
    exit 1
}

free_port() {
    "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

rand_hex() { # rand_hex NBYTES
    "$python" -c 'import secrets, sys; print(secrets.token_hex(int(sys.argv[1])))' "$1"
}

# redact: a URL without its user:password@ (for messages).
redact() { sed -E 's#://[^/@]+@#://***@#g' <<<"$1"; }

json_get() { # json_get FILE KEY
    "$python" -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}

# The pid in DIR/pids/NAME.pid when that process is still this instance's
# (its working directory is DIR), so a reused pid is never killed. Not its
# environment: setproctitle overwrites /proc/PID/environ.
running_pid() { # running_pid DIR NAME
    local dir="$1" name="$2" pid
    [[ -f "$dir/pids/$name.pid" ]] || return 1
    pid="$(cat "$dir/pids/$name.pid")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    [[ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" == "$dir" ]] || return 1
    echo "$pid"
}

# healthy URL: the api-server answers and reports the metadatabase, the
# scheduler and the dag-processor healthy.
healthy() {
    curl -sf -m 5 "$1/api/v2/monitor/health" 2>/dev/null | "$python" -c '
import json, sys
h = json.load(sys.stdin)
ok = all((h.get(k) or {}).get("status") == "healthy" for k in ("metadatabase", "scheduler", "dag_processor"))
sys.exit(0 if ok else 1)' 2>/dev/null
}

write_env() { # write_env DIR PORT JWT_SECRET SECRET_KEY REPO_URL REF REFRESH LOGPORT TRIGGERLOGPORT
    local dir="$1" port="$2" jwt="$3" key="$4" repo="$5" ref="$6" refresh="$7" logport="$8" tlogport="$9" bundles
    bundles="$("$python" -c '
import json, sys
repo, ref, refresh, name = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
print(json.dumps([{"name": name, "classpath": "airflow.providers.git.bundles.git.GitDagBundle",
                   "kwargs": {"repo_url": repo, "tracking_ref": ref, "refresh_interval": refresh}}]))
' "$repo" "$ref" "$refresh" "$BUNDLE")"
    (
        umask 077
        {
            echo "# Environment of the Airflow instance in $dir (generated by scripts/airflow.sh)."
            printf 'export %s=%q\n' \
                PATH "$NBPIPE_VENV/bin:$PATH" \
                AIRFLOW_HOME "$dir/home" \
                AIRFLOW__CORE__EXECUTOR LocalExecutor \
                AIRFLOW__CORE__PARALLELISM 4 \
                AIRFLOW__CORE__LOAD_EXAMPLES False \
                AIRFLOW__DATABASE__SQL_ALCHEMY_CONN "sqlite:///$dir/airflow.db" \
                AIRFLOW__API__HOST 127.0.0.1 \
                AIRFLOW__API__PORT "$port" \
                AIRFLOW__API__WORKERS 1 \
                AIRFLOW__API__BASE_URL "http://127.0.0.1:$port" \
                AIRFLOW__CORE__EXECUTION_API_SERVER_URL "http://127.0.0.1:$port/execution/" \
                AIRFLOW__API_AUTH__JWT_SECRET "$jwt" \
                AIRFLOW__API__SECRET_KEY "$key" \
                AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS "admin:admin,viewer:viewer" \
                AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE "$dir/passwords.json" \
                AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST "$bundles" \
                AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH "$dir/bundles" \
                AIRFLOW__LOGGING__BASE_LOG_FOLDER "$dir/home/logs" \
                AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT "$logport" \
                AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT "$tlogport" \
                GIT_TERMINAL_PROMPT 0
        } >"$dir/env.sh"
    )
}

# Starts one component in the background in its own process group.
launch() { # launch DIR NAME ARGS...
    local dir="$1" name="$2"
    shift 2
    # No job control in a script, so the subshell is not a group leader and
    # setsid execs airflow in place: $! is its pid and its process group.
    (
        cd "$dir"
        # shellcheck disable=SC1091
        . "$dir/env.sh"
        exec setsid "$NBPIPE_VENV/bin/airflow" "$@" </dev/null >>"$dir/logs/$name.log" 2>&1
    ) &
    echo $! >"$dir/pids/$name.pid"
}

start() {
    local dir="$1" t0 port url jwt key admin_pw viewer_pw
    t0=$(date +%s.%N)
    [[ -n "${NBPIPE_VENV:-}" ]] || die "NBPIPE_VENV is not set (the venv of scripts/pyenv.sh)"
    [[ -x "$NBPIPE_VENV/bin/airflow" ]] || die "no airflow in $NBPIPE_VENV/bin"
    "$NBPIPE_VENV/bin/python" -c 'import airflow.providers.git.bundles.git' >/dev/null 2>&1 ||
        die "$NBPIPE_VENV lacks apache-airflow-providers-git (rerun scripts/pyenv.sh)"
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd -P)"

    if [[ -f "$dir/instance.json" ]]; then
        url="$(json_get "$dir/instance.json" url)"
        if running_pid "$dir" api-server >/dev/null && healthy "$url"; then
            cat "$dir/instance.json"
            return 0
        fi
        die "$dir holds a stopped instance; stop it and give a new DIR"
    fi
    [[ -z "$(ls -A "$dir")" ]] || die "$dir is not empty; give an empty or new DIR"
    [[ -n "${NBPIPE_AIRFLOW_REPO_URL:-}" ]] || die "NBPIPE_AIRFLOW_REPO_URL is not set (the DAG repository)"
    local ref="${NBPIPE_AIRFLOW_TRACKING_REF:-main}" heads
    # GitDagBundle (provider 1.0.1) started on a repository without the
    # tracking branch never recovers: its tracking clone is made empty and
    # `git checkout main` fails every 5 s even after a push, until
    # DIR/bundles/nbpipe/tracking_repo is deleted. So refuse to start.
    heads="$(GIT_TERMINAL_PROMPT=0 git ls-remote --heads "$NBPIPE_AIRFLOW_REPO_URL" "$ref" 2>&1)" ||
        die "cannot read the DAG repository $(redact "$NBPIPE_AIRFLOW_REPO_URL"): $(redact "$heads")"
    [[ -n "$heads" ]] || die "the DAG repository $(redact "$NBPIPE_AIRFLOW_REPO_URL") has no branch $ref yet; push a first commit (a README is enough) before starting Airflow: a Git DAG bundle started on it would never pick the branch up"

    port="${NBPIPE_AIRFLOW_PORT:-$(free_port)}"
    url="http://127.0.0.1:$port"
    jwt="$(rand_hex 32)"
    key="$(rand_hex 16)"
    admin_pw="$(rand_hex 12)"
    viewer_pw="$(rand_hex 12)"
    mkdir -p "$dir/home/dags" "$dir/logs" "$dir/pids" "$dir/bundles"
    if [[ -n "${NBPIPE_AIRFLOW_LOCAL_SETTINGS:-}" ]]; then
        # Airflow puts AIRFLOW_HOME/config on sys.path and imports
        # airflow_local_settings from it: cluster policies live there.
        mkdir -p "$dir/home/config"
        cp "$NBPIPE_AIRFLOW_LOCAL_SETTINGS" "$dir/home/config/airflow_local_settings.py"
    fi
    (
        umask 077
        "$python" -c 'import json, sys; print(json.dumps({"admin": sys.argv[1], "viewer": sys.argv[2]}))' \
            "$admin_pw" "$viewer_pw" >"$dir/passwords.json"
    )
    write_env "$dir" "$port" "$jwt" "$key" "$NBPIPE_AIRFLOW_REPO_URL" \
        "$ref" "${NBPIPE_AIRFLOW_REFRESH:-300}" "$(free_port)" "$(free_port)"

    log "airflow db migrate ($dir/airflow.db)"
    if ! (cd "$dir" && . "$dir/env.sh" && "$NBPIPE_VENV/bin/airflow" db migrate) \
        </dev/null >"$dir/logs/migrate.log" 2>&1; then
        tail -30 "$dir/logs/migrate.log" >&2
        die "airflow db migrate failed (log: $dir/logs/migrate.log)"
    fi

    log "starting api-server at $url, scheduler, dag-processor (logs: $dir/logs)"
    launch "$dir" api-server api-server
    launch "$dir" scheduler scheduler
    launch "$dir" dag-processor dag-processor

    local name ok=""
    for _ in $(seq 480); do
        for name in "${COMPONENTS[@]}"; do
            if ! running_pid "$dir" "$name" >/dev/null; then
                log "$name exited during start-up; last lines of $dir/logs/$name.log:"
                tail -30 "$dir/logs/$name.log" >&2 || true
                stop_dir "$dir"
                exit 1
            fi
        done
        if healthy "$url"; then
            ok=1
            break
        fi
        sleep 0.25
    done
    if [[ -z "$ok" ]]; then
        log "Airflow did not become healthy at $url within 120 s"
        for name in "${COMPONENTS[@]}"; do
            log "---- last lines of $dir/logs/$name.log"
            tail -15 "$dir/logs/$name.log" >&2 || true
        done
        stop_dir "$dir"
        exit 1
    fi

    (
        umask 077
        "$python" - "$dir/instance.json" "$url" "$jwt" "$admin_pw" "$viewer_pw" "$BUNDLE" "$dir" <<'PY'
import json, sys
path, url, jwt, pw, vpw, bundle, home = sys.argv[1:]
s = json.dumps({"url": url, "jwt_secret": jwt, "user": "admin", "password": pw,
                "viewer_password": vpw, "bundle": bundle, "home": home})
with open(path, "w") as f:
    f.write(s + "\n")
print(s)
PY
    )
    log "ready in $("$python" -c "import sys; print(round($(date +%s.%N) - float(sys.argv[1]), 1))" "$t0")s: $url (stop: $0 stop $dir)"
}

stop_dir() {
    local dir="$1" name pid pids=()
    [[ -d "$dir" ]] || return 0
    dir="$(cd "$dir" && pwd -P)"
    for name in "${COMPONENTS[@]}"; do
        if pid="$(running_pid "$dir" "$name")"; then
            pids+=("$pid")
            kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        fi
    done
    if [[ ${#pids[@]} -gt 0 ]]; then
        local alive
        for _ in $(seq 20); do
            alive=""
            for pid in "${pids[@]}"; do
                kill -0 -- "-$pid" 2>/dev/null && alive=1
            done
            [[ -n "$alive" ]] || break
            sleep 0.25
        done
        for pid in "${pids[@]}"; do
            kill -KILL -- "-$pid" 2>/dev/null || true
        done
    fi
    rm -f "$dir"/pids/*.pid
}

status() {
    local dir="$1" url
    [[ -f "$dir/instance.json" ]] || die "no instance in $dir"
    dir="$(cd "$dir" && pwd -P)"
    url="$(json_get "$dir/instance.json" url)"
    if running_pid "$dir" api-server >/dev/null && healthy "$url"; then
        cat "$dir/instance.json"
    else
        echo "stopped"
        exit 1
    fi
}

usage() {
    echo "usage: $0 start DIR | status DIR | stop DIR" >&2
    exit 2
}

[[ -n "${2:-}" ]] || usage
case "$1" in
    start) start "$2" ;;
    stop) stop_dir "$2" ;;
    status) status "$2" ;;
    *) usage ;;
esac
