#!/usr/bin/env bash
# Runs a real Apache Livy server locally (Spark local mode) for nbpipe's
# end-to-end tests, assembled only from package registries:
#
#   scripts/livy.sh start [DIR]  -> installs once (cached), starts, prints the base URL
#   scripts/livy.sh status [DIR] -> prints the base URL, exit 0 if it answers, 1 if not
#   scripts/livy.sh stop [DIR]   -> stops that server and every Spark driver it launched
#   scripts/livy.sh install      -> only the cached install; prints LIVY_HOME
#
# DIR holds one server's run state: conf/, logs/, pid, url, work/ (the server's
# and the Spark drivers' working directory, spark.local.dir, warehouse) and
# tmp/ (java.io.tmpdir and TMPDIR of the server, its drivers and their Python
# workers). Each DIR gets its own free HTTP port and its own livy-rsc RPC port
# range, so any number of servers (parallel test runs, `go test ./...`) run side
# by side; tests pass a fresh t.TempDir() (internal/livytest). `stop DIR` ends
# exactly the processes started for DIR. Without DIR the state is the shared
# ${NBPIPE_CACHE:-$HOME/.cache/nbpipe}/livy/run, for running it by hand: there,
# start reuses a live server and stops a dead one's leftovers.
#
# What runs:
# - Livy server 0.7.1-incubating (org.apache.livy:livy-server and its
#   dependencies from Maven Central, Scala 2.11 build; the newest Livy that
#   Maven Central serves), with livy-rsc/livy-api 0.7.1 as the session
#   driver's RPC side. It warns "Current Spark (3,5) is not verified in Livy".
# - Spark = pip's pyspark 3.5.9 in its own venv, used as SPARK_HOME; sessions
#   run spark-submit with master local[N] on Java 17.
# - Maven Central has no livy-repl jar (it ships only in Livy's binary zip), so
#   the interactive-session driver is nbpipe's own: scripts/livy/ReplDriver.java
#   (class org.apache.livy.repl.ReplDriver, the name the server launches; it
#   extends Livy's RSCDriver) plus scripts/livy/nbpipe_livy_shell.py. It runs
#   pyspark statements only (kind pyspark/python); statement output follows
#   Livy's shape: {"status":"ok","execution_count":N,"data":{"text/plain":...}}
#   or {"status":"error","ename","evalue","traceback":[...]}. No %table/%json
#   magics, no Scala/R/SQL kinds, no code completion.
#
# The install is shared by every run: ${NBPIPE_CACHE:-$HOME/.cache/nbpipe}/livy
# holds venv/ and home/ (jars, rsc-jars, repl_2.12-jars); it is built under an
# exclusive flock on .install.lock there, so parallel first runs wait for one
# builder. A stamp holds the hash of the pins and of scripts/livy/*; when it
# matches, install does nothing. The first install takes about a minute on a
# warm network (pip ~35 s, mvn ~20 s) and ~430 MB. A start takes 10-25 s.
#
# Environment: NBPIPE_LIVY_PORT (default: a free loopback port),
# NBPIPE_LIVY_MASTER (default local[2]), NBPIPE_PYTHON (default python3),
# JAVA_HOME (default: java on PATH; Java 17 expected), NBPIPE_LIVY_OWNER_PID
# (start: stop the run once this process is gone).
# Only loopback addresses are used (server, Spark driver, RPC, py4j), except
# that livy-rsc's RPC servers (one in the Livy server, one per session driver)
# listen on wildcard ports: livy-rsc binds the first free port of
# livy.rsc.launcher.port.range (its default 10000~10010 is shared by every
# server on the machine), so each run gets its own range of 12 ports
# that were all free when it started, below the kernel's ephemeral ports.
set -euo pipefail

LIVY_VERSION=0.7.1-incubating
PYSPARK_VERSION=3.5.9

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$here/livy"
cache="${NBPIPE_CACHE:-$HOME/.cache/nbpipe}/livy"
venv="$cache/venv"
home="$cache/home"
run="$cache/run" # replaced by DIR (see the bottom)
rsc_ports=12 # the Livy server's RPC server + up to 11 live sessions
stamp="$home/.nbpipe-livy.sha256"
python="${NBPIPE_PYTHON:-python3}"
java="java"
[[ -n "${JAVA_HOME:-}" ]] && java="$JAVA_HOME/bin/java"
javac="javac"
[[ -n "${JAVA_HOME:-}" ]] && javac="$JAVA_HOME/bin/javac"

# The same module openings Spark's launcher gives its own JVMs on Java 17; the
# server's Kryo needs java.util.concurrent.atomic to decode statements.
JAVA_OPENS=(
    -XX:+IgnoreUnrecognizedVMOptions
    --add-opens=java.base/java.lang=ALL-UNNAMED
    --add-opens=java.base/java.lang.invoke=ALL-UNNAMED
    --add-opens=java.base/java.lang.reflect=ALL-UNNAMED
    --add-opens=java.base/java.io=ALL-UNNAMED
    --add-opens=java.base/java.net=ALL-UNNAMED
    --add-opens=java.base/java.nio=ALL-UNNAMED
    --add-opens=java.base/java.util=ALL-UNNAMED
    --add-opens=java.base/java.util.concurrent=ALL-UNNAMED
    --add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED
    --add-opens=java.base/sun.nio.ch=ALL-UNNAMED
)

log() { echo "livy.sh: $*" >&2; }

want_hash() {
    {
        echo "livy=$LIVY_VERSION pyspark=$PYSPARK_VERSION python=$python"
        sha256sum "$src/ReplDriver.java" "$src/nbpipe_livy_shell.py" | cut -d' ' -f1
    } | sha256sum | cut -d' ' -f1
}

installed() {
    [[ -f "$stamp" ]] && [[ "$(cat "$stamp")" == "$(want_hash)" ]] &&
        "$venv/bin/python" -c 'import pyspark' >/dev/null 2>&1
}

spark_home() {
    "$venv/bin/python" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))'
}

# The install lock: an exclusive flock on $cache/.install.lock (fd 8), or a
# mkdir lock where flock(1) is missing (macOS).
lock_install() {
    mkdir -p "$cache"
    if command -v flock >/dev/null 2>&1; then
        exec 8>"$cache/.install.lock"
        if ! flock -n 8; then
            log "waiting for another livy.sh install ($cache/.install.lock)"
            flock 8
        fi
        return 0
    fi
    local i=0
    until mkdir "$cache/.install.lock.d" 2>/dev/null; do
        if ((i++ % 20 == 0)); then
            log "waiting for another livy.sh install ($cache/.install.lock.d; remove it if no install runs)"
        fi
        sleep 1
    done
    trap 'rmdir "$cache/.install.lock.d" 2>/dev/null || true' EXIT
}

unlock_install() {
    if command -v flock >/dev/null 2>&1; then
        # Close fd 8 so the lock is not inherited by the server started next.
        flock -u 8 2>/dev/null || true
        exec 8>&-
    else
        rmdir "$cache/.install.lock.d" 2>/dev/null || true
        trap - EXIT
    fi
}

install() {
    installed && return 0
    lock_install
    if installed; then
        unlock_install
        return 0
    fi
    local t0=$SECONDS
    log "installing Livy $LIVY_VERSION + pyspark $PYSPARK_VERSION into $cache (once)"

    # 1. Spark: pip's pyspark in its own venv (SPARK_HOME = the package dir).
    if ! "$venv/bin/python" -c "import pyspark, sys; sys.exit(pyspark.__version__ != '$PYSPARK_VERSION')" \
        >/dev/null 2>&1; then
        rm -rf "$venv"
        "$python" -m venv "$venv"
        if ! "$venv/bin/pip" install --disable-pip-version-check -q "pyspark==$PYSPARK_VERSION" \
            >"$cache/pip.log" 2>&1; then
            tail -20 "$cache/pip.log" >&2
            exit 1
        fi
    fi
    local sh
    sh="$(spark_home)"

    # 2. Livy server jars with their dependencies, from Maven Central.
    local tmp
    tmp="$(mktemp -d)"
    cat >"$tmp/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>nbpipe.local</groupId><artifactId>livy-assembly</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.livy</groupId><artifactId>livy-server</artifactId>
      <version>$LIVY_VERSION</version></dependency>
  </dependencies>
</project>
POM
    rm -rf "$home.new"
    mkdir -p "$home.new/jars" "$home.new/rsc-jars" "$home.new/repl_2.12-jars"
    if ! (cd "$tmp" && mvn -B -q dependency:copy-dependencies -DincludeScope=runtime \
        -DoutputDirectory="$home.new/jars") >"$cache/mvn.log" 2>&1; then
        tail -30 "$cache/mvn.log" >&2
        exit 1
    fi
    # 3. What spark-submit ships to the session driver: livy-rsc (+ livy-api)...
    cp "$home.new/jars/livy-rsc-$LIVY_VERSION.jar" "$home.new/jars/livy-api-$LIVY_VERSION.jar" \
        "$home.new/rsc-jars/"
    # ...and nbpipe's REPL driver, compiled against them and pyspark's jars.
    mkdir -p "$tmp/classes"
    "$javac" --release 11 -nowarn -d "$tmp/classes" \
        -cp "$home.new/rsc-jars/*:$sh/jars/*" "$src/ReplDriver.java"
    cp "$src/nbpipe_livy_shell.py" "$tmp/classes/"
    "${javac%javac}jar" cf "$home.new/repl_2.12-jars/nbpipe-livy-repl.jar" -C "$tmp/classes" .

    rm -rf "$tmp" "$home"
    mv "$home.new" "$home"
    want_hash >"$stamp"
    log "installed in $((SECONDS - t0))s ($(du -sh "$cache" | cut -f1))"
    unlock_install
}

url() { [[ -f "$run/url" ]] && cat "$run/url"; }

# The processes started for $run: every process whose environment carries
# NBPIPE_LIVY_RUN=$run (the server, the spark-submit drivers it launched, their
# Python workers), plus the process group of the pid file's server if that pid
# still is this run's server (servers from before NBPIPE_LIVY_RUN; no /proc).
run_pids() {
    {
        if [[ -r /proc/self/environ ]]; then
            grep -lzxF -- "NBPIPE_LIVY_RUN=$run" /proc/[0-9]*/environ 2>/dev/null |
                sed -n 's|^/proc/\([0-9]*\)/environ$|\1|p' || true
        fi
        if server_running; then
            ps -A -o pid= -o pgid= | awk -v g="$(cat "$run/pid")" '$2 == g { print $1 }'
        fi
    } | sort -un
}

# The pid file names a live server of this run (not a recycled pid).
server_running() {
    [[ -f "$run/pid" ]] || return 1
    local pid
    pid="$(cat "$run/pid")"
    kill -0 "$pid" 2>/dev/null && ps -ww -o args= -p "$pid" 2>/dev/null | grep -qF -- "$run/conf"
}

alive() {
    server_running && curl -sf -m 5 "$(url)/sessions" >/dev/null 2>&1
}

free_port() {
    "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# N consecutive ports, all free on the wildcard address (as livy-rsc binds
# them), chosen at random below the kernel's ephemeral range; prints "lo~hi".
free_port_range() {
    "$python" - "$1" <<'PY'
import random, socket, sys
n = int(sys.argv[1])
lo, hi = 20000, 32768
try:
    eph = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    if eph - 1024 > 4 * n:
        hi = min(hi, eph)
        lo = min(lo, hi - 1000) if hi - 1000 > 1024 else 1024
except (OSError, ValueError, IndexError):
    pass
for _ in range(500):
    base = random.randrange(lo, hi - n)
    ok = True
    for p in range(base, base + n):
        s = socket.socket()
        try:
            s.bind(("", p))
        except OSError:
            ok = False
        finally:
            s.close()
        if not ok:
            break
    if ok:
        print(f"{base}~{base + n - 1}")
        sys.exit(0)
sys.exit("no free range of %d ports in %d-%d" % (n, lo, hi))
PY
}

# Writes the run's configuration and starts the server; returns 0 once it
# answers on its own port, 1 if it exits or does not come up in 60 s.
launch() {
    local sh="$1" port rsc i
    # (errexit does not apply inside `if launch`: check each step.)
    port="${NBPIPE_LIVY_PORT:-$(free_port)}" && [[ -n "$port" ]] || return 1
    rsc="$(free_port_range "$rsc_ports")" || return 1
    rm -rf "$run/conf" "$run/logs" &&
        mkdir -p "$run/conf" "$run/logs" "$run/work/spark-local" "$run/tmp" || return 1
    cat >"$run/conf/livy.conf" <<CONF
livy.server.host = 127.0.0.1
livy.server.port = $port
livy.spark.master = ${NBPIPE_LIVY_MASTER:-local[2]}
livy.spark.deploy-mode = client
livy.server.spark-home = $sh
livy.spark.scala-version = 2.12
livy.repl.enable-hive-context = false
livy.repl.jars = $home/repl_2.12-jars/nbpipe-livy-repl.jar
livy.rsc.jars = $home/rsc-jars/livy-api-$LIVY_VERSION.jar,$home/rsc-jars/livy-rsc-$LIVY_VERSION.jar
livy.server.session.timeout = 1h
CONF
    # RSC settings (driver <-> server RPC) are read from livy-client.conf and
    # handed to each session driver.
    cat >"$run/conf/livy-client.conf" <<CONF
livy.rsc.rpc.server.address = 127.0.0.1
livy.rsc.launcher.address = 127.0.0.1
livy.rsc.launcher.port.range = $rsc
CONF
    cat >"$run/conf/spark-defaults.conf" <<CONF
spark.ui.enabled false
spark.driver.host 127.0.0.1
spark.driver.bindAddress 127.0.0.1
spark.local.dir $run/work/spark-local
spark.driver.extraJavaOptions -Djava.io.tmpdir=$run/tmp
spark.sql.warehouse.dir $run/work/spark-warehouse
CONF
    cat >"$run/conf/log4j.properties" <<CONF
log4j.rootCategory=INFO, console
log4j.appender.console=org.apache.log4j.ConsoleAppender
log4j.appender.console.target=System.err
log4j.appender.console.layout=org.apache.log4j.PatternLayout
log4j.appender.console.layout.ConversionPattern=%d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n
CONF
    echo "http://127.0.0.1:$port" >"$run/url"
    # setsid: the server and the spark-submit drivers it launches share one
    # process group and carry NBPIPE_LIVY_RUN, by which stop finds them.
    (
        cd "$run/work"
        export NBPIPE_LIVY_RUN="$run" LIVY_HOME="$home" LIVY_CONF_DIR="$run/conf" LIVY_LOG_DIR="$run/logs" \
            SPARK_HOME="$sh" SPARK_CONF_DIR="$run/conf" SPARK_LOCAL_IP=127.0.0.1 TMPDIR="$run/tmp" \
            PYSPARK_PYTHON="$venv/bin/python" PYSPARK_DRIVER_PYTHON="$venv/bin/python"
        [[ -n "${JAVA_HOME:-}" ]] && export PATH="$JAVA_HOME/bin:$PATH"
        exec setsid "$java" "${JAVA_OPENS[@]}" -Xmx512m -Djava.io.tmpdir="$run/tmp" -cp "$home/jars/*:$run/conf" \
            org.apache.livy.server.LivyServer </dev/null >"$run/logs/livy-server.log" 2>&1
    ) &
    echo $! >"$run/pid"
    watch_owner
    for i in $(seq 120); do
        # The log line proves the answer on $port comes from this server.
        if grep -qF "Starting server on http://127.0.0.1:$port" "$run/logs/livy-server.log" 2>/dev/null &&
            alive; then
            return 0
        fi
        kill -0 "$(cat "$run/pid")" 2>/dev/null || return 1
        sleep 0.5
    done
    return 1
}

# With NBPIPE_LIVY_OWNER_PID (internal/livytest sets the test binary's pid),
# a watcher stops the run once that process is gone: a test binary killed by
# its -timeout runs no cleanup. It holds none of start's output pipes.
watch_owner() {
    local owner="${NBPIPE_LIVY_OWNER_PID:-}"
    [[ "$owner" =~ ^[0-9]+$ ]] || return 0
    NBPIPE_LIVY_OWNER_PID= setsid bash "${BASH_SOURCE[0]}" _watch "$run" "$owner" \
        </dev/null >/dev/null 2>&1 &
}

watch_run() {
    local owner="$1"
    while kill -0 "$owner" 2>/dev/null; do
        server_running || exit 0
        sleep 2
    done
    server_running || [[ -n "$(run_pids)" ]] || exit 0
    echo "livy.sh: owner $owner is gone, stopping $run" >>"$run/logs/livy-server.log" 2>/dev/null || true
    stop_quiet
}

start() {
    install
    mkdir -p "$run"
    if alive; then
        url
        return 0
    fi
    stop_quiet
    local sh attempt
    sh="$(spark_home)"
    for attempt in 1 2 3; do
        if launch "$sh"; then
            url
            return 0
        fi
        # A free port can be taken between picking and binding it: retry.
        [[ -z "${NBPIPE_LIVY_PORT:-}" ]] && grep -q BindException "$run/logs/livy-server.log" 2>/dev/null ||
            break
        log "port taken meanwhile (attempt $attempt); retrying on another"
        stop_quiet
    done
    log "Livy did not come up; last lines of $run/logs/livy-server.log:"
    tail -30 "$run/logs/livy-server.log" >&2 || true
    stop_quiet
    exit 1
}

stop_quiet() {
    local pids i
    pids="$(run_pids)"
    if [[ -n "$pids" ]]; then
        # shellcheck disable=SC2086
        kill -TERM $pids 2>/dev/null || true
        for i in $(seq 40); do
            pids="$(run_pids)"
            [[ -z "$pids" ]] && break
            sleep 0.25
        done
        # shellcheck disable=SC2086
        [[ -n "$pids" ]] && kill -KILL $pids 2>/dev/null || true
    fi
    rm -f "$run/pid"
}

usage() {
    echo "usage: $0 start [DIR] | status [DIR] | stop [DIR] | install" >&2
    exit 2
}

cmd="${1:-}"
if [[ "$cmd" == _watch && $# -eq 3 ]]; then
    run="$2"
    watch_run "$3"
    exit 0
fi
if [[ $# -ge 2 ]]; then
    [[ $# -eq 2 && -n "$2" ]] || usage
    case "$cmd" in
        start) mkdir -p "$2" ;;
        stop | status) ;;
        *) usage ;;
    esac
    if [[ -d "$2" ]]; then
        run="$(cd "$2" && pwd -P)"
    else
        # Nothing was ever started there.
        [[ "$cmd" == stop ]] && exit 0
        echo "stopped"
        exit 1
    fi
fi

case "$cmd" in
    start) start ;;
    stop) stop_quiet ;;
    status)
        if alive; then
            url
        else
            echo "stopped"
            exit 1
        fi
        ;;
    install)
        [[ $# -eq 1 ]] || usage
        install
        echo "$home"
        ;;
    *) usage ;;
esac
