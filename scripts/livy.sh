#!/usr/bin/env bash
# Runs a real Apache Livy server locally (Spark local mode) for nbpipe's
# end-to-end tests, assembled only from package registries:
#
#   scripts/livy.sh start    -> installs once (cached), starts, prints the base URL
#   scripts/livy.sh status   -> prints the base URL, exit 0 if it answers, 1 if not
#   scripts/livy.sh stop     -> stops the server and every Spark driver it launched
#   scripts/livy.sh install  -> only the cached install; prints LIVY_HOME
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
# Everything lives under ${NBPIPE_CACHE:-$HOME/.cache/nbpipe}/livy: venv/,
# home/ (jars, rsc-jars, repl_2.12-jars), run/ (conf, logs, pid, url). A stamp
# holds the hash of the pins and of scripts/livy/*; when it matches, install
# does nothing. The first install takes about a minute on a warm network
# (pip ~35 s, mvn ~20 s) and ~430 MB.
#
# Environment: NBPIPE_LIVY_PORT (default: a free loopback port),
# NBPIPE_LIVY_MASTER (default local[2]), NBPIPE_PYTHON (default python3),
# JAVA_HOME (default: java on PATH; Java 17 expected).
# Only loopback addresses are used (server, Spark driver, RPC, py4j), except
# that livy-rsc's driver-side RPC server listens on a wildcard port 10000-10010.
set -euo pipefail

LIVY_VERSION=0.7.1-incubating
PYSPARK_VERSION=3.5.9

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$here/livy"
cache="${NBPIPE_CACHE:-$HOME/.cache/nbpipe}/livy"
venv="$cache/venv"
home="$cache/home"
run="$cache/run"
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

install() {
    installed && return 0
    mkdir -p "$cache"
    if command -v flock >/dev/null 2>&1; then
        exec 8>"$cache/.install.lock"
        flock 8
        installed && return 0
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
}

url() { [[ -f "$run/url" ]] && cat "$run/url"; }

alive() {
    [[ -f "$run/pid" ]] && kill -0 "$(cat "$run/pid")" 2>/dev/null &&
        curl -sf -m 5 "$(url)/sessions" >/dev/null 2>&1
}

free_port() {
    "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start() {
    install
    if alive; then
        url
        return 0
    fi
    stop_quiet
    local sh port
    sh="$(spark_home)"
    port="${NBPIPE_LIVY_PORT:-$(free_port)}"
    mkdir -p "$run/conf" "$run/logs" "$run/work"
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
    # RSC settings (driver <-> server RPC) are read from livy-client.conf.
    cat >"$run/conf/livy-client.conf" <<CONF
livy.rsc.rpc.server.address = 127.0.0.1
livy.rsc.launcher.address = 127.0.0.1
CONF
    cat >"$run/conf/spark-defaults.conf" <<CONF
spark.ui.enabled false
spark.driver.host 127.0.0.1
spark.driver.bindAddress 127.0.0.1
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
    # process group, which stop ends as a whole.
    (
        cd "$run/work"
        export LIVY_HOME="$home" LIVY_CONF_DIR="$run/conf" LIVY_LOG_DIR="$run/logs" SPARK_HOME="$sh" \
            SPARK_CONF_DIR="$run/conf" SPARK_LOCAL_IP=127.0.0.1 \
            PYSPARK_PYTHON="$venv/bin/python" PYSPARK_DRIVER_PYTHON="$venv/bin/python"
        [[ -n "${JAVA_HOME:-}" ]] && export PATH="$JAVA_HOME/bin:$PATH"
        exec setsid "$java" "${JAVA_OPENS[@]}" -Xmx512m -cp "$home/jars/*:$run/conf" \
            org.apache.livy.server.LivyServer </dev/null >"$run/logs/livy-server.log" 2>&1
    ) &
    echo $! >"$run/pid"
    local i
    for i in $(seq 120); do
        if alive; then
            url
            return 0
        fi
        if ! kill -0 "$(cat "$run/pid")" 2>/dev/null; then
            break
        fi
        sleep 0.5
    done
    log "Livy did not come up; last lines of $run/logs/livy-server.log:"
    tail -30 "$run/logs/livy-server.log" >&2 || true
    stop_quiet
    exit 1
}

stop_quiet() {
    [[ -f "$run/pid" ]] || return 0
    local pid i
    pid="$(cat "$run/pid")"
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        for i in $(seq 40); do
            kill -0 -- "-$pid" 2>/dev/null || break
            sleep 0.25
        done
        kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    rm -f "$run/pid"
}

case "${1:-}" in
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
        install
        echo "$home"
        ;;
    *)
        echo "usage: $0 start|stop|status|install" >&2
        exit 2
        ;;
esac
