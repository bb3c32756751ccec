def _coerce(default, value):
    """Ilum passes config values as given; strings become the default's type."""
    if isinstance(default, str) or not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


class NotebookService(_IlumJob):
    def run(self, spark, config):
        config = config or {}
        params = {
            name: _coerce(default, config[name])
            for name, default in PARAMS.items()
            if name in config
        }
        namespace = {"__name__": "__main__", "spark": spark, "sc": spark.sparkContext}
        if PARAMETERS_CELL is None:
            namespace.update(PARAMS)
            namespace.update(params)
        for position, cell in enumerate(CELLS):
            source = f"<notebook cell {cell['cells'][0]}>"
            code = compile(cell["code"], source, "exec")
            exec(code, namespace)  # noqa: S102 - running the cells is the job
            if position == PARAMETERS_CELL:
                namespace.update(params)
        return json.dumps({"status": "ok", "cells": len(CELLS), "params": params})
