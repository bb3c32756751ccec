def _coerce(default, raw):
    """Command-line values are strings; non-string params are read as JSON."""
    if isinstance(default, str):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=f"Spark job {APP_NAME}")
    for name, default in PARAMS.items():
        parser.add_argument(f"--{name}", default=None, help=f"default: {default!r}")
    args = parser.parse_args(argv)
    return {
        name: _coerce(PARAMS[name], value)
        for name, value in vars(args).items()
        if value is not None
    }


def run_cells(spark, params):
    namespace = {"__name__": "__main__", "spark": spark, "sc": spark.sparkContext}
    if PARAMETERS_CELL is None:
        namespace.update(PARAMS)
        namespace.update(params)
    for position, cell in enumerate(CELLS):
        code = compile(cell["code"], f"<notebook cell {cell['cells'][0]}>", "exec")
        exec(code, namespace)  # noqa: S102 - running the cells is the job
        if position == PARAMETERS_CELL:
            namespace.update(params)
    return namespace


def main(argv=None):
    params = parse_args(argv)
    spark = SparkSession.builder.appName(APP_NAME).getOrCreate()
    try:
        run_cells(spark, params)
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
