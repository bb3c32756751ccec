package convert

import (
	"fmt"
	"strings"
)

// kernelMode says how cells without a magic are read.
type kernelMode int

const (
	kernelPython     kernelMode = iota // IPython: a cell without magic is plain Python
	kernelSparkPy                      // sparkmagic PySpark kernels: a cell without magic runs in Spark
	kernelSynapsePy                    // Synapse PySpark: like sparkmagic, but %%spark means Scala
	kernelSynapseSQL                   // Synapse Spark SQL: a cell without magic is Spark SQL
	kernelForeign                      // another language: a cell without magic is that language
)

// kernelInfo is how a notebook's kernel reads its cells.
type kernelInfo struct {
	mode kernelMode
	lang string // the cells' language for kernelForeign, e.g. "Scala"
}

// checkKernel refuses Python 2 notebooks. Other languages' notebooks are read
// cell by cell: their %%sql (and %%pyspark) cells convert, and a cell in the
// kernel's own language refuses the notebook only when it would be exported.
func checkKernel(k Kernel) (kernelInfo, error) {
	name := strings.ToLower(k.Name)
	lang := k.Language
	switch {
	case name == "python2" || lang == "python2":
		return kernelInfo{}, fmt.Errorf("kernel %q is Python 2; nbpipe generates Python 3", k.Name)
	case strings.Contains(name, "sparkr") || lang == "r":
		return kernelInfo{mode: kernelForeign, lang: "R"}, nil
	case name == "sparkkernel" || strings.HasPrefix(name, "sparkkernel_") || strings.Contains(name, "spark_magic_scala") || name == "spylon-kernel" || lang == "scala":
		return kernelInfo{mode: kernelForeign, lang: "Scala"}, nil
	case strings.HasPrefix(name, "synapse_pyspark"):
		return kernelInfo{mode: kernelSynapsePy}, nil
	case k.Synapse && (lang == "sql" || lang == "sparksql"):
		// Synapse runs such a notebook's cells with Spark SQL; a SQL kernel
		// elsewhere (Azure Data Studio's T-SQL) is another dialect.
		return kernelInfo{mode: kernelSynapseSQL}, nil
	case k.Synapse && (lang == "" || lang == "python" || lang == "pyspark"):
		return kernelInfo{mode: kernelSynapsePy}, nil
	case strings.Contains(name, "pyspark") || lang == "pyspark":
		return kernelInfo{mode: kernelSparkPy}, nil
	}
	switch lang {
	case "", "python", "python3", "ipython", "ipython3":
		return kernelInfo{mode: kernelPython}, nil
	}
	return kernelInfo{mode: kernelForeign, lang: languageName(lang, k.Name)}, nil
}

func languageName(lang, kernel string) string {
	switch lang {
	case "csharp", "c#":
		return "C#"
	case "bash", "sh":
		return "shell"
	case "sql":
		// A SQL kernel's dialect is unknown (T-SQL, Hive, Spark SQL): only
		// %%sql cells are known to be Spark SQL.
		return "SQL of the kernel's own dialect"
	case "":
		return "the language of kernel " + fmt.Sprintf("%q", kernel)
	}
	return lang
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
	raw      string // body before dedenting, when it was dedented
	bodyLine int    // line in the cell where body starts, 1-based
	dropWhy  string // set for cells that can never be exported
	foreign  string // the cell's language when it is not Python or SQL: refused if exported
	// otherSession marks a cell sent to another Livy session: dropped with a warning.
	otherSession bool
	wrappers     []string
}

// classify reads a code cell's cell magic (after IPython's removal of leading
// blank lines).
func classify(c *Cell, k kernelInfo, sess *sessions) classified {
	mode := k.mode
	src, line := c.Source, 1
	out := classified{cell: c}
	// IPython removes leading blank lines, then the first line's indent from
	// every line that starts with it, before anything else.
	for {
		nl := strings.IndexByte(src, '\n')
		if nl < 0 || strings.TrimSpace(src[:nl]) != "" {
			break
		}
		src, line = src[nl+1:], line+1
	}
	if strings.HasPrefix(strings.TrimLeft(src, " \t"), "%%") {
		src = dedentCell(src)
	}
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
			// Dedented as IPython does; a cell merged into the one before
			// it (a fragment's continuation) keeps its own indent.
			out.body, out.raw, out.bodyLine = dedentCell(src), src, line
			switch mode {
			case kernelSparkPy, kernelSynapsePy:
				out.kind = kindSpark
			case kernelSynapseSQL:
				out.kind = kindSQL
			default:
				out.kind = kindPlain
			}
			if mode == kernelForeign {
				out.foreign = k.lang
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
			lang := strings.ToLower(magicOption(args, "-l", "--language"))
			switch {
			case mode == kernelSynapsePy || mode == kernelSynapseSQL:
				out.kind, out.dropWhy = "scala", "%%spark is a Scala cell in Synapse"
			case sess.other(magicOption(args, "-s", "--session")) != "":
				out.kind = kindSpark
				out.dropWhy = sess.other(magicOption(args, "-s", "--session"))
				out.otherSession = true
			case magicOption(args, "-c", "--context") == "sql":
				out.kind = kindSQL
			case lang == "scala" || lang == "r" || (mode == kernelForeign && lang != "python" && lang != "pyspark"):
				out.kind = kindSpark
				out.foreign = foreignName(lang, k)
			default:
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

// magicOption returns the value of a magic's option (short or long form,
// "-s NAME", "--session NAME" or "--session=NAME").
func magicOption(args, short, long string) string {
	f := strings.Fields(args)
	for i := 0; i < len(f); i++ {
		if v, ok := strings.CutPrefix(f[i], long+"="); ok {
			return v
		}
		if (f[i] == short || f[i] == long) && i+1 < len(f) {
			return f[i+1]
		}
	}
	return ""
}

func foreignName(lang string, k kernelInfo) string {
	switch lang {
	case "scala":
		return "Scala"
	case "r":
		return "R"
	case "":
		return k.lang
	}
	return lang
}

// dedentCell strips the first line's leading white space from every line
// that starts with it, as IPython's leading_indent transform does.
func dedentCell(src string) string {
	n := 0
	for n < len(src) && (src[n] == ' ' || src[n] == '\t') {
		n++
	}
	if n == 0 {
		return src
	}
	prefix := src[:n]
	var b strings.Builder
	b.Grow(len(src))
	for len(src) > 0 {
		line := src
		if i := strings.IndexByte(src, '\n'); i >= 0 {
			line, src = src[:i+1], src[i+1:]
		} else {
			src = ""
		}
		b.WriteString(strings.TrimPrefix(line, prefix))
	}
	return b.String()
}

// sessions follows the Livy sessions a notebook's sparkmagic magics name:
// the pipeline runs everything in one session, so cells sent to another one
// (%%spark -s NAME) are dropped.
type sessions struct {
	main  string            // the first Python session the notebook adds, if any
	langs map[string]string // session name -> language from %spark add
}

// observe reads `%spark add -s NAME -l LANG` lines.
func (s *sessions) observe(src string) {
	if !strings.Contains(src, "%spark") {
		return
	}
	for _, line := range strings.Split(src, "\n") {
		line = strings.TrimSpace(line)
		rest, ok := strings.CutPrefix(line, "%spark ")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 || f[0] != "add" {
			continue
		}
		name := magicOption(rest, "-s", "--session")
		lang := strings.ToLower(magicOption(rest, "-l", "--language"))
		if name == "" {
			continue
		}
		if s.langs == nil {
			s.langs = map[string]string{}
		}
		if lang == "" {
			lang = "python"
		}
		s.langs[name] = lang
		if s.main == "" && (lang == "python" || lang == "pyspark") {
			s.main = name
		}
	}
}

// other returns why a cell sent to session name is dropped, or "" when the
// cell runs in the pipeline's session.
func (s *sessions) other(name string) string {
	if name == "" || name == s.main {
		return ""
	}
	if lang := s.langs[name]; lang != "" && lang != "python" && lang != "pyspark" {
		return fmt.Sprintf("%%%%spark -s %s runs in another Livy session (a %s session): the pipeline has one session", name, lang)
	}
	return fmt.Sprintf("%%%%spark -s %s runs in another Livy session (made by %%spark add or %%manage_spark): the pipeline has one session", name)
}

// isPythonKind reports whether the kind's body is Python source.
func isPythonKind(kind string) bool {
	switch kind {
	case kindPlain, kindSpark, kindPySpark, kindLocal:
		return true
	}
	return false
}
