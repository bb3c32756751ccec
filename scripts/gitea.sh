#!/usr/bin/env bash
# Runs a real Gitea locally for nbpipe's end-to-end webhook tests, built from
# the Go module proxy (no Docker, no downloads from anywhere else):
#
#   scripts/gitea.sh install      -> builds Gitea once per machine (cached); prints the binary path
#   scripts/gitea.sh start [DIR]  -> a fresh instance in DIR (default: a new temp dir); prints
#                                    {"url","user","password","token","dir","pid"} as one JSON line
#   scripts/gitea.sh status DIR   -> prints DIR/instance.json, exit 0 if it answers, 1 if not
#   scripts/gitea.sh stop DIR     -> stops that instance (its whole process group); idempotent
#
# Build: `go mod download -json code.gitea.io/gitea@v1.26.1` gives the module
# Dir; it is copied to $cache/src-v1.26.1 (made writable) and built there with
# `go build -tags 'sqlite sqlite_unlock_notify'` (cgo, mattn/go-sqlite3; about
# 3-4 min on 2 cores, 1.6 GB peak memory). `go install pkg@version` cannot do it:
# Gitea's go.mod has replace directives. The copied dir stays: Gitea serves
# templates, translations (options/) and public/ from it (STATIC_ROOT_PATH),
# as a build without the `bindata` tag has none of them inside the binary.
# Everything is under ${NBPIPE_CACHE:-$HOME/.cache/nbpipe}/gitea; a stamp
# holds the version and tags; when it matches, install does nothing. flock
# keeps two parallel first runs from building twice.
#
# Instance: DIR/app.ini (sqlite, loopback only, SSH off, registration off,
# webhooks allowed to loopback), DIR/gitea.log (server output), DIR/data,
# DIR/repos, DIR/gitea.pid, DIR/instance.json. The server runs in its own
# process group (setsid), which stop ends. An admin user `nbpipe` with a random
# password and an API token with scope "all" are created on first start.
# `start DIR` on a DIR whose instance is running just prints its JSON again;
# on a stopped one it starts it again on the same port with the same data.
#
# Environment: NBPIPE_CACHE, NBPIPE_GITEA_PORT (default: a free loopback port),
# NBPIPE_PYTHON (default python3; used for a free port and for JSON), GO (default go).
# Gitea facts worth knowing (v1.26.1): a webhook delivery that gets a non-2xx
# answer or a network error is recorded as failed and never retried; only
# deliveries never attempted (server stopped first) are sent again at startup.
set -euo pipefail

GITEA_VERSION=v1.26.1
GITEA_TAGS="sqlite sqlite_unlock_notify"

cache="${NBPIPE_CACHE:-$HOME/.cache/nbpipe}/gitea"
src="$cache/src-$GITEA_VERSION"
bin="$cache/gitea"
stamp="$cache/.nbpipe-gitea.stamp"
python="${NBPIPE_PYTHON:-python3}"
gocmd="${GO:-go}"
user=nbpipe

log() { echo "gitea.sh: $*" >&2; }
die() {
    log "$*"
    exit 1
}

want_stamp() { echo "gitea=$GITEA_VERSION tags=$GITEA_TAGS"; }

installed() {
    [[ -f "$stamp" ]] && [[ "$(cat "$stamp")" == "$(want_stamp)" ]] &&
        [[ -x "$bin" ]] && [[ -d "$src/options/locale" ]]
}

install() {
    installed && return 0
    mkdir -p "$cache"
    # The lock fd is closed again before anything is started in the
    # background: an inherited fd would hold the lock for the server's life.
    exec 8>"$cache/.install.lock"
    if ! flock -n 8; then
        log "another run is building Gitea; waiting for it"
        flock 8
    fi
    if installed; then
        exec 8>&-
        return 0
    fi
    local t0=$SECONDS moddir
    log "building Gitea $GITEA_VERSION into $cache (once per machine, about 4 min)"
    log "downloading the module code.gitea.io/gitea@$GITEA_VERSION"
    moddir="$("$gocmd" mod download -json "code.gitea.io/gitea@$GITEA_VERSION" |
        "$python" -c 'import json, sys; d = json.load(sys.stdin); print(d.get("Dir") or sys.exit(d.get("Error", "no Dir")))')" ||
        die "go mod download code.gitea.io/gitea@$GITEA_VERSION failed"
    rm -rf "$src" "$src.new" "$bin" "$bin.new" "$stamp"
    cp -R "$moddir" "$src.new"
    chmod -R u+w "$src.new"
    log "go build -tags '$GITEA_TAGS' (dependencies come from the module proxy; log: $cache/build.log)"
    if ! (cd "$src.new" && CGO_ENABLED=1 GOFLAGS=-buildvcs=false "$gocmd" build -tags "$GITEA_TAGS" \
        -ldflags "-X 'main.Version=${GITEA_VERSION#v}' -X 'main.Tags=$GITEA_TAGS'" \
        -o "$bin.new" .) >"$cache/build.log" 2>&1; then
        tail -30 "$cache/build.log" >&2
        die "go build failed (log: $cache/build.log)"
    fi
    mv "$src.new" "$src"
    mv "$bin.new" "$bin"
    want_stamp >"$stamp"
    log "built in $((SECONDS - t0))s; cache $(du -sh "$cache" | cut -f1)"
    exec 8>&-
}

json_get() { # json_get FILE KEY
    "$python" -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}

free_port() {
    "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

rand_hex() { # rand_hex NBYTES
    "$python" -c 'import secrets, sys; print(secrets.token_hex(int(sys.argv[1])))' "$1"
}

# The pid from DIR/gitea.pid when that process is this DIR's Gitea.
running_pid() {
    local dir="$1" pid
    [[ -f "$dir/gitea.pid" ]] || return 1
    pid="$(cat "$dir/gitea.pid")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$dir/app.ini" || return 1
    echo "$pid"
}

answers() { # answers URL
    curl -sf -m 5 "$1/api/v1/version" >/dev/null 2>&1
}

write_app_ini() { # write_app_ini DIR PORT
    local dir="$1" port="$2" secret_key internal_token jwt_secret
    secret_key="$("$bin" generate secret SECRET_KEY)"
    internal_token="$("$bin" generate secret INTERNAL_TOKEN)"
    jwt_secret="$("$bin" generate secret JWT_SECRET)"
    cat >"$dir/app.ini" <<INI
APP_NAME = nbpipe test Gitea
RUN_MODE = prod
RUN_USER = $(id -un)
I_AM_BEING_UNSAFE_RUNNING_AS_ROOT = true
WORK_PATH = $dir

[server]
PROTOCOL = http
HTTP_ADDR = 127.0.0.1
HTTP_PORT = $port
DOMAIN = 127.0.0.1
ROOT_URL = http://127.0.0.1:$port/
LOCAL_ROOT_URL = http://127.0.0.1:$port/
DISABLE_SSH = true
START_SSH_SERVER = false
OFFLINE_MODE = true
LFS_START_SERVER = false
APP_DATA_PATH = $dir/data
STATIC_ROOT_PATH = $src

[database]
DB_TYPE = sqlite3
PATH = $dir/data/gitea.db
SQLITE_JOURNAL_MODE = WAL

[security]
INSTALL_LOCK = true
SECRET_KEY = $secret_key
INTERNAL_TOKEN = $internal_token

[oauth2]
JWT_SECRET = $jwt_secret

[webhook]
ALLOWED_HOST_LIST = loopback
SKIP_TLS_VERIFY = true
DELIVER_TIMEOUT = 10

[repository]
ROOT = $dir/repos
DEFAULT_BRANCH = main

[service]
DISABLE_REGISTRATION = true
REQUIRE_SIGNIN_VIEW = false
DEFAULT_KEEP_EMAIL_PRIVATE = false

[indexer]
ISSUE_INDEXER_TYPE = db
REPO_INDEXER_ENABLED = false

[mailer]
ENABLED = false

[session]
PROVIDER = memory

[cache]
ADAPTER = memory

[cron.update_checker]
ENABLED = false

; In-memory queues: a push reaches the webhook receiver in ~0.2 s instead of
; ~1-3 s (the default leveldb queues poll with a backoff of up to 2 s).
; Webhook tasks themselves are rows in the database either way.
[queue]
TYPE = channel

[log]
MODE = console
LEVEL = Info
ROOT_PATH = $dir/log
INI
}

# Starts the server for DIR in the background, in its own process group, and
# waits until the API answers. Returns 1 if it died or never answered.
launch() { # launch DIR URL
    local dir="$1" url="$2" pid
    rm -f "$dir/gitea.pid"
    # No job control in a script, so this subshell is not a group leader and
    # setsid execs Gitea in place: $! is Gitea's pid and its process group.
    # stdin/stdout/stderr go away from the caller's pipes (a caller reading
    # our stdout to EOF must not wait for the server).
    (
        cd "$dir"
        export GITEA_WORK_DIR="$dir" GITEA_CUSTOM="$dir/custom"
        exec setsid "$bin" --config "$dir/app.ini" web \
            </dev/null >>"$dir/gitea.log" 2>&1
    ) &
    pid=$!
    echo "$pid" >"$dir/gitea.pid"
    for _ in $(seq 240); do
        if answers "$url"; then
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.25
    done
    log "Gitea did not come up at $url; last lines of $dir/gitea.log:"
    tail -30 "$dir/gitea.log" >&2 || true
    stop_dir "$dir"
    return 1
}

start() {
    local dir="${1:-}" port url password token pid t0=$SECONDS
    install
    if [[ -z "$dir" ]]; then
        dir="$(mktemp -d "${TMPDIR:-/tmp}/nbpipe-gitea.XXXXXX")"
    else
        mkdir -p "$dir"
        dir="$(cd "$dir" && pwd -P)"
    fi

    if [[ -f "$dir/instance.json" ]]; then
        url="$(json_get "$dir/instance.json" url)"
        if running_pid "$dir" >/dev/null && answers "$url"; then
            cat "$dir/instance.json"
            return 0
        fi
        # A stopped instance: the same app.ini, port and data.
        stop_dir "$dir"
        log "restarting the stopped instance in $dir at $url"
        launch "$dir" "$url" || exit 1
        pid="$(cat "$dir/gitea.pid")"
        "$python" - "$dir/instance.json" "$pid" <<'PY'
import json, sys
path, pid = sys.argv[1], int(sys.argv[2])
d = json.load(open(path))
d["pid"] = pid
s = json.dumps(d)
open(path, "w").write(s + "\n")
print(s)
PY
        return 0
    fi
    if [[ -n "$(ls -A "$dir")" ]]; then
        die "$dir is not empty and holds no instance.json; give an empty or new DIR"
    fi

    local attempt
    for attempt in 1 2 3; do
        port="${NBPIPE_GITEA_PORT:-$(free_port)}"
        url="http://127.0.0.1:$port"
        mkdir -p "$dir/data" "$dir/repos" "$dir/log" "$dir/custom"
        write_app_ini "$dir" "$port"
        log "starting Gitea $GITEA_VERSION at $url in $dir"
        if launch "$dir" "$url"; then
            break
        fi
        # Another process may have taken the port between the probe and the bind.
        if [[ -z "${NBPIPE_GITEA_PORT:-}" ]] && [[ $attempt -lt 3 ]] &&
            grep -qi 'address already in use' "$dir/gitea.log"; then
            log "port $port was taken; trying another"
            mv "$dir/gitea.log" "$dir/gitea.log.$attempt"
            continue
        fi
        exit 1
    done
    pid="$(cat "$dir/gitea.pid")"

    password="Nb-$(rand_hex 12)"
    (
        cd "$dir"
        GITEA_WORK_DIR="$dir" "$bin" --config "$dir/app.ini" admin user create --username "$user" \
            --password "$password" --email "$user@example.com" --admin --must-change-password=false
    ) </dev/null >>"$dir/setup.log" 2>&1 || {
        tail -20 "$dir/setup.log" >&2
        stop_dir "$dir"
        die "gitea admin user create failed (log: $dir/setup.log)"
    }
    token="$(curl -sf -m 30 -u "$user:$password" -H 'Content-Type: application/json' \
        -d '{"name":"nbpipe","scopes":["all"]}' "$url/api/v1/users/$user/tokens" |
        "$python" -c 'import json, sys; print(json.load(sys.stdin)["sha1"])')" || {
        stop_dir "$dir"
        die "creating the API token failed"
    }

    "$python" - "$dir/instance.json" "$url" "$user" "$password" "$token" "$dir" "$pid" <<'PY'
import json, sys
path, url, user, password, token, d, pid = sys.argv[1:]
s = json.dumps({"url": url, "user": user, "password": password, "token": token,
                "dir": d, "pid": int(pid)})
with open(path, "w") as f:
    f.write(s + "\n")
print(s)
PY
    chmod 600 "$dir/instance.json"
    log "ready in $((SECONDS - t0))s: $url (stop: $0 stop $dir)"
}

stop_dir() {
    local dir="$1" pid
    [[ -d "$dir" ]] || return 0
    dir="$(cd "$dir" && pwd -P)"
    if pid="$(running_pid "$dir")"; then
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 60); do
            kill -0 -- "-$pid" 2>/dev/null || break
            sleep 0.25
        done
        kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    rm -f "$dir/gitea.pid"
}

status() {
    local dir="$1" url
    [[ -f "$dir/instance.json" ]] || die "no instance in $dir"
    dir="$(cd "$dir" && pwd -P)"
    url="$(json_get "$dir/instance.json" url)"
    if running_pid "$dir" >/dev/null && answers "$url"; then
        cat "$dir/instance.json"
    else
        echo "stopped"
        exit 1
    fi
}

usage() {
    echo "usage: $0 install | start [DIR] | status DIR | stop DIR" >&2
    exit 2
}

case "${1:-}" in
    install)
        install
        echo "$bin"
        ;;
    start) start "${2:-}" ;;
    stop)
        [[ -n "${2:-}" ]] || usage
        stop_dir "$2"
        ;;
    status)
        [[ -n "${2:-}" ]] || usage
        status "$2"
        ;;
    *) usage ;;
esac
