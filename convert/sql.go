package convert

import (
	"fmt"
	"regexp"
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
		bound := out != "" && i == len(stmts)-1
		if bound {
			b.WriteString(out + " = ")
		}
		if !bound && sqlCheck(s) {
			// Spark runs a query only when something uses its result; in
			// the notebook the display did. A query that checks with
			// assert_true or raise_error must run to the end to check.
			fmt.Fprintf(&b, "spark.sql(%s).write.format(\"noop\").mode(\"overwrite\").save()\n", pySQL(s))
			r.add(SevNotice, CodeSQL, cell, 0, "the query with assert_true/raise_error runs to the end (noop write), as its display did in the notebook, so its check runs in the pipeline")
			continue
		}
		fmt.Fprintf(&b, "spark.sql(%s)\n", pySQL(s))
	}
	return b.String(), true
}

var (
	sqlQueryStart = regexp.MustCompile(`(?i)^[\s(]*(select|with|values|table|from)\b`)
	sqlCheckCall  = regexp.MustCompile(`(?i)\b(assert_true|raise_error)\s*\(`)
)

// sqlCheck reports whether a statement is a query that calls a checking
// function, whose result nothing else would use.
func sqlCheck(stmt string) bool {
	stmt = stripSQLComments(stmt)
	return sqlQueryStart.MatchString(stmt) && sqlCheckCall.MatchString(stmt)
}

// stripSQLComments removes -- and /* */ comments (not those inside quotes,
// which splitSQL has already kept apart only loosely: good enough to find a
// statement's first keyword).
func stripSQLComments(s string) string {
	var b strings.Builder
	for len(s) > 0 {
		switch {
		case strings.HasPrefix(s, "--"):
			if i := strings.IndexByte(s, '\n'); i >= 0 {
				s = s[i:]
			} else {
				s = ""
			}
		case strings.HasPrefix(s, "/*"):
			if i := strings.Index(s[2:], "*/"); i >= 0 {
				s = s[i+4:]
			} else {
				s = ""
			}
		default:
			b.WriteByte(s[0])
			s = s[1:]
		}
	}
	return b.String()
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

func onlySQLComments(s string) bool { return strings.TrimSpace(stripSQLComments(s)) == "" }
