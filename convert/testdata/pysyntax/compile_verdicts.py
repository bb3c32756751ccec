"""Reads JSON lines {"src": ...} on stdin; prints one JSON line per input:
{"ok": bool, "line": int, "msg": str} from CPython's compile()."""
import json
import sys
import warnings

warnings.simplefilter("ignore")
for raw in sys.stdin:
    src = json.loads(raw)["src"]
    try:
        compile(src, "<cell>", "exec", dont_inherit=True)
        out = {"ok": True}
    except SyntaxError as e:
        out = {"ok": False, "line": e.lineno or 0, "msg": e.msg}
    except (ValueError, RecursionError, MemoryError, OverflowError) as e:
        out = {"ok": False, "line": 0, "msg": f"{type(e).__name__}: {e}"}
    print(json.dumps(out), flush=True)
