"""nbpipe's Python statement runner for its local Livy REPL driver (ReplDriver.java).

Protocol on stdin/stdout, one JSON object per line: the driver sends
{"id": N, "code": "..."}; this answers with a Livy statement output object:
{"status": "ok", "execution_count": N, "data": {"text/plain": "..."}} or
{"status": "error", "execution_count": N, "ename", "evalue", "traceback": [...]}.
The first line written is {"ready": true} once `sc` and `spark` are bound to the
driver JVM's SparkContext and SparkSession through py4j.
"""

import ast
import contextlib
import io
import json
import os
import sys
import traceback
import warnings

HERE = os.path.abspath(__file__)
SKIP = {HERE, os.path.abspath(ast.__file__)}


def bind_spark():
    from py4j.java_gateway import GatewayParameters, JavaGateway, java_import

    gateway = JavaGateway(
        gateway_parameters=GatewayParameters(
            address="127.0.0.1",
            port=int(os.environ["NBPIPE_LIVY_GATEWAY_PORT"]),
            auth_token=os.environ["NBPIPE_LIVY_GATEWAY_SECRET"],
            auto_convert=True,
        )
    )
    for name in (
        "org.apache.spark.SparkConf",
        "org.apache.spark.api.java.*",
        "org.apache.spark.api.python.*",
        "org.apache.spark.ml.python.*",
        "org.apache.spark.mllib.api.python.*",
        "org.apache.spark.resource.*",
        "org.apache.spark.sql.*",
        "org.apache.spark.sql.api.python.*",
        "org.apache.spark.sql.hive.*",
        "scala.Tuple2",
    ):
        java_import(gateway.jvm, name)

    from pyspark import SparkConf, SparkContext
    from pyspark.sql import SparkSession

    entry = gateway.entry_point
    jsc = entry.sc()
    sc = SparkContext(conf=SparkConf(_jconf=jsc.getConf()), gateway=gateway, jsc=jsc)
    spark = SparkSession(sc, entry.sparkSession())
    ns = {"__name__": "__main__", "__builtins__": __builtins__, "sc": sc, "spark": spark}
    try:
        from pyspark.sql import SQLContext

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ns["sqlContext"] = SQLContext(sc, spark)
    except Exception:  # noqa: BLE001 - optional convenience binding
        pass
    return ns


def user_traceback(exc):
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if os.path.abspath(f.filename) not in SKIP
    ]
    lines = ["Traceback (most recent call last):\n"] if frames else []
    lines += traceback.format_list(frames)
    lines += traceback.format_exception_only(type(exc), exc)
    return lines


def run(ns, counter, code):
    out = io.StringIO()
    try:
        tree = ast.parse(code, "<stdin>", "exec")
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        with contextlib.redirect_stdout(out):
            exec(compile(tree, "<stdin>", "exec"), ns)
            if last is not None:
                value = eval(compile(last, "<stdin>", "eval"), ns)
                if value is not None:
                    ns["_"] = value
                    print(repr(value))
    except BaseException as exc:  # noqa: BLE001 - every failure is a statement error
        return {
            "status": "error",
            "execution_count": counter,
            "ename": type(exc).__name__,
            "evalue": str(exc),
            "traceback": user_traceback(exc),
        }
    text = out.getvalue()
    if text.endswith("\n"):
        text = text[:-1]
    return {"status": "ok", "execution_count": counter, "data": {"text/plain": text}}


def main():
    # The protocol keeps the original stdout; anything else that writes to fd 1
    # (stray prints, child processes) lands on stderr, i.e. the session log.
    proto = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    ns = bind_spark()
    proto.write(json.dumps({"ready": True}) + "\n")
    proto.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        try:
            result = run(ns, req["id"], req["code"])
        except KeyboardInterrupt as exc:
            result = {
                "status": "error",
                "execution_count": req["id"],
                "ename": type(exc).__name__,
                "evalue": str(exc),
                "traceback": [],
            }
        sys.stdout = sys.stderr
        proto.write(json.dumps(result) + "\n")
        proto.flush()


if __name__ == "__main__":
    main()
