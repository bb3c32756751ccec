#!/usr/bin/env python3
"""Run nbpipe's Spark outputs under local PySpark.

Run with the venv made by scripts/pyenv.sh:

    PY="$(scripts/pyenv.sh | tail -n1)/bin/python"
    $PY scripts/run_spark.py pyfile OUT/spark/etl.py -- --alpha 2 --name y
    $PY scripts/run_spark.py service OUT/ilum/etl_service.py --class EtlService \\
        --config '{"alpha": "2"}' [--no-ilum]

pyfile: spark-submit (from the venv's pyspark) runs FILE with the given
arguments on local[2], like a cluster runs a pyFile; exit status is the job's.

service: imports FILE, builds a local SparkSession, instantiates --class and
calls run(spark, config); the returned value is printed on stdout (last line).
Without --no-ilum the class must subclass the real ilum.api.IlumJob; with
--no-ilum importing the ilum package is blocked, so the module's ImportError
shim is what the class subclasses (as on a Spark image without ilum).

Exit status 0 on success, 1 on any failure. Spark runs on 127.0.0.1 only, with
the UI off, 2 shuffle partitions and WARN logging.
"""

from __future__ import annotations

import argparse
import importlib.abc
import importlib.util
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

SPARK_CONF = {
    "spark.master": "local[2]",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.log.level": "WARN",
}


def spark_env() -> dict:
    env = dict(os.environ)
    env.update(
        {
            "PYSPARK_PYTHON": sys.executable,
            "PYSPARK_DRIVER_PYTHON": sys.executable,
            "SPARK_LOCAL_IP": "127.0.0.1",
            "SPARK_LOCAL_HOSTNAME": "localhost",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def spark_submit() -> str:
    """spark-submit of the pyspark package installed in this interpreter."""
    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("run_spark.py: pyspark is not installed in " + sys.executable)
    path = Path(spec.submodule_search_locations[0]) / "bin" / "spark-submit"
    if not path.exists():
        raise SystemExit(f"run_spark.py: {path} not found")
    return str(path)


SETUP_WRAPPER = """\
import json
import runpy
import sys

from pyspark.sql import SparkSession

file, setup = sys.argv[1], json.loads(sys.argv[2])
spark = SparkSession.builder.getOrCreate()
for statement in setup:
    spark.sql(statement)
sys.argv = [file, *sys.argv[3:]]
runpy.run_path(file, run_name="__main__")
"""


def run_pyfile(file: Path, args: list[str], setup_sql: list[str] | None = None) -> int:
    if setup_sql:
        # The job's getOrCreate() gets the session the setup made, so its
        # temporary views stand in for the tables a notebook reads.
        wrapper = file.with_name(file.stem + "_setup_wrapper.py")
        wrapper.write_text(SETUP_WRAPPER)
        args = [json.dumps(setup_sql), *args]
        file, real = wrapper, file
        args = [str(real), *args]
    cmd = [spark_submit()]
    for key, value in SPARK_CONF.items():
        if key == "spark.master":
            cmd += ["--master", value]
        else:
            cmd += ["--conf", f"{key}={value}"]
    cmd += [str(file), *args]
    print("run_spark.py: " + " ".join(cmd), file=sys.stderr, flush=True)
    return subprocess.run(cmd, env=spark_env(), check=False).returncode


class _BlockIlum(importlib.abc.MetaPathFinder):
    """Makes `import ilum` (and submodules) fail, as on an image without it."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname == "ilum" or fullname.startswith("ilum."):
            raise ImportError(f"No module named {fullname!r} (blocked by --no-ilum)")


def load_module(file: Path):
    name = "nbpipe_service_" + file.stem
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise SystemExit(f"run_spark.py: cannot import {file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def run_service(
    file: Path,
    class_name: str,
    config: dict,
    no_ilum: bool,
    setup_sql: list[str] | None = None,
) -> int:
    if no_ilum:
        for mod in [m for m in sys.modules if m == "ilum" or m.startswith("ilum.")]:
            del sys.modules[mod]
        sys.meta_path.insert(0, _BlockIlum())
    # Read by SparkSession when it launches the JVM (and the Python workers).
    os.environ.update(spark_env())

    module = load_module(file)
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type):
        print(f"run_spark.py: {file} has no class {class_name}", file=sys.stderr)
        return 1
    bases = [f"{c.__module__}.{c.__qualname__}" for c in cls.__mro__]
    if no_ilum:
        if any(b.startswith("ilum.") for b in bases) or "ilum" in sys.modules:
            print(
                f"run_spark.py: ilum was imported despite --no-ilum: {bases}",
                file=sys.stderr,
            )
            return 1
    else:
        from ilum.api import IlumJob

        if not issubclass(cls, IlumJob):
            print(
                f"run_spark.py: {class_name} does not subclass ilum.api.IlumJob: {bases}",
                file=sys.stderr,
            )
            return 1
    print(f"run_spark.py: {class_name} mro: {bases}", file=sys.stderr, flush=True)

    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(f"nbpipe-test-{file.stem}")
    for key, value in SPARK_CONF.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    for statement in setup_sql or []:
        spark.sql(statement)
    try:
        result = cls().run(spark, config)
    except Exception:  # noqa: BLE001 - reported as the run's failure
        traceback.print_exc()
        return 1
    finally:
        spark.stop()
    if not isinstance(result, str):
        print(
            f"run_spark.py: run() returned {type(result).__name__}, not str: {result!r}",
            file=sys.stderr,
        )
        return 1
    print(result, flush=True)
    return 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    job_args: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, job_args = argv[:cut], argv[cut + 1 :]

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    p_file = sub.add_parser("pyfile", help="spark-submit a generated pyFile")
    p_file.add_argument("file", type=Path)
    p_file.add_argument(
        "--setup-sql", action="append", default=[], help="SQL run in the session first"
    )
    p_svc = sub.add_parser("service", help="run a generated Ilum service class")
    p_svc.add_argument(
        "--setup-sql", action="append", default=[], help="SQL run in the session first"
    )
    p_svc.add_argument("file", type=Path)
    p_svc.add_argument("--class", dest="class_name", required=True)
    p_svc.add_argument("--config", default="{}", help="JSON object passed as config")
    p_svc.add_argument("--no-ilum", action="store_true", help="block the ilum package")
    args = parser.parse_args(argv)

    if not args.file.is_file():
        parser.error(f"{args.file}: no such file")
    start = time.monotonic()
    if args.mode == "pyfile":
        rc = run_pyfile(args.file, job_args, args.setup_sql)
    else:
        if job_args:
            parser.error("service mode takes no arguments after --")
        config = json.loads(args.config)
        if not isinstance(config, dict):
            parser.error("--config must be a JSON object")
        rc = run_service(
            args.file, args.class_name, config, args.no_ilum, args.setup_sql
        )
    status = "ok" if rc == 0 else f"FAILED (exit {rc})"
    print(
        f"run_spark.py: {args.mode} {status} in {time.monotonic() - start:.1f}s",
        file=sys.stderr,
    )
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
