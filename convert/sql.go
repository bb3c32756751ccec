package convert

import (
	"fmt"
	"strings"
)

// sqlCell turns a %%sql cell into PySpark code: one spark.sql() call per
// statement, the last one bound to the -o variable when given.
func sqlCell(args, body string, cell, bodyLine int, r *reporter) (string, bool) {
	var out string
	f := strings.Fields(args)
	for i := 0; i < len(f); i++ {
		switch a := f[i]; a {
		case "-o", "--output":
			if i+1 >= len(f) {
				r.add(SevError, CodeSQL, cell, bodyLine-1, "%%%%sql -o needs a variable name")
				return "", false
			}
			i++
			out = f[i]
			if !identPattern.MatchString(out) || pyKeywords[out] {
				r.add(SevError, CodeSQL, cell, bodyLine-1, "%%%%sql -o %q: not a valid Python name", out)
				return "", false
			}
		case "-q", "--quiet":
		case "-n", "--maxrows", "-m", "--samplemethod", "-r", "--samplefraction", "-s", "--session", "-c", "--context":
			i++ // display options of sparkmagic: meaningless in a pipeline
		default:
			r.add(SevWarning, CodeSQL, cell, bodyLine-1, "%%%%sql argument %q ignored", a)
		}
	}
	stmts := splitSQL(body)
	if len(stmts) == 0 {
		r.add(SevNotice, CodeEmpty, cell, 0, "empty %%%%sql cell skipped")
		return "", true
	}
	var b strings.Builder
	for i, s := range stmts {
		if out != "" && i == len(stmts)-1 {
			b.WriteString(out + " = ")
		}
		fmt.Fprintf(&b, "spark.sql(%s)\n", pySQL(s))
	}
	return b.String(), true
}

// pySQL renders a SQL statement as a Python literal, multi-line statements
// as a triple-quoted string so the generated code stays readable. Single
// quotes keep it readable inside the double-quoted block that holds the cell.
func pySQL(s string) string {
	if !strings.Contains(s, "\n") {
		return pyStr(s)
	}
	return pyTriple(s, '\'', false)
}

// splitSQL splits on semicolons outside quotes and comments, dropping empty
// statements.
func splitSQL(body string) []string {
	var out []string
	start := 0
	var quote byte
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"' || c == '`':
			quote = c
		case c == '-' && strings.HasPrefix(body[i:], "--"):
			if j := strings.IndexByte(body[i:], '\n'); j >= 0 {
				i += j
			} else {
				i = len(body)
			}
		case c == '/' && strings.HasPrefix(body[i:], "/*"):
			if j := strings.Index(body[i+2:], "*/"); j >= 0 {
				i += j + 3
			} else {
				i = len(body)
			}
		case c == ';':
			out = appendSQL(out, body[start:i])
			start = i + 1
		}
	}
	return appendSQL(out, body[start:])
}

func appendSQL(out []string, s string) []string {
	s = strings.TrimSpace(s)
	if s == "" || onlySQLComments(s) {
		return out
	}
	return append(out, s)
}

func onlySQLComments(s string) bool {
	for {
		i := strings.Index(s, "/*")
		if i < 0 {
			break
		}
		j := strings.Index(s[i+2:], "*/")
		if j < 0 {
			s = s[:i]
			break
		}
		s = s[:i] + s[i+2+j+2:]
	}
	for _, line := range strings.Split(s, "\n") {
		t := strings.TrimSpace(line)
		if t != "" && !strings.HasPrefix(t, "--") {
			return false
		}
	}
	return true
}
