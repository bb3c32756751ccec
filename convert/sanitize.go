package convert

import (
	"strings"
)

// removal is one logical line taken out of a cell.
type removal struct {
	line   int // first physical line, 1-based in the scanned source
	reason string
	text   string // the first physical line, trimmed, for the report
}

type sanitizeOptions struct {
	stripPrint, stripDisplay bool
}

type sanitized struct {
	code         string
	removed      []removal
	requirements []string
	statements   int // logical lines of code left
}

// sanitize removes the lines that only work inside Jupyter: line magics, shell
// escapes, help syntax, get_ipython() statements and (by default) print() and
// display() statements, each as a whole logical line. A removed line becomes a
// comment so line numbers in tracebacks still match the notebook; a block left
// without statements gets `pass`.
func sanitize(src string, sr scanResult, opt sanitizeOptions) sanitized {
	lines := sr.lines
	why := make([]string, len(lines))
	keep := make([]string, len(lines)) // statement kept from a %time line
	var out sanitized
	for i := range lines {
		l := &lines[i]
		text := l.text(src)
		trimmed := strings.TrimSpace(text)
		switch l.kind {
		case lineMagic:
			why[i] = "line magic " + firstWord(magicBody(trimmed))
			if stmt, ok := timedStatement(trimmed); ok && l.first == l.last {
				keep[i] = stmt
			}
			if reqs, ok := pipInstall(magicBody(trimmed)); ok {
				out.requirements = append(out.requirements, reqs...)
			}
		case lineShell:
			why[i] = "shell escape"
			if reqs, ok := pipInstall(magicBody(trimmed)); ok {
				out.requirements = append(out.requirements, reqs...)
			}
		case lineHelp:
			why[i] = "help syntax"
		case lineCode:
			if l.isHeader() {
				continue
			}
			switch {
			case hasName(l.toks, "get_ipython"):
				why[i] = "get_ipython() call"
			case opt.stripPrint && isCallStatement(l.toks, "print"):
				why[i] = "print() call"
			case opt.stripPrint && (isCallStatement(l.toks, "pprint") || (isCallStatement(l.toks, "pp") && strings.Contains(src, "from pprint import"))):
				why[i] = "pprint() call"
			case opt.stripPrint && py2Statement(l.toks) == "print":
				why[i] = "Python 2 print statement"
			case opt.stripDisplay && isCallStatement(l.toks, "display"):
				why[i] = "display() call"
			}
		}
	}
	gone := make([]string, len(lines)) // reasons of lines removed without a trace
	for i := range lines {
		if keep[i] == "" {
			gone[i] = why[i]
		}
		if lines[i].kind != lineBlank && gone[i] == "" {
			out.statements++
		}
	}
	out.code, out.removed = applyRemovals(src, lines, why, keep)
	return out
}

// applyRemovals rewrites the removed logical lines (why[i] != "") as comments,
// keeping a statement from keep[i] where set, and `pass` where a block would
// be left empty.
func applyRemovals(src string, lines []logicalLine, why, keep []string) (string, []removal) {
	gone := make([]string, len(lines))
	for i := range lines {
		if keep == nil || keep[i] == "" {
			gone[i] = why[i]
		}
	}
	var removed []removal
	needPass := emptiedBlocks(lines, gone)
	var b strings.Builder
	b.Grow(len(src))
	prev := 0
	for i := range lines {
		l := &lines[i]
		if why[i] == "" {
			continue
		}
		b.WriteString(src[prev:l.start])
		indent := src[l.start : l.start+leadingSpace(src[l.start:l.end])]
		b.WriteString(indent)
		switch {
		case keep != nil && keep[i] != "":
			b.WriteString(keep[i] + "  " + timeMarker)
		case needPass[i]:
			b.WriteString("pass  ")
			fallthrough
		default:
			b.WriteString("# nbpipe: removed " + why[i])
		}
		// Keep the physical line count so later line numbers do not move.
		b.WriteString(strings.Repeat("\n", l.last-l.first))
		prev = l.end
		first, _, _ := strings.Cut(strings.TrimSpace(l.text(src)), "\n")
		reason := why[i]
		if keep != nil && keep[i] != "" {
			reason += " (its statement is kept)"
		}
		removed = append(removed, removal{line: l.first, reason: reason, text: strings.TrimSpace(first)})
	}
	b.WriteString(src[prev:])
	return b.String(), removed
}

// timeMarker ends a line whose %time magic was removed and statement kept.
const timeMarker = "# nbpipe: removed %time"

// timedStatement returns the statement of a `%time stmt` (or `x = %time
// expr`) line, which IPython runs and times: dropping the line would drop the
// statement. Statements that are IPython syntax themselves are not kept.
func timedStatement(line string) (string, bool) {
	i := strings.Index(line, "%time ")
	if i < 0 || strings.HasPrefix(line, "%%") || (i > 0 && !strings.HasSuffix(strings.TrimRight(line[:i], " \t"), "=")) {
		return "", false
	}
	stmt := strings.TrimSpace(line[i+len("%time "):])
	if stmt == "" || strings.ContainsAny(stmt[:1], "%!?") || strings.HasSuffix(stmt, "?") {
		return "", false
	}
	return line[:i] + stmt, true
}

// emptiedBlocks finds, for each block header whose body lost every statement,
// the first removed line of that body, which becomes `pass`.
func emptiedBlocks(lines []logicalLine, why []string) []bool {
	need := make([]bool, len(lines))
	for i := range lines {
		h := &lines[i]
		if h.kind != lineCode || !h.isHeader() || why[i] != "" {
			continue
		}
		firstRemoved := -1
		kept := false
		for j := i + 1; j < len(lines); j++ {
			m := &lines[j]
			if m.kind == lineBlank {
				continue
			}
			if m.indent <= h.indent {
				break
			}
			if why[j] == "" {
				kept = true
				break
			}
			if firstRemoved < 0 {
				firstRemoved = j
			}
		}
		if !kept && firstRemoved >= 0 {
			need[firstRemoved] = true
		}
	}
	return need
}

func leadingSpace(s string) int {
	return len(s) - len(strings.TrimLeft(s, " \t\f"))
}

// magicBody drops the escape characters: "%pip install x" -> "pip install x",
// "x = !ls" -> "ls".
func magicBody(s string) string {
	if i := strings.IndexAny(s, "%!"); i >= 0 {
		s = s[i:]
	}
	return strings.TrimLeft(s, "%!")
}

func firstWord(s string) string {
	f := strings.Fields(s)
	if len(f) == 0 {
		return "%"
	}
	return "%" + f[0]
}

func hasName(toks []token, name string) bool {
	for _, t := range toks {
		if t.kind == tokName && t.text == name {
			return true
		}
	}
	return false
}

// isCallStatement reports whether the tokens are exactly `name(...)`.
func isCallStatement(toks []token, name string) bool {
	if len(toks) < 3 || toks[0].kind != tokName || toks[0].text != name || toks[1].text != "(" {
		return false
	}
	depth := 0
	for i := 1; i < len(toks); i++ {
		switch toks[i].text {
		case "(", "[", "{":
			depth++
		case ")", "]", "}":
			depth--
			if depth == 0 {
				return i == len(toks)-1
			}
		}
	}
	return false
}

// pipInstall extracts package requirements from "pip install ..." (also
// "python -m pip install", "{sys.executable} -m pip install", "conda install").
func pipInstall(cmd string) ([]string, bool) {
	cmd = strings.ReplaceAll(strings.ReplaceAll(cmd, "\\\r\n", " "), "\\\n", " ")
	f := strings.Fields(cmd)
	start := -1
	for i := 0; i+1 < len(f); i++ {
		if (f[i] == "pip" || f[i] == "pip3" || f[i] == "conda" || f[i] == "mamba") && f[i+1] == "install" {
			start = i + 2
			break
		}
	}
	if start < 0 {
		return nil, false
	}
	var reqs []string
	skipNext := false
	for _, a := range f[start:] {
		if skipNext {
			skipNext = false
			continue
		}
		if a == ";" || a == "&&" || a == "||" || a == "|" {
			break
		}
		if strings.HasPrefix(a, "-") {
			switch a {
			case "-r", "--requirement", "-c", "--constraint", "-i", "--index-url", "--extra-index-url",
				"-f", "--find-links", "-e", "--editable", "-t", "--target", "--prefix", "-c/--channel", "--channel":
				skipNext = true
			}
			continue
		}
		a = strings.Trim(a, `"'`)
		if a == "" || strings.ContainsAny(a, "${}") {
			continue
		}
		reqs = append(reqs, a)
	}
	return reqs, true
}
