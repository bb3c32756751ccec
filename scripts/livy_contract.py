#!/usr/bin/env python3
"""Run a generated DAG in real Airflow (dag.test()) against Livy's REST contract.

    python livy_contract.py DAG_FILE DAG_ID RUN_CONF_JSON [success|failed]

Apache Livy is not a Python package and does not run here, so this script
serves Livy's documented REST API (api-facts.md section 2: sessions that go
starting -> idle, statements that go running -> available with output.status
ok or error and a traceback, DELETE) on 127.0.0.1 and executes every statement
in a real local SparkSession. The DAG file, Airflow, the Livy provider's
LivyHook and PySpark are all real; only the HTTP peer is this stand-in.

With NBPIPE_LIVY_URL set (scripts/livy.sh start prints it), the DAG talks to
that Livy server instead, and a run passes only if the server lists no
session afterwards.

It prints one JSON line: run state, task states, the requests Livy received,
the session states. Exit status 0 when the run ends in the expected state and
every session was deleted.
"""

import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
HOME = tempfile.mkdtemp(prefix="nbpipe-airflow-")
LATE_OUTPUT = int(os.environ.get("NBPIPE_LIVY_LATE_OUTPUT", "0"))
os.environ["AIRFLOW_HOME"] = HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
# dag.test() serializes the DAG from its bundle: the DAG file's folder.
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(sys.argv[1]).resolve().parent)
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{HOME}/airflow.db"

# NBPIPE_LIVY_URL points the DAG at a running Livy server (scripts/livy.sh);
# without it this script serves the contract itself.
LIVY_URL = os.environ.get("NBPIPE_LIVY_URL", "")
spark = None


def local_spark():
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("WARN")
    return session


SESSIONS = {}  # id -> {"state", "ns", "statements", "polls"}
REQUESTS = []
LOCK = threading.Lock()


class Livy(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def _reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n) or b"null")

    def _record(self, body=None):
        REQUESTS.append(
            {
                "method": self.command,
                "path": self.path,
                "content_type": self.headers.get("Content-Type"),
                "x_requested_by": self.headers.get("X-Requested-By"),
                "body": body,
            }
        )

    def do_POST(self):
        body = self._body()
        self._record(body)
        parts = self.path.strip("/").split("/")
        with LOCK:
            if parts == ["sessions"]:
                sid = len(SESSIONS)
                SESSIONS[sid] = {
                    "state": "starting",
                    "ns": {"spark": spark, "sc": spark.sparkContext},
                    "statements": [],
                    "polls": 0,
                    "conf": body,
                }
                return self._reply(201, {"id": sid, "state": "starting"})
            if len(parts) == 3 and parts[0] == "sessions" and parts[2] == "statements":
                s = SESSIONS.get(int(parts[1]))
                if s is None:
                    return self._reply(404, {"msg": "Session not found"})
                out = io.StringIO()
                try:
                    with contextlib.redirect_stdout(out):
                        code = compile(body["code"], "<stdin>", "exec")
                        exec(code, s["ns"])  # noqa: S102 - Livy runs statements
                    output = {
                        "status": "ok",
                        "execution_count": len(s["statements"]),
                        "data": {"text/plain": out.getvalue().rstrip("\n")},
                    }
                except Exception as e:  # noqa: BLE001
                    output = {
                        "status": "error",
                        "execution_count": len(s["statements"]),
                        "ename": type(e).__name__,
                        "evalue": str(e),
                        "traceback": traceback.format_exception(e),
                    }
                st = {
                    "id": len(s["statements"]),
                    "code": body["code"],
                    "state": "running",
                    "output": None,
                    "_out": output,
                }
                s["statements"].append(st)
                return self._reply(201, {k: v for k, v in st.items() if k != "_out"})
        self._reply(404, {"msg": "no route"})

    def do_GET(self):
        self._record()
        parts = self.path.strip("/").split("/")
        with LOCK:
            s = (
                SESSIONS.get(int(parts[1]))
                if len(parts) > 1 and parts[1].isdigit()
                else None
            )
            if s is None:
                return self._reply(404, {"msg": "Session not found"})
            if len(parts) == 3 and parts[2] == "state":
                s["polls"] += 1
                if s["state"] == "starting" and s["polls"] >= 2:
                    s["state"] = "idle"
                return self._reply(200, {"id": int(parts[1]), "state": s["state"]})
            if len(parts) == 4 and parts[2] == "statements":
                st = s["statements"][int(parts[3])]
                st["state"] = "available"
                # NBPIPE_LIVY_LATE_OUTPUT=N: the first N reads say available
                # with no output yet, as Livy has once under load.
                st["reads"] = st.get("reads", 0) + 1
                if st["reads"] > LATE_OUTPUT:
                    st["output"] = st["_out"]
                return self._reply(
                    200, {k: v for k, v in st.items() if k not in ("_out", "reads")}
                )
        self._reply(404, {"msg": "no route"})

    def do_DELETE(self):
        self._record()
        parts = self.path.strip("/").split("/")
        with LOCK:
            if len(parts) == 2 and parts[1].isdigit() and int(parts[1]) in SESSIONS:
                SESSIONS[int(parts[1])]["state"] = "deleted"
                return self._reply(200, {"msg": "deleted"})
        self._reply(404, {"msg": "Session not found"})


def livy_sessions(url):
    """The sessions a real Livy server still lists (deleted ones are gone)."""
    import urllib.request

    with urllib.request.urlopen(url.rstrip("/") + "/sessions") as reply:
        return {str(x["id"]): x["state"] for x in json.load(reply)["sessions"]}


def main():
    global spark
    dag_file, dag_id, run_conf = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    expect = sys.argv[4] if len(sys.argv) > 4 else "success"
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run(
        [airflow, "db", "migrate"], check=True, stdout=sys.stderr, stderr=sys.stderr
    )
    server = None
    if LIVY_URL:
        host, _, port = LIVY_URL.split("://", 1)[-1].rstrip("/").partition(":")
        conn = {"conn_type": "livy", "host": host, "port": int(port or 8998)}
    else:
        spark = local_spark()
        server = ThreadingHTTPServer(("127.0.0.1", 0), Livy)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        conn = {"conn_type": "livy", "host": "127.0.0.1", "port": server.server_port}
    import importlib.util

    spec = importlib.util.spec_from_file_location("generated_dag", dag_file)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    # The default conn id has dashes, so it can only come from a process env.
    os.environ["AIRFLOW_CONN_" + mod.LIVY_CONN_ID.upper()] = json.dumps(conn)
    mod.POLL_SECONDS = 0.2
    dag = mod.dag
    for task in dag.tasks:  # dag.test() would otherwise wait out retry_delay
        task.retries = 0
    if dag.dag_id != dag_id:
        raise SystemExit(f"{dag_file} defines {dag.dag_id}, not {dag_id}")
    with contextlib.redirect_stdout(sys.stderr):
        run = dag.test(run_conf=run_conf)
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    if LIVY_URL:
        sessions = livy_sessions(LIVY_URL)
        closed = not sessions
    else:
        sessions = {str(k): v["state"] for k, v in SESSIONS.items()}
        closed = all(s == "deleted" for s in sessions.values())
    ok = str(run.state) == expect and closed
    print(
        json.dumps(
            {
                "run_state": str(run.state),
                "task_states": states,
                "sessions": sessions,
                "session_conf": [s["conf"] for s in SESSIONS.values()],
                "requests": REQUESTS,
                "ok": ok,
            }
        )
    )
    if server:
        server.shutdown()
        spark.stop()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
