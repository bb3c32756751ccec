package convert

import (
	"fmt"
	"strings"
)

// kernelMode says how cells without a magic are read.
type kernelMode int

const (
	kernelPython    kernelMode = iota // IPython: a cell without magic is plain Python
	kernelSparkPy                     // sparkmagic PySpark kernels: a cell without magic runs in Spark
	kernelSynapsePy                   // Synapse PySpark: like sparkmagic, but %%spark means Scala
)

// checkKernel refuses notebooks that are not Python.
func checkKernel(k Kernel) (kernelMode, error) {
	name := strings.ToLower(k.Name)
	lang := k.Language
	switch {
	case name == "python2" || lang == "python2":
		return 0, fmt.Errorf("kernel %q is Python 2; nbpipe generates Python 3", k.Name)
	case strings.Contains(name, "sparkr") || name == "sparkkernel" || strings.HasPrefix(name, "sparkkernel_") || strings.Contains(name, "spark_magic_scala") || name == "spylon-kernel":
		return 0, fmt.Errorf("kernel %q (language %s) is not Python; nbpipe converts Python and PySpark notebooks", k.Name, orUnknown(lang))
	case strings.HasPrefix(name, "synapse_pyspark"):
		return kernelSynapsePy, nil
	case strings.Contains(name, "pyspark") || lang == "pyspark":
		return kernelSparkPy, nil
	}
	switch lang {
	case "", "python", "python3", "ipython", "ipython3":
		return kernelPython, nil
	}
	return 0, fmt.Errorf("kernel %q (language %s) is not Python; nbpipe converts Python and PySpark notebooks", k.Name, orUnknown(lang))
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// Cell kinds. The exportable ones are listed in config.go (cellKinds).
const (
	kindPlain     = "plain"
	kindSpark     = "spark"
	kindPySpark   = "pyspark"
	kindSQL       = "sql"
	kindLocal     = "local"
	kindConfigure = "configure"
)

// wrapperMagics only wrap their body: the magic line is dropped, the body kept.
var wrapperMagics = map[string]bool{"time": true, "capture": true, "timeit": true, "prun": true}

// knownMagics are cell magics nbpipe recognises but does not export; the cell
// is dropped and reported with the reason.
var knownMagics = map[string]string{
	"bash": "shell cell", "sh": "shell cell", "script": "shell cell", "system": "shell cell",
	"writefile": "writes a local file", "html": "HTML output", "javascript": "JavaScript output",
	"js": "JavaScript output", "latex": "LaTeX output", "markdown": "Markdown output", "svg": "SVG output",
	"info": "session information", "cleanup": "deletes Livy sessions", "delete": "deletes a Livy session",
	"send_to_spark": "copies local data into the session", "send_to_local": "copies session data to the notebook",
	"logs": "shows session logs", "pretty": "notebook display", "display": "notebook display",
	"help": "magic help", "scalaspark": "Scala cell", "scala": "Scala cell", "rspark": "R cell",
	"sparkr": "R cell", "r": "R cell", "csharp": "C# cell", "bigquery": "BigQuery magic",
	"matplot": "notebook display", "manage_spark": "session management",
}

// classified is a code cell after its cell magic was read.
type classified struct {
	cell     *Cell
	kind     string // plain, spark, pyspark, sql, local, configure, or the magic's name
	magic    string // the cell magic line, without %%, when there was one
	args     string // the magic's arguments
	body     string // the source after the magic line(s)
	bodyLine int    // line in the cell where body starts, 1-based
	dropWhy  string // set for cells that can never be exported
	wrappers []string
}

// classify reads a code cell's cell magic (after IPython's removal of leading
// blank lines).
func classify(c *Cell, mode kernelMode) classified {
	src, line := c.Source, 1
	out := classified{cell: c}
	for {
		// Skip leading blank lines, as IPython does.
		for {
			nl := strings.IndexByte(src, '\n')
			if nl < 0 || strings.TrimSpace(src[:nl]) != "" {
				break
			}
			src, line = src[nl+1:], line+1
		}
		first := src
		rest := ""
		if nl := strings.IndexByte(src, '\n'); nl >= 0 {
			first, rest = src[:nl], src[nl+1:]
		}
		first = strings.TrimRight(first, " \t\r")
		if !strings.HasPrefix(first, "%%") {
			out.body, out.bodyLine = src, line
			switch mode {
			case kernelSparkPy, kernelSynapsePy:
				out.kind = kindSpark
			default:
				out.kind = kindPlain
			}
			return out
		}
		name, args, _ := strings.Cut(strings.TrimPrefix(first, "%%"), " ")
		name = strings.ToLower(strings.TrimSpace(name))
		args = strings.TrimSpace(args)
		if wrapperMagics[name] {
			out.wrappers = append(out.wrappers, "%%"+name)
			src, line = rest, line+1
			continue
		}
		out.magic, out.args, out.body, out.bodyLine = name, args, rest, line+1
		switch name {
		case "spark":
			if mode == kernelSynapsePy {
				out.kind, out.dropWhy = "scala", "%%spark is a Scala cell in Synapse"
			} else if ctx := sparkContextArg(args); ctx == "sql" {
				out.kind = kindSQL
			} else {
				out.kind = kindSpark
			}
		case "pyspark":
			out.kind = kindPySpark
		case "sql", "sparksql":
			out.kind = kindSQL
		case "configure":
			out.kind = kindConfigure
		case "local":
			out.kind = kindLocal
		default:
			out.kind = name
			if why, ok := knownMagics[name]; ok {
				out.dropWhy = fmt.Sprintf("%%%%%s cell (%s)", name, why)
			} else {
				out.dropWhy = fmt.Sprintf("unknown cell magic %%%%%s", name)
			}
		}
		return out
	}
}

// sparkContextArg returns the value of sparkmagic's -c/--context option.
func sparkContextArg(args string) string {
	f := strings.Fields(args)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "-c" || f[i] == "--context" {
			return strings.ToLower(f[i+1])
		}
	}
	return ""
}

// isPythonKind reports whether the kind's body is Python source.
func isPythonKind(kind string) bool {
	switch kind {
	case kindPlain, kindSpark, kindPySpark, kindLocal:
		return true
	}
	return false
}
