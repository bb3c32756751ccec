package convert

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Everything that comes from a notebook, a tag, a config file or a path
// reaches generated Python through these functions, as a literal. Quotes are
// chosen the way black chooses them, so generated files are already formatted.

// lineLimit is black's default line length.
const lineLimit = 88

// pyStr renders s as a Python string literal on one line.
func pyStr(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	// black prefers double quotes unless single quotes need fewer escapes.
	q := byte('"')
	if strings.Count(s, `"`) > strings.Count(s, `'`) {
		q = '\''
	}
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte(q)
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == rune(q):
			b.WriteByte('\\')
			b.WriteByte(q)
		default:
			writeEscapedRune(&b, r, false)
		}
	}
	b.WriteByte(q)
	return b.String()
}

// writeEscapedRune writes r, escaping control and non-printable characters.
// keepNewline leaves '\n' and '\t' raw (for triple-quoted strings).
func writeEscapedRune(b *strings.Builder, r rune, keepNewline bool) {
	switch {
	case r == '\n' && keepNewline, r == '\t' && keepNewline:
		b.WriteRune(r)
	case r == '\n':
		b.WriteString(`\n`)
	case r == '\r':
		b.WriteString(`\r`)
	case r == '\t':
		b.WriteString(`\t`)
	case r < 0x20 || r == 0x7f:
		fmt.Fprintf(b, `\x%02x`, r)
	case r == utf8.RuneError:
		b.WriteString(`\ufffd`)
	case r >= 0x80 && (!unicode.IsPrint(r) || r == '\u2028' || r == '\u2029'):
		if r > 0xffff {
			fmt.Fprintf(b, `\U%08x`, r)
		} else {
			fmt.Fprintf(b, `\u%04x`, r)
		}
	default:
		b.WriteRune(r)
	}
}

// pyBlock renders multi-line text (cell code) as a triple-quoted literal whose
// value is exactly s. The literal opens with a backslash-newline so the text
// starts on its own line, readable in the generated file.
func pyBlock(s string) string { return pyTriple(s, '"', true) }

// pyTriple renders s as a triple-quoted literal with quote character q.
func pyTriple(s string, q byte, leadingNewline bool) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	b.Grow(len(s) + 16)
	delim := strings.Repeat(string(q), 3)
	b.WriteString(delim)
	if leadingNewline {
		b.WriteString("\\\n")
	}
	run := 0 // consecutive unescaped quote characters written
	n := len(s)
	for i, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
			run = 0
		case r == rune(q):
			// Never let three quotes in a row, or a quote right before the
			// closing delimiter, end the literal early.
			if run == 2 || i == n-1 {
				b.WriteByte('\\')
				b.WriteByte(q)
				run = 0
			} else {
				b.WriteByte(q)
				run++
			}
		default:
			writeEscapedRune(&b, r, true)
			run = 0
		}
	}
	b.WriteString(delim)
	return b.String()
}

// pyValue renders a YAML/JSON value as an inline Python literal.
func pyValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case bool:
		if v {
			return "True"
		}
		return "False"
	case string:
		return pyStr(v)
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case uint64:
		return strconv.FormatUint(v, 10)
	case float64:
		return pyFloat(v)
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = pyValue(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := sortedKeys(v)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = pyStr(k) + ": " + pyValue(v[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	default:
		return pyStr(fmt.Sprint(v))
	}
}

func pyFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return `float("inf")`
	case math.IsInf(f, -1):
		return `float("-inf")`
	case math.IsNaN(f):
		return `float("nan")`
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eEn") {
		s += ".0"
	}
	// black writes exponents without '+': 1e16, 1e-07.
	s = strings.Replace(s, "e+", "e", 1)
	return s
}

// width over-estimates black's display width (wide characters count two), so
// a line is only kept inline when black would keep it too.
func width(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x1100 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// pyWriter builds black-formatted Python source line by line.
type pyWriter struct {
	b strings.Builder
}

const spaces64 = "                                                                "

func (w *pyWriter) line(indent int, s string) {
	if s != "" {
		for indent > len(spaces64) {
			w.b.WriteString(spaces64)
			indent -= len(spaces64)
		}
		w.b.WriteString(spaces64[:indent])
		w.b.WriteString(s)
	}
	w.b.WriteByte('\n')
}

func (w *pyWriter) raw(s string) { w.b.WriteString(s) }

func (w *pyWriter) String() string { return w.b.String() }

// expr is a Python expression that can render inline or exploded one item per
// line with magic trailing commas, as black does for what does not fit.
type expr interface {
	inline() string
	// explode writes the expression starting after prefix at indent, ending
	// with suffix.
	explode(w *pyWriter, indent int, prefix, suffix string)
}

// atom is an expression that is never split (a literal, a name, a call we
// keep short).
type atom string

func (a atom) inline() string { return string(a) }
func (a atom) explode(w *pyWriter, indent int, prefix, suffix string) {
	w.line(indent, prefix+string(a)+suffix)
}

// multiline is a triple-quoted literal; it always stands on its own line.
type multiline string

func (m multiline) inline() string { return string(m) }
func (m multiline) explode(w *pyWriter, indent int, prefix, suffix string) {
	w.b.WriteString(strings.Repeat(" ", indent))
	w.b.WriteString(prefix + string(m) + suffix + "\n")
}

// seq is a bracketed sequence: a list, dict, set or call arguments.
type seq struct {
	open, close string
	items       []expr
}

type kv struct {
	key string // already rendered, including "=" or ": "
	val expr
}

func (k kv) inline() string { return k.key + k.val.inline() }
func (k kv) explode(w *pyWriter, indent int, prefix, suffix string) {
	emit(w, indent, prefix+k.key, k.val, suffix)
}

func (s seq) inline() string {
	parts := make([]string, len(s.items))
	for i, it := range s.items {
		parts[i] = it.inline()
	}
	return s.open + strings.Join(parts, ", ") + s.close
}

func (s seq) explode(w *pyWriter, indent int, prefix, suffix string) {
	if len(s.items) == 0 {
		w.line(indent, prefix+s.open+s.close+suffix)
		return
	}
	w.line(indent, prefix+s.open)
	for _, it := range s.items {
		emit(w, indent+4, "", it, ",")
	}
	w.line(indent, s.close+suffix)
}

// emit writes prefix+e+suffix inline when it fits and holds no newline,
// exploded otherwise.
func emit(w *pyWriter, indent int, prefix string, e expr, suffix string) {
	if _, ok := e.(multiline); !ok {
		in := e.inline()
		if indent+width(prefix)+width(in)+width(suffix) <= lineLimit && !strings.Contains(in, "\n") {
			w.line(indent, prefix+in+suffix)
			return
		}
	}
	e.explode(w, indent, prefix, suffix)
}

func call(name string, items ...expr) seq {
	return seq{open: name + "(", close: ")", items: items}
}

func dict(m map[string]expr) seq {
	s := seq{open: "{", close: "}"}
	for _, k := range sortedKeys(m) {
		s.items = append(s.items, kv{key: pyStr(k) + ": ", val: m[k]})
	}
	return s
}

// valueExpr converts a YAML/JSON value into an expr that explodes like black.
func valueExpr(v any) expr {
	switch v := v.(type) {
	case []any:
		s := seq{open: "[", close: "]"}
		for _, e := range v {
			s.items = append(s.items, valueExpr(e))
		}
		return s
	case map[string]any:
		m := make(map[string]expr, len(v))
		for k, e := range v {
			m[k] = valueExpr(e)
		}
		return dict(m)
	default:
		return atom(pyValue(v))
	}
}
