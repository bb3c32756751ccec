log = logging.getLogger(__name__)
LIVY_HEADERS = {"Content-Type": "application/json", "X-Requested-By": "nbpipe"}
FAILED_SESSION_STATES = {"error", "dead", "killed", "shutting_down", "success"}
POLL_SECONDS = 2
SESSION_START_TIMEOUT_SECONDS = 900


def _livy(method, endpoint, body=None):
    """Calls Livy through the Airflow connection and returns the JSON reply."""
    hook = LivyHook(livy_conn_id=LIVY_CONN_ID)
    response = hook.run_method(
        endpoint=endpoint,
        method=method,
        data=json.dumps(body) if body is not None else None,
        headers=LIVY_HEADERS,
    )
    if response.status_code >= 400:
        raise RuntimeError(
            f"Livy {method} {endpoint} failed: HTTP {response.status_code}: "
            f"{response.text[:2000]}"
        )
    return response.json() if response.content else {}


def _session_conf():
    conf = dict(SESSION_CONF)
    if conf.get("name"):
        # Livy refuses a second session with a name in use: every session
        # (a retry, a concurrent run) gets its own.
        conf["name"] = f"{conf['name']}-{uuid.uuid4().hex[:12]}"
    return conf


def _start_session():
    session_id = _livy("POST", "/sessions", _session_conf())["id"]
    deadline = time.monotonic() + SESSION_START_TIMEOUT_SECONDS
    try:
        while True:
            state = _livy("GET", f"/sessions/{session_id}/state")["state"]
            if state == "idle":
                if REQUIREMENTS:
                    _install_requirements(session_id)
                return session_id
            if state in FAILED_SESSION_STATES:
                raise RuntimeError(f"Livy session {session_id} ended in state {state}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Livy session {session_id} not idle in time")
            time.sleep(POLL_SECONDS)
    except BaseException:
        # A retry opens a new session: never leak this one.
        _stop_session(session_id)
        raise


def _stop_session(session_id):
    if session_id is None:
        return
    try:
        _livy("DELETE", f"/sessions/{session_id}")
    except RuntimeError as err:
        if "HTTP 404" not in str(err):
            raise


def _statement_code(position, params):
    """The cell's code; after the parameters cell, the run's params override."""
    code = CELLS[position]["code"]
    overrides = "".join(
        f"{name} = {params[name]!r}\n" for name in PARAMS if name in params
    )
    if position == PARAMETERS_CELL:
        return code + "\n" + overrides
    if PARAMETERS_CELL is None and position == 0:
        return overrides + code
    return code


def _install_requirements(session_id):
    """The notebook's %pip requirements, installed on the session's driver
    before the first cell (executors need them in the Spark image)."""
    code = (
        "import subprocess, sys\n"
        "subprocess.check_call([sys.executable, '-m', 'pip', 'install', '--quiet', "
        f"'--disable-pip-version-check', *{REQUIREMENTS!r}])\n"
    )
    _run_code(session_id, code, "installing the requirements")


def _run_code(session_id, code, what):
    endpoint = f"/sessions/{session_id}/statements"
    statement = _livy("POST", endpoint, {"code": code, "kind": "pyspark"})
    deadline = time.monotonic() + STATEMENT_TIMEOUT_SECONDS
    rereads = 0
    while statement["state"] in ("waiting", "running", "cancelling") or (
        # Livy can report a statement available a moment before its output.
        statement["state"] == "available"
        and statement.get("output") is None
        and rereads < 10
    ):
        rereads += statement["state"] == "available"
        if time.monotonic() > deadline:
            try:
                _livy("POST", f"{endpoint}/{statement['id']}/cancel", {})
            except RuntimeError as err:
                log.warning("cancelling statement %s: %s", statement["id"], err)
            raise RuntimeError(
                f"{what}: statement still {statement['state']} after "
                f"{STATEMENT_TIMEOUT_SECONDS} s (statement_timeout); cancelled"
            )
        time.sleep(POLL_SECONDS)
        statement = _livy("GET", f"{endpoint}/{statement['id']}")
    output = statement.get("output") or {}
    if statement["state"] != "available" or output.get("status") != "ok":
        traceback = "".join(output.get("traceback") or [])
        raise RuntimeError(
            f"{what} failed: "
            f"{output.get('ename', statement['state'])}: {output.get('evalue', '')}\n"
            f"{traceback}"
        )
    return (output.get("data") or {}).get("text/plain")


def _run_statement(session_id, position, params):
    cell = CELLS[position]
    code = _statement_code(position, params)
    what = f"task {cell['task_id']} (notebook cells {cell['cells']})"
    text = _run_code(session_id, code, what)
    if text:
        log.info("%s output:\n%s", cell["task_id"], text)


def open_session(**context):
    return _start_session()


def run_cell(position, **context):
    # The cell is passed by position: op_kwargs are Jinja-templated, and
    # notebook code must never go through a template engine.
    session_id = context["ti"].xcom_pull(task_ids="open_session")
    _run_statement(session_id, position, context["params"])


def close_session(**context):
    _stop_session(context["ti"].xcom_pull(task_ids="open_session"))


def run_notebook(**context):
    session_id = _start_session()
    try:
        for position in range(len(CELLS)):
            _run_statement(session_id, position, context["params"])
    finally:
        _stop_session(session_id)
