// A `python3.12` for the differential syntax test on machines without one:
// CPython 3.12 compiled to WebAssembly (Pyodide, from the npm registry), run
// by Node. It takes `-c CODE` or `SCRIPT [ARGS...]`, reads stdin as a
// stream and writes stdout and stderr unbuffered, which is all the tests ask
// of an interpreter.
"use strict";
const fs = require("fs");
const { loadPyodide } = require("pyodide");

function readStdin(buf) {
  for (;;) {
    try {
      return fs.readSync(0, buf);
    } catch (e) {
      if (e.code === "EOF") return 0;
      if (e.code !== "EAGAIN") throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    }
  }
}

(async () => {
  const py = await loadPyodide();
  py.setStdin({ read: readStdin });
  py.setStdout({ write: (b) => fs.writeSync(1, b) });
  py.setStderr({ write: (b) => fs.writeSync(2, b) });
  const args = process.argv.slice(2);
  let code, argv;
  if (args[0] === "-c") {
    code = args[1];
    argv = ["-c", ...args.slice(2)];
  } else {
    code = fs.readFileSync(args[0], "utf8");
    argv = args;
  }
  py.globals.set("_argv", py.toPy(argv));
  py.globals.set("_code", code);
  // Run as python does: SystemExit gives the exit status, any other
  // exception a traceback on stderr and status 1.
  const status = py.runPython(`
import sys, traceback
sys.argv = list(_argv)
def _main(code, filename):
    try:
        exec(compile(code, filename, "exec"), {"__name__": "__main__"})
    except SystemExit as e:
        if e.code is None or isinstance(e.code, int):
            return e.code or 0
        print(e.code, file=sys.stderr)
        return 1
    except BaseException:
        traceback.print_exc()
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return 0
_main(_code, sys.argv[0])
`);
  process.exit(status);
})();
