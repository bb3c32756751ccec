#!/usr/bin/env python3
"""Time the seed (jupyterlab-pipelines 0.1.0) converting notebooks, in-process.

Run it with the seed venv's interpreter (bench/seed_env.sh prints the venv):

    "$(bench/seed_env.sh | tail -n 1)/bin/python" bench/seed_bench.py \
        ../shared/corpus/notebooks --iterations 5

For every notebook it does what one full export does through the seed's public
functions, with the seed's backend defaults:

    notebook_parser.parse_notebook(path)             read + nbformat parse + cells
    (no code cells -> rejected, as the /export handler's 422 does)
    airflow_generator.DagOptions(dag_id=...)           dag_id derived from the file
                                                       name the way the UI does
    airflow_generator.render_with_report("batch", ...)     sanitize + DAG + black
    airflow_generator.render_with_report("per_cell", ...)  sanitize + merge + DAG + black
    cron_packager.extract_param_metadata / partition_form_params   (parameters cells)
    notebook_parser.concatenate_with_report(cells)     sanitized script
    cron_packager.wrap_notebook_as_pyfile(code, ...)   Spark pyFile + black
    cron_packager.wrap_notebook_as_service_class(code, ...)  IlumJob class + black
    [--scan-secrets] secrets_scanner.scan_for_secrets over cells and outputs

A notebook whose conversion raises is counted as failed; its time still counts,
its bytes do not. The best (lowest) total time over the iterations is reported.

stdout gets exactly one JSON line:
  {"tool":"seed","notebooks":N,"converted":N,"failed":N,"bytes":B,"seconds":S,
   "notebooks_per_s":X,"mb_per_s":Y,"baseline_rss_mb":R0,"peak_rss_mb":Z, ...}
bytes: input bytes of the converted notebooks; MB = 1e6 bytes (as Go's MB/s).
notebooks_per_s counts every notebook tried (as nbpipe's benchmark does).
RSS figures are MiB from getrusage(RUSAGE_SELF).ru_maxrss; baseline_rss_mb is
taken after the seed is imported, before any notebook is read.
Rejection details go to stderr with --verbose.
"""

from __future__ import annotations

import argparse
import ast
import collections
import json
import logging
import re
import resource
import sys
import time
import warnings
from pathlib import Path


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


class _CountingHandler(logging.Handler):
    """Swallow the seed's (and nbformat's) log records, counting them."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.counts: collections.Counter[str] = collections.Counter()
        self.current: collections.Counter[str] = collections.Counter()

    def emit(self, record: logging.LogRecord) -> None:
        key = record.name
        if record.name.endswith("code_formatter"):
            key = "black-fallback"  # black raised; the seed returns unformatted source
        elif record.name == "py.warnings":
            key = "warning:" + record.getMessage().split(":", 3)[-1].strip()[:60]
        self.counts[key] += 1
        self.current[key] += 1


def _collect(paths: list[str]) -> list[Path]:
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*.ipynb") if q.is_file()))
        elif p.is_file():
            out.append(p)
        else:
            raise SystemExit(f"seed_bench: no such file or directory: {raw}")
    return out


def _dag_id_for(path: Path) -> str:
    # The seed's UI pre-fills the DAG ID from the notebook's file name:
    # basename, .ipynb/.py dropped, every char outside [A-Za-z0-9_] -> "_".
    return re.sub(r"[^A-Za-z0-9_]", "_", re.sub(r"\.(ipynb|py)$", "", path.name))


def _reason(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    msg = re.sub(r"/\S+", "<path>", msg)
    msg = re.sub(r"'[^']{30,}'", "'...'", msg)
    return f"{type(exc).__name__}: {msg[:120]}".rstrip(": ")


class Rejected(Exception):
    """The seed's export handler would refuse the notebook (HTTP 4xx)."""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "paths", nargs="+", help="notebook files or directories (*.ipynb, recursive)"
    )
    ap.add_argument(
        "--iterations", type=int, default=5, help="timed passes (default 5)"
    )
    ap.add_argument(
        "--enabled-kinds",
        default="",
        help="comma list of cell kinds to export (default: the seed backend's "
        "DEFAULT_ENABLED_KINDS; the UI would send spark,pyspark)",
    )
    ap.add_argument(
        "--scan-secrets",
        action="store_true",
        help="also run the seed's secret scan (a finding counts as a rejection)",
    )
    ap.add_argument(
        "--check",
        action="store_true",
        help="after timing, compile() every generated file and every embedded "
        "cell string and report how many are not valid Python (not timed)",
    )
    ap.add_argument(
        "--verbose", "-v", action="store_true", help="per-notebook failures on stderr"
    )
    args = ap.parse_args(argv)
    if args.iterations < 1:
        ap.error("--iterations must be >= 1")

    real_stdout = sys.stdout
    sys.stdout = sys.stderr  # nothing the seed prints may corrupt the JSON line

    counter = _CountingHandler()
    logging.captureWarnings(True)
    warnings.simplefilter("always")
    root = logging.getLogger()
    root.handlers[:] = [counter]
    root.setLevel(logging.WARNING)

    # Importing any seed module runs jupyterlab_pipelines/__init__.py, which
    # imports the Jupyter server handlers; that cost lands in baseline_rss_mb.
    from jupyterlab_pipelines import __version__ as seed_version
    from jupyterlab_pipelines.airflow_generator import DagOptions, render_with_report
    from jupyterlab_pipelines.cron_packager import (
        derive_module_name,
        extract_param_metadata,
        partition_form_params,
        wrap_notebook_as_pyfile,
        wrap_notebook_as_service_class,
    )
    from jupyterlab_pipelines.notebook_parser import (
        DEFAULT_ENABLED_KINDS,
        concatenate_with_report,
        parse_notebook,
    )
    from jupyterlab_pipelines.secrets_scanner import scan_for_secrets

    # structlog / logging config done at import time may add handlers again.
    root.handlers[:] = [counter]
    for name in list(logging.root.manager.loggerDict):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True

    if args.enabled_kinds:
        kinds = {k.strip() for k in args.enabled_kinds.split(",") if k.strip()}
    else:
        kinds = set(DEFAULT_ENABLED_KINDS)
    dag_kinds = kinds | {"parameters"}  # the /export handler force-includes it

    notebooks = _collect(args.paths)
    if not notebooks:
        raise SystemExit("seed_bench: no notebooks found")
    sizes = {p: p.stat().st_size for p in notebooks}

    def convert(path: Path) -> dict[str, str]:
        cells = parse_notebook(path)
        if not cells:
            raise Rejected("notebook has no executable code cells")
        stem = re.sub(r"\.ipynb$", "", path.name)
        opts = DagOptions(
            dag_id=_dag_id_for(path),
            schedule="",  # the UI's default schedule: manual trigger (None)
            start_date="2026-01-01",  # fixed: the handler's default is today-7d
            notebook_path=path.name,
        )
        batch, _ = render_with_report("batch", cells, opts, enabled_kinds=dag_kinds)
        per_cell, _ = render_with_report(
            "per_cell", cells, opts, enabled_kinds=dag_kinds
        )

        names: list[str] = []
        defaults: dict[str, str] = {}
        for c in cells:
            if c.is_parameters:
                regular, _form = partition_form_params(
                    extract_param_metadata(c.parameters_body)
                )
                for meta in regular:
                    if meta["name"] not in defaults:
                        names.append(meta["name"])
                        defaults[meta["name"]] = meta["default_repr"]
        code, _ = concatenate_with_report(cells, enabled_kinds=kinds)
        module = derive_module_name(stem)
        pyfile = wrap_notebook_as_pyfile(
            code,
            module_name=module,
            app_name=stem,
            with_params=bool(names),
            kind="single",
            param_names=names,
            param_defaults=defaults,
        ).decode("utf-8")
        service = wrap_notebook_as_service_class(
            code,
            module_name=module,
            app_name=stem,
            param_names=names,
            param_defaults=defaults,
        ).decode("utf-8")
        outs = {
            "batch": batch,
            "per_cell": per_cell,
            "pyfile": pyfile,
            "service": service,
        }
        if args.scan_secrets:
            findings = [f for c in cells for f in scan_for_secrets(c.source)]
            for text in outs.values():
                findings.extend(scan_for_secrets(text))
            if findings:
                kinds_found = sorted({f["type"] for f in findings})
                raise Rejected(f"secrets detected: {kinds_found}")
        return outs

    baseline = _rss_mib()
    times: list[float] = []
    failures: dict[Path, str] = {}
    logged: dict[Path, dict[str, int]] = {}
    out_bytes = 0
    last_outputs: dict[Path, dict[str, str]] = {}
    for it in range(args.iterations):
        failures = {}
        out_bytes = 0
        t0 = time.perf_counter()
        for path in notebooks:
            counter.current.clear()
            try:
                outs = convert(path)
            except Exception as exc:  # noqa: BLE001 - the seed's rejections
                failures[path] = _reason(exc)
                outs = None
            if it == 0:
                logged[path] = dict(counter.current)
            if outs is not None:
                out_bytes += sum(len(v.encode("utf-8")) for v in outs.values())
                if args.check and it == args.iterations - 1:
                    last_outputs[path] = outs
        times.append(time.perf_counter() - t0)
    peak = _rss_mib()

    best = min(times)
    converted = [p for p in notebooks if p not in failures]
    nbytes = sum(sizes[p] for p in converted)
    reasons = collections.Counter(failures.values())
    black_nbs = sum(1 for p in converted if logged.get(p, {}).get("black-fallback"))
    result = {
        "tool": "seed",
        "version": seed_version,
        "notebooks": len(notebooks),
        "converted": len(converted),
        "failed": len(failures),
        "bytes": nbytes,
        "bytes_all": sum(sizes.values()),
        "output_bytes": out_bytes,
        "iterations": args.iterations,
        "seconds": round(best, 6),
        "seconds_all": [round(t, 4) for t in times],
        "notebooks_per_s": round(len(notebooks) / best, 3),
        "mb_per_s": round(nbytes / 1e6 / best, 3),
        "baseline_rss_mb": round(baseline, 1),
        "peak_rss_mb": round(peak, 1),
        "enabled_kinds": sorted(kinds),
        "secret_scan": args.scan_secrets,
        "rejects": dict(reasons.most_common()),
        "converted_with_black_fallback": black_nbs,
    }

    if args.check:
        result["check"] = _check(last_outputs, args.verbose)

    if args.verbose:
        for p in notebooks:
            if p in failures:
                print(f"FAILED  {p.name}: {failures[p]}", file=sys.stderr)
            elif logged.get(p):
                print(f"logged  {p.name}: {logged[p]}", file=sys.stderr)
    print(json.dumps(result, separators=(",", ":")), file=real_stdout, flush=True)
    return 0


def _embedded_code(dag_source: str) -> list[str]:
    """String constants a generated DAG passes to Livy (NOTEBOOK_CODE / "code")."""
    found: list[str] = []
    for node in ast.walk(ast.parse(dag_source)):
        if (
            isinstance(node, ast.Assign)
            and any(
                isinstance(t, ast.Name) and t.id == "NOTEBOOK_CODE"
                for t in node.targets
            )
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            found.append(node.value.value)
        if isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values):
                if (
                    isinstance(k, ast.Constant)
                    and k.value == "code"
                    and isinstance(v, ast.Constant)
                    and isinstance(v.value, str)
                ):
                    found.append(v.value)
    return found


def _compiles(src: str) -> bool:
    try:
        compile(src, "<generated>", "exec")
        return True
    except (SyntaxError, ValueError):
        return False


def _check(outputs: dict[Path, dict[str, str]], verbose: bool) -> dict[str, int]:
    bad: collections.Counter[str] = collections.Counter()
    for path, outs in outputs.items():
        for name, text in outs.items():
            if not _compiles(text):
                bad[f"{name}_file_invalid"] += 1
                if verbose:
                    print(
                        f"check   {path.name}: {name} file is not valid Python",
                        file=sys.stderr,
                    )
                continue
            if name in ("batch", "per_cell"):
                codes = _embedded_code(text)
                n_bad = sum(1 for c in codes if not _compiles(c))
                bad[f"{name}_cells"] += len(codes)
                if n_bad:
                    bad[f"{name}_cells_invalid"] += n_bad
                    bad[f"{name}_notebooks_with_invalid_cell"] += 1
                    if verbose:
                        print(
                            f"check   {path.name}: {name}: {n_bad}/{len(codes)} embedded "
                            "code strings are not valid Python",
                            file=sys.stderr,
                        )
    bad["notebooks_checked"] = len(outputs)
    return dict(sorted(bad.items()))


if __name__ == "__main__":
    sys.exit(main())
