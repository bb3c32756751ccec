class NotebookService(_IlumJob):
    def run(self, spark, config):
        params = run_cells(spark, config or {})
        return json.dumps({"status": "ok", "cells": len(CELLS), "params": params})
