package convert

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
)

// pylitTricky are strings that stress literal rendering: quotes at the ends,
// runs of quotes, backslashes before quotes, line ends, control characters,
// non-ASCII text and invalid UTF-8.
var pylitTricky = []string{
	"",
	"a",
	`"`, `'`, `""`, `''`, `"""`, `'''`, `""""`, `''''`, `"""""""`, `''''''''`,
	`a"`, `a""`, `a"""`, `"a`, `""a`, `"""a`, `a"b"c`, `'"'"'"`, `"'"'"'`,
	`say "hi"`, `it's`, `it's "quoted"`,
	`\`, `\\`, `a\`, `\"`, `\'`, `\"""`, `"""\"""`, `\\"`, "\\\n", `\n`, `\x41`, `\N{DASH}`,
	"\n", "a\nb\n", "\r\n", "a\r\nb\r\n", "x\ry", "\r",
	"\x00", "a\x00b", "\t", "\tindented\n\ttwice", "\x1b[31m", "\x7f", "\x08\x0c\x0b\x07",
	"é", "naïve café", "日本語", "😀", "a😀b", "\u2028", "line\u2029sep", "\u0085", "\u00a0", "\u200b", "\ufeff", "\U000E0001", "\ufffd",
	"\xff", "a\xfeb", "\xc3\x28", "\xe2\x82",
	"{x} {{y}} %s %(n)d",
	"'''\"\"\"'''",
	"end\"\"\"",
	"ends with quote\"",
	"ends with single'",
	strings.Repeat(`"`, 10) + "x" + strings.Repeat(`'`, 10),
	"SELECT *\nFROM t\nWHERE s = 'it''s'",
}

// pylitSingleToken checks that lit is exactly one Python string token, by
// scanning `x = <lit>` with the project's own tokenizer.
func pylitSingleToken(t *testing.T, lit string) {
	t.Helper()
	src := "x = " + lit
	sr := scanSource(src)
	if len(sr.issues) != 0 || sr.open != "" {
		t.Errorf("literal %q does not scan cleanly: issues %v, open %q", lit, sr.issues, sr.open)
		return
	}
	if len(sr.lines) != 1 || len(sr.lines[0].toks) != 3 || sr.lines[0].toks[2].kind != tokString || sr.lines[0].toks[2].text != lit {
		t.Errorf("literal %q is not a single string token: %+v", lit, sr.lines)
	}
}

func TestPyStrQuoteChoice(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `""`},
		{"abc", `"abc"`},
		{"it's", `"it's"`},
		{`say "hi"`, `'say "hi"'`},
		{`"'`, `"\"'"`},   // as many of each: double quotes
		{`""'`, `'""\''`}, // more double: single quotes
		{`''"`, `"''\""`}, // more single: double quotes
		{`"a" 'b' "c"`, `'"a" \'b\' "c"'`},
		{`'`, `"'"`},
		{`"`, `'"'`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := pyStr(tc.in); got != tc.want {
				t.Errorf("pyStr(%q) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

func TestPyStrEscapes(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a\nb", `"a\nb"`},
		{"\r\n", `"\r\n"`},
		{"\t", `"\t"`},
		{"\x00", `"\x00"`},
		{"\x07\x08", `"\x07\x08"`},
		{"\x1b[0m", `"\x1b[0m"`},
		{"\x7f", `"\x7f"`},
		{`back\slash`, `"back\\slash"`},
		{`\"`, `'\\"'`},
		{"\u2028", `"\u2028"`},
		{"\u2029", `"\u2029"`},
		{"\u0085", `"\u0085"`},
		{"\u00a0", `"\u00a0"`},
		{"\u200b", `"\u200b"`},
		{"\ufeff", `"\ufeff"`},
		{"\U000E0001", `"\U000e0001"`},
		{"é", `"é"`},
		{"日本", `"日本"`},
		{"😀", `"😀"`},
		{"\xff", `"\ufffd"`},
		{"a\xc3(b", `"a\ufffd(b"`},
		{"\ufffd", `"\ufffd"`},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%q", tc.in), func(t *testing.T) {
			got := pyStr(tc.in)
			if got != tc.want {
				t.Errorf("pyStr(%q) = %s, want %s", tc.in, got, tc.want)
			}
			if strings.ContainsAny(got, "\n\r\u2028\u2029\x00") {
				t.Errorf("pyStr(%q) = %q holds a raw line break or NUL", tc.in, got)
			}
		})
	}
}

func TestPyStrRoundTrip(t *testing.T) {
	for _, s := range pylitTricky {
		t.Run(fmt.Sprintf("%q", s), func(t *testing.T) {
			lit := pyStr(s)
			got, err := decodePyString(lit)
			if err != nil || got != strings.ToValidUTF8(s, "\ufffd") {
				t.Errorf("decodePyString(pyStr(%q) = %s) = %q, %v", s, lit, got, err)
			}
			pylitSingleToken(t, lit)
			if strings.Contains(lit, "\n") {
				t.Errorf("pyStr(%q) spans lines", s)
			}
		})
	}
}

func TestPyBlockRoundTrip(t *testing.T) {
	for _, s := range pylitTricky {
		t.Run(fmt.Sprintf("%q", s), func(t *testing.T) {
			lit := pyBlock(s)
			if !strings.HasPrefix(lit, "\"\"\"\\\n") || !strings.HasSuffix(lit, `"""`) {
				t.Errorf("pyBlock(%q) = %q: want \"\"\"\\<newline> ... \"\"\"", s, lit)
			}
			got, err := decodePyString(lit)
			if err != nil || got != strings.ToValidUTF8(s, "\ufffd") {
				t.Errorf("decodePyString(pyBlock(%q) = %q) = %q, %v", s, lit, got, err)
			}
			pylitSingleToken(t, lit)
			if strings.ContainsAny(lit, "\r\u2028\u2029\x00") {
				t.Errorf("pyBlock(%q) = %q holds a raw CR, NUL or Unicode line separator", s, lit)
			}
		})
	}
}

func TestPyTripleRoundTrip(t *testing.T) {
	for _, q := range []byte{'"', '\''} {
		for _, lead := range []bool{false, true} {
			for _, s := range pylitTricky {
				t.Run(fmt.Sprintf("%c/%v/%q", q, lead, s), func(t *testing.T) {
					lit := pyTriple(s, q, lead)
					delim := strings.Repeat(string(q), 3)
					if !strings.HasPrefix(lit, delim) || !strings.HasSuffix(lit, delim) {
						t.Errorf("pyTriple = %q: want %s delimiters", lit, delim)
					}
					got, err := decodePyString(lit)
					if err != nil || got != strings.ToValidUTF8(s, "\ufffd") {
						t.Errorf("decodePyString(pyTriple(%q) = %q) = %q, %v", s, lit, got, err)
					}
					pylitSingleToken(t, lit)
				})
			}
		}
	}
}

func TestPyBlockExact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"x = 1\n", "\"\"\"\\\nx = 1\n\"\"\""},
		{"", "\"\"\"\\\n\"\"\""},
		{`a"`, "\"\"\"\\\na\\\"\"\"\""},
		{`"""`, "\"\"\"\\\n\"\"\\\"\"\"\""},
		{`""""`, "\"\"\"\\\n\"\"\\\"\\\"\"\"\""},
		{"tab\there", "\"\"\"\\\ntab\there\"\"\""},
		{"cr\r\n", "\"\"\"\\\ncr\\r\n\"\"\""},
		{`back\`, "\"\"\"\\\nback\\\\\"\"\""},
		{"it's", "\"\"\"\\\nit's\"\"\""},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%q", tc.in), func(t *testing.T) {
			if got := pyBlock(tc.in); got != tc.want {
				t.Errorf("pyBlock(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestPyFloat(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{1.0, "1.0"},
		{0, "0.0"},
		{math.Copysign(0, -1), "-0.0"},
		{-2.5, "-2.5"},
		{0.1, "0.1"},
		{0.5, "0.5"},
		{3.14159, "3.14159"},
		{123456.7, "123456.7"},
		{1e16, "1e16"},
		{1.5e16, "1.5e16"},
		{1e22, "1e22"},
		{1.5e300, "1.5e300"},
		{1e-7, "1e-07"},
		{1e-5, "1e-05"},
		{2.5e-10, "2.5e-10"},
		{0.0001, "0.0001"},
		{-1e-7, "-1e-07"},
		{5e-324, "5e-324"},
		{math.MaxFloat64, "1.7976931348623157e308"},
		{math.Inf(1), `float("inf")`},
		{math.Inf(-1), `float("-inf")`},
		{math.NaN(), `float("nan")`},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if got := pyFloat(tc.in); got != tc.want {
				t.Errorf("pyFloat(%v) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// pyFloat writes floats the way black normalizes them: lower-case e and no
// '+' in the exponent, so black leaves generated files alone.
func TestPyFloatBlackNormalized(t *testing.T) {
	for _, f := range []float64{1e6, 1234567.0, 1e15, 1e16, 2.5e-10, 1e100, -3e21, 6.02214076e23} {
		s := pyFloat(f)
		if strings.ContainsAny(s, "E+") {
			t.Errorf("pyFloat(%v) = %q: black writes a lower-case e without '+'", f, s)
		}
	}
}

func TestPyFloatParsesBack(t *testing.T) {
	for _, f := range []float64{1, 0.1, 1.0 / 3, 2.0 / 3 * 1e20, 6.02214076e23, 1e-300, 1e6, 1234567.0, 98765.4321, -7.5e-9} {
		s := pyFloat(f)
		back, err := strconv.ParseFloat(s, 64)
		if err != nil || back != f {
			t.Errorf("pyFloat(%v) = %q parses back as %v, %v", f, s, back, err)
		}
		if !strings.ContainsAny(s, ".e") {
			t.Errorf("pyFloat(%v) = %q would be an int in Python", f, s)
		}
	}
}

func TestPyValue(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"nil", nil, "None"},
		{"true", true, "True"},
		{"false", false, "False"},
		{"int", 42, "42"},
		{"negative int", -7, "-7"},
		{"int64", int64(1) << 40, "1099511627776"},
		{"uint64", uint64(math.MaxUint64), "18446744073709551615"},
		{"float", 2.0, "2.0"},
		{"string", `a"b`, `'a"b'`},
		{"empty list", []any{}, "[]"},
		{"list", []any{1, "x", nil, true, 1.5}, `[1, "x", None, True, 1.5]`},
		{"map sorted", map[string]any{"b": 1, "a": []any{2}, "c": map[string]any{}}, `{"a": [2], "b": 1, "c": {}}`},
		{"map key escaped", map[string]any{"it's \"k\"": 1}, `{'it\'s "k"': 1}`},
		{"other type", struct{ A int }{3}, `"{3}"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := pyValue(tc.in); got != tc.want {
				t.Errorf("pyValue(%#v) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

func TestWidth(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"", 0},
		{"abc", 3},
		{"é", 1},
		{"日本", 4},
		{"😀", 2},
		{"a\u1100", 3},
	}
	for _, tc := range tests {
		if got := width(tc.in); got != tc.want {
			t.Errorf("width(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func pylitEmit(indent int, prefix string, e expr, suffix string) string {
	w := &pyWriter{}
	emit(w, indent, prefix, e, suffix)
	return w.String()
}

func pylitList(items ...expr) seq { return seq{open: "[", close: "]", items: items} }

func TestEmit(t *testing.T) {
	a79 := atom(strings.Repeat("a", 79))
	a80 := atom(strings.Repeat("a", 80))
	tests := []struct {
		name   string
		indent int
		prefix string
		e      expr
		suffix string
		want   string
	}{
		{"short atom", 0, "X = ", atom("1"), "", "X = 1\n"},
		{"fits exactly at 88 columns", 0, "X = ", pylitList(a79, atom("b")), "",
			"X = [" + string(a79) + ", b]\n"},
		{"one column over explodes with trailing commas", 0, "X = ", pylitList(a80, atom("b")), "",
			"X = [\n    " + string(a80) + ",\n    b,\n]\n"},
		{"indent counts", 4, "X = ", pylitList(atom(strings.Repeat("a", 75)), atom("b")), "",
			"    X = [" + strings.Repeat("a", 75) + ", b]\n"},
		{"indent pushes over", 4, "X = ", pylitList(atom(strings.Repeat("a", 76)), atom("b")), "",
			"    X = [\n        " + strings.Repeat("a", 76) + ",\n        b,\n    ]\n"},
		{"suffix counts", 0, "X = ", pylitList(atom(strings.Repeat("a", 78)), atom("b")), ",",
			"X = [" + strings.Repeat("a", 78) + ", b],\n"},
		{"suffix pushes over", 0, "X = ", pylitList(a79, atom("b")), ",",
			"X = [\n    " + string(a79) + ",\n    b,\n],\n"},
		{"wide characters count double", 0, "X = ", pylitList(atom(pyStr(strings.Repeat("日", 41)))), "",
			"X = [\n    " + pyStr(strings.Repeat("日", 41)) + ",\n]\n"},
		{"empty list", 0, "X = ", pylitList(), "", "X = []\n"},
		{"call fits", 4, "t = ", call("PythonOperator", kv{key: "task_id=", val: atom(`"a"`)}, kv{key: "retries=", val: atom("2")}), "",
			"    t = PythonOperator(task_id=\"a\", retries=2)\n"},
		{"call explodes, short nested list stays inline", 4, "t = ", call("f", kv{key: "a=", val: atom("1")}, kv{key: "b=", val: pylitList(atom("1"), atom("2"))}, kv{key: "c=", val: atom(strings.Repeat("c", 70))}), "",
			"    t = f(\n        a=1,\n        b=[1, 2],\n        c=" + strings.Repeat("c", 70) + ",\n    )\n"},
		{"nested explosion", 0, "X = ", dict(map[string]expr{"k": pylitList(atom(strings.Repeat("x", 80)), atom("y"))}), "",
			"X = {\n    \"k\": [\n        " + strings.Repeat("x", 80) + ",\n        y,\n    ],\n}\n"},
		{"unsplittable atom stays on one line", 0, "X = ", atom(strings.Repeat("z", 100)), "",
			"X = " + strings.Repeat("z", 100) + "\n"},
		{"multiline always on its own", 4, "doc_md=", multiline(pyBlock("a\nb")), ",",
			"    doc_md=\"\"\"\\\na\nb\"\"\",\n"},
		{"multiline explodes its sequence", 0, "with ", call("DAG", kv{key: "doc_md=", val: multiline(pyBlock("x"))}), " as dag:",
			"with DAG(\n    doc_md=\"\"\"\\\nx\"\"\",\n) as dag:\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := pylitEmit(tc.indent, tc.prefix, tc.e, tc.suffix)
			if got != tc.want {
				t.Errorf("emit:\n got  %q\n want %q", got, tc.want)
			}
			for _, line := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
				if strings.HasSuffix(line, " ") {
					t.Errorf("trailing space in %q", line)
				}
			}
		})
	}
}

func TestEmitValueExpr(t *testing.T) {
	v := map[string]any{
		"conf":         map[string]any{"spark.executor.memory": "4g", "spark.sql.shuffle.partitions": 200, "spark.dynamicAllocation.enabled": true},
		"kind":         "pyspark",
		"numExecutors": 2,
	}
	got := pylitEmit(0, "SESSION_CONF = ", valueExpr(v), "")
	want := `SESSION_CONF = {
    "conf": {
        "spark.dynamicAllocation.enabled": True,
        "spark.executor.memory": "4g",
        "spark.sql.shuffle.partitions": 200,
    },
    "kind": "pyspark",
    "numExecutors": 2,
}
`
	if got != want {
		t.Errorf("emit(valueExpr):\n got  %s\n want %s", got, want)
	}
	if short := pylitEmit(0, "P = ", valueExpr([]any{1, "a", nil}), ""); short != "P = [1, \"a\", None]\n" {
		t.Errorf("short list = %q", short)
	}
}

func TestPyWriter(t *testing.T) {
	w := &pyWriter{}
	w.line(4, "x = 1")
	w.line(8, "")
	w.raw("raw\n")
	if got := w.String(); got != "    x = 1\n\nraw\n" {
		t.Errorf("pyWriter = %q", got)
	}
}
