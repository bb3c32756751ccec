def _coerce(default, value):
    """Values from a command line or Ilum's config may arrive as strings: they
    take the type of the parameter's default, read as JSON, when they can."""
    if isinstance(default, str) or not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def run_cells(spark, overrides):
    """Runs the notebook's cells in one namespace. The run's parameters
    override the notebook's values right after the parameters cell."""
    params = {
        name: _coerce(PARAMS[name], value)
        for name, value in overrides.items()
        if name in PARAMS
    }
    namespace = {"__name__": "__main__", "spark": spark, "sc": spark.sparkContext}
    if any("sqlContext" in cell["code"] for cell in CELLS):
        # sparkmagic's and Livy's sessions define sqlContext: so does this job.
        from pyspark.sql import SQLContext

        namespace["sqlContext"] = SQLContext(spark.sparkContext, spark)
    if PARAMETERS_CELL is None:
        namespace.update(PARAMS)
        namespace.update(params)
    for position, cell in enumerate(CELLS):
        code = compile(cell["code"], f"<notebook cell {cell['cells'][0]}>", "exec")
        exec(code, namespace)  # noqa: S102 - running the cells is the job
        if position == PARAMETERS_CELL:
            namespace.update(params)
    return params
