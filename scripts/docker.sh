#!/usr/bin/env bash
# Runs a private Docker engine for nbpipe's container tests (the Action's image
# and a real workflow under nektos/act). No image registry is reachable from
# these machines, so the tests build every image from local files.
#
#   scripts/docker.sh install     -> installs Debian's docker.io with apt-get when dockerd is
#                                    missing (needs root, as the machines and CI run); idempotent
#   scripts/docker.sh start DIR   -> an engine whose whole state is under DIR; prints its
#                                    DOCKER_HOST (unix://DIR/docker.sock) as the only stdout line
#   scripts/docker.sh status DIR  -> exit 0 when DIR's engine answers, 1 when not
#   scripts/docker.sh stop DIR    -> stops DIR's engine by its pid file, and the containers it
#                                    ran; idempotent. DIR itself is left for the caller to remove.
#
# Per-run state: every path the daemon writes is under DIR (--data-root,
# --exec-root with its containerd, the socket, the pid file, its own empty
# --config-file so /etc/docker/daemon.json cannot change it, and the log), so
# two test runs on one machine never share an engine, its images or its
# containers, and stopping one never touches the other. No bridge, iptables
# or masquerading: containers use --network host or none.
# Storage: overlay2 when this kernel lets dockerd use it (it checks with a
# test mount at start), else vfs, which works anywhere but copies every
# layer in full: measured here, importing a 600 MB Go toolchain image took
# 2 min on vfs and each build step of the Dockerfile about a minute more,
# seconds on overlay2. NBPIPE_DOCKER_STORAGE=vfs|overlay2 forces one.
# Keep DIR short (e.g. mktemp -d /tmp/nbd.XXXX): unix socket paths are limited
# to 107 bytes and containerd's socket lives under DIR/exec.
#
# Environment: NBPIPE_CACHE (lock for the install, default ~/.cache/nbpipe),
# NBPIPE_DOCKER_WAIT (seconds to wait for the engine, default 60),
# NBPIPE_DOCKER_STORAGE (auto, overlay2 or vfs; default auto).
set -euo pipefail

cache="${NBPIPE_CACHE:-$HOME/.cache/nbpipe}/docker"
wait_s="${NBPIPE_DOCKER_WAIT:-60}"

log() { echo "docker.sh: $*" >&2; }
die() {
    log "$*"
    exit 1
}

dockerd_bin() { command -v dockerd 2>/dev/null || true; }

install() {
    [[ -n "$(dockerd_bin)" ]] && return 0
    [[ "$(id -u)" == 0 ]] || die "dockerd is not installed and installing docker.io needs root (apt-get install -y docker.io)"
    command -v apt-get >/dev/null || die "dockerd is not installed and there is no apt-get to install docker.io"
    mkdir -p "$cache"
    exec 8>"$cache/.install.lock"
    flock 8
    if [[ -z "$(dockerd_bin)" ]]; then
        log "installing docker.io with apt-get (as root; once per machine)"
        # The package's service scripts must not start a system-wide engine:
        # policy-rc.d answering 101 forbids it for this install only.
        local policy=/usr/sbin/policy-rc.d had_policy=""
        [[ -e "$policy" ]] && had_policy=1
        [[ -n "$had_policy" ]] || { printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy"; }
        local rc=0
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io; } >"$cache/apt.log" 2>&1 || rc=$?
        [[ -n "$had_policy" ]] || rm -f "$policy"
        if [[ $rc != 0 ]]; then
            tail -20 "$cache/apt.log" >&2
            die "apt-get install docker.io failed (log: $cache/apt.log)"
        fi
    fi
    exec 8>&-
    [[ -n "$(dockerd_bin)" ]] || die "docker.io installed but there is no dockerd on PATH"
}

# The pid from DIR/dockerd.pid when that process is DIR's dockerd.
running_pid() {
    local dir="$1" pid
    [[ -f "$dir/dockerd.pid" ]] || return 1
    pid="$(cat "$dir/dockerd.pid")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "unix://$dir/docker.sock" || return 1
    echo "$pid"
}

answers() { DOCKER_HOST="unix://$1/docker.sock" docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

start() {
    local dir="$1"
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    (( ${#dir} <= 60 )) || die "DIR $dir is too long for the engine's unix sockets (keep it under 60 bytes)"
    if running_pid "$dir" >/dev/null && answers "$dir"; then
        echo "unix://$dir/docker.sock"
        return 0
    fi
    install
    command -v docker >/dev/null || die "no docker client on PATH"
    case "${NBPIPE_DOCKER_STORAGE:-auto}" in
    auto)
        launch "$dir" overlay2 || {
            log "overlay2 is not usable here; starting with vfs"
            launch "$dir" vfs || die "dockerd did not start (log: $dir/dockerd.log)"
        }
        ;;
    overlay2 | vfs) launch "$dir" "$NBPIPE_DOCKER_STORAGE" || die "dockerd did not start (log: $dir/dockerd.log)" ;;
    *) die "NBPIPE_DOCKER_STORAGE must be auto, overlay2 or vfs" ;;
    esac
    echo "unix://$dir/docker.sock"
}

# launch DIR DRIVER: starts dockerd and waits until it answers with that
# storage driver; on failure it leaves no daemon running.
launch() {
    local dir="$1" driver="$2" pid i
    rm -rf "$dir/data" "$dir/exec"
    mkdir -p "$dir/data" "$dir/exec"
    [[ -f "$dir/daemon.json" ]] || echo '{}' >"$dir/daemon.json"
    rm -f "$dir/docker.sock" "$dir/dockerd.pid"
    # setsid: the engine outlives this script in its own session; stop ends
    # it by its pid.
    setsid "$(dockerd_bin)" \
        --config-file "$dir/daemon.json" \
        --storage-driver="$driver" --iptables=false --ip-masq=false --bridge=none \
        --data-root "$dir/data" --exec-root "$dir/exec" \
        -H "unix://$dir/docker.sock" --pidfile "$dir/dockerd.pid" \
        </dev/null >>"$dir/dockerd.log" 2>&1 &
    pid=$!
    for ((i = 0; i < wait_s * 5; i++)); do
        if answers "$dir"; then
            local got
            got="$(DOCKER_HOST="unix://$dir/docker.sock" docker info --format '{{.Driver}}' 2>/dev/null)"
            if [[ "$got" != "$driver" ]]; then
                log "dockerd runs with storage driver $got, not $driver"
                stop "$dir"
                return 1
            fi
            log "engine $(DOCKER_HOST="unix://$dir/docker.sock" docker version --format '{{.Server.Version}}') ($driver) up in $dir (pid $(cat "$dir/dockerd.pid"))"
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -5 "$dir/dockerd.log" >&2
            log "dockerd with $driver exited"
            return 1
        fi
        sleep 0.2
    done
    tail -20 "$dir/dockerd.log" >&2
    stop "$dir"
    kill -KILL "$pid" 2>/dev/null || true
    log "dockerd with $driver did not answer within ${wait_s}s"
    return 1
}

# unmount_under DIR: dockerd leaves its network namespace bind-mounted at
# DIR/exec/netns/default (and, killed, its overlay mounts), which keeps DIR
# from being removed. Deepest first; lazily when busy.
unmount_under() {
    local dir="$1" m
    awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r | while read -r m; do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "could not unmount $m"
    done
}

stop() {
    local dir="$1" pid i
    [[ -d "$dir" ]] || return 0
    dir="$(cd "$dir" && pwd)"
    pid="$(running_pid "$dir")" || {
        unmount_under "$dir"
        return 0
    }
    local t0=$SECONDS
    # Containers first, so none is left running without its engine.
    if answers "$dir"; then
        local ids
        ids="$(DOCKER_HOST="unix://$dir/docker.sock" docker ps -q 2>/dev/null || true)"
        [[ -z "$ids" ]] || DOCKER_HOST="unix://$dir/docker.sock" docker rm -f $ids >/dev/null 2>&1 || true
        log "removed $(echo $ids | wc -w) running container(s) in $((SECONDS - t0))s"
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    log "dockerd $pid ended $((SECONDS - t0))s after the stop began"
    unmount_under "$dir"
    if kill -0 "$pid" 2>/dev/null; then
        log "dockerd $pid did not stop in 30s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    # vfs layers of a stopped engine may hold read-only files; the caller
    # removes DIR.
    log "engine in $dir stopped"
}

cmd="${1:-}"
case "$cmd" in
install) install ;;
start)
    [[ $# == 2 ]] || die "usage: $0 start DIR"
    start "$2"
    ;;
status)
    [[ $# == 2 ]] || die "usage: $0 status DIR"
    d="$(cd "$2" 2>/dev/null && pwd)" || exit 1
    running_pid "$d" >/dev/null && answers "$d"
    ;;
stop)
    [[ $# == 2 ]] || die "usage: $0 stop DIR"
    stop "$2"
    ;;
*) die "usage: $0 install | start DIR | status DIR | stop DIR" ;;
esac
