package convert

import (
	"reflect"
	"strings"
	"testing"
)

// paramsRead runs readParameters on src as cell 4, whose lines map to
// themselves.
func paramsRead(src string) ([]param, []Finding) {
	r := &reporter{}
	ps := readParameters(scanSource(src), src, 4, func(line int) (int, int) { return 0, line }, r)
	return ps, r.findings
}

func paramsMap(ps []param) map[string]any {
	m := map[string]any{}
	for _, p := range ps {
		m[p.name] = p.value
	}
	return m
}

func TestReadParametersLiterals(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want any
	}{
		{"int", "x = 1", 1},
		{"annotated float", "x: float = 2.5", 2.5},
		{"annotated generic", "x: dict[str, list[int]] = {'a': [1]}", map[string]any{"a": []any{1}}},
		{"negative int", "x = -3", -3},
		{"negative float", "x = -2.5", -2.5},
		{"explicit plus", "x = +4", 4},
		{"hex", "x = 0x1F", 31},
		{"octal", "x = 0o17", 15},
		{"binary", "x = 0b101", 5},
		{"underscores", "x = 1_000_000", 1000000},
		{"exponent is a float", "x = 1e3", 1000.0},
		{"leading dot", "x = .5", 0.5},
		{"True", "x = True", true},
		{"False", "x = False", false},
		{"None", "x = None", nil},
		{"string", "x = 'hello'", "hello"},
		{"double-quoted string with escapes", `x = "tab\there\n\"q\" \u00e9"`, "tab\there\n\"q\" é"},
		{"raw string", `x = r'C:\new\dir'`, `C:\new\dir`},
		{"unicode prefix", `x = u"v"`, "v"},
		{"implicit concatenation", `x = 'a' "b" '''c'''`, "abc"},
		{"triple-quoted over lines", "x = '''line1\nline2'''", "line1\nline2"},
		{"empty string", "x = ''", ""},
		{"empty list", "x = []", []any{}},
		{"empty dict", "x = {}", map[string]any{}},
		{"list", "x = [1, 'a', None, True, -1.5]", []any{1, "a", nil, true, -1.5}},
		{"trailing comma", "x = [1, 2,]", []any{1, 2}},
		{"tuple becomes a list", "x = (1, 'b')", []any{1, "b"}},
		{"nested", "x = {'a': [1, {'b': (2, 3)}], 'c': {}}", map[string]any{"a": []any{1, map[string]any{"b": []any{2, 3}}}, "c": map[string]any{}}},
		{"list over lines with comments", "x = [\n    1,  # one\n    # a comment line\n    2,\n]", []any{1, 2}},
		{"dict over lines with comments", "x = {\n    'k': 1,  # c\n    \"j\": [2,\n          3],\n}", map[string]any{"k": 1, "j": []any{2, 3}}},
		{"trailing comment", "x = 5  # the default", 5},
		{"backslash continuation", "x = \\\n    7", 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ps, fs := paramsRead(tc.src)
			if len(fs) != 0 {
				t.Errorf("findings = %v, want none", fs)
			}
			if len(ps) != 1 || ps[0].name != "x" {
				t.Fatalf("params = %#v, want one named x", ps)
			}
			if !reflect.DeepEqual(ps[0].value, tc.want) {
				t.Errorf("x = %#v, want %#v", ps[0].value, tc.want)
			}
		})
	}
}

func TestReadParametersCell(t *testing.T) {
	src := strings.Join([]string{
		"# Parameters",
		"input_path = 's3://bucket/in'",
		"alpha: float = 0.5",
		"limit = 10",
		"",
		"flags = {",
		"    'verbose': True,  # noisy",
		"}",
		"limit = 20",
		"run_date = compute_date()",
	}, "\n")
	ps, fs := paramsRead(src)
	t.Run("order of first assignment, later value wins", func(t *testing.T) {
		var names []string
		for _, p := range ps {
			names = append(names, p.name)
		}
		if want := []string{"input_path", "alpha", "limit", "flags"}; !reflect.DeepEqual(names, want) {
			t.Errorf("names = %q, want %q", names, want)
		}
		if got := paramsMap(ps)["limit"]; got != 20 {
			t.Errorf("limit = %#v, want 20", got)
		}
	})
	t.Run("values", func(t *testing.T) {
		m := paramsMap(ps)
		if m["input_path"] != "s3://bucket/in" || m["alpha"] != 0.5 || !reflect.DeepEqual(m["flags"], map[string]any{"verbose": true}) {
			t.Errorf("params = %#v", m)
		}
	})
	t.Run("non-literal reported as a notice", func(t *testing.T) {
		if len(fs) != 1 {
			t.Fatalf("findings = %v, want one", fs)
		}
		f := fs[0]
		if f.Severity != SevNotice || f.Code != CodeParameters || f.Cell != 4 || f.Line != 10 || !strings.HasPrefix(f.Message, "run_date is not a literal") {
			t.Errorf("finding = %+v", f)
		}
	})
	t.Run("a later literal replaces an earlier one, a later non-literal does not", func(t *testing.T) {
		ps, fs := paramsRead("a = 1\na = f()\n")
		if len(ps) != 1 || ps[0].value != 1 || len(fs) != 1 {
			t.Errorf("params = %#v, findings = %v", ps, fs)
		}
	})
}

func TestReadParametersNotices(t *testing.T) {
	tests := []struct {
		name, src string
		want      string // substring of the message
	}{
		{"call", "x = compute()", "x is not a literal (not a literal)"},
		{"name", "x = other", "x is not a literal"},
		{"arithmetic", "x = 1 + 2", "x is not a literal (more than one value)"},
		{"conditional", "x = 1 if y else 2", "more than one value"},
		{"chained assignment", "x = y = 1", "x is not a literal"},
		{"negated name", "x = -y", "x is not a literal"},
		{"f-string", "x = f'{y}'", "bytes and f-strings are not parameters"},
		{"bytes", "x = b'raw'", "bytes and f-strings are not parameters"},
		{"complex", "x = 2j", "complex numbers are not parameters"},
		{"int dict key", "x = {1: 'a'}", "dict keys must be strings"},
		{"set", "x = {'a', 'b'}", "dict keys must be strings"},
		{"list with a name", "x = [1, y]", "x is not a literal"},
		{"comprehension", "x = [i for i in range(3)]", "x is not a literal"},
		{"named escape", `x = "\N{BULLET}"`, `\N{...} escapes are not supported`},
		{"annotated call", "x: int = int('3')", "x is not a literal"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ps, fs := paramsRead(tc.src)
			if len(ps) != 0 {
				t.Errorf("params = %#v, want none", ps)
			}
			if len(fs) != 1 || fs[0].Severity != SevNotice || fs[0].Code != CodeParameters || !strings.Contains(fs[0].Message, tc.want) {
				t.Errorf("findings = %v, want one notice containing %q", fs, tc.want)
			}
			if len(fs) == 1 && !strings.Contains(fs[0].Message, "stays in the code") {
				t.Errorf("message %q does not say the code is kept", fs[0].Message)
			}
		})
	}
}

func TestReadParametersIgnored(t *testing.T) {
	for _, src := range []string{
		"",
		"# only a comment",
		"import os",
		"print(x)",
		"x == 1",
		"x += 1",
		"x: int",
		"x, y = 1, 2",
		"obj.attr = 1",
		"d['k'] = 1",
		"if debug:\n    level = 1",
		"def f():\n    x = 1\n    return x",
		"%matplotlib inline",
		"!echo hi",
		"x = !ls",
	} {
		t.Run(src, func(t *testing.T) {
			ps, fs := paramsRead(src)
			if len(ps) != 0 || len(fs) != 0 {
				t.Errorf("params = %#v, findings = %v; want neither", ps, fs)
			}
		})
	}
}

func TestReadParametersLocation(t *testing.T) {
	r := &reporter{}
	src := "a = 1\nb = g()\n"
	lineOf := func(line int) (int, int) { return 9, line + 2 } // merged: second cell, after a magic line
	readParameters(scanSource(src), src, 4, lineOf, r)
	if len(r.findings) != 1 || r.findings[0].Cell != 9 || r.findings[0].Line != 4 {
		t.Errorf("findings = %+v, want one at cell 9 line 4", r.findings)
	}
}

// A parenthesized expression is not a tuple: `(1)` is 1, and wrapping a long
// string in parentheses (the usual way to split it over lines) keeps it a
// string. Only a comma makes a tuple.
func TestReadParametersParenthesized(t *testing.T) {
	tests := []struct {
		name, src string
		want      any
	}{
		{"parenthesized int", "x = (1)", 1},
		{"parenthesized string", "x = ('a')", "a"},
		{"long string split over lines", "x = (\n    'SELECT *'\n    ' FROM t'\n)", "SELECT * FROM t"},
		{"one-element tuple", "x = (1,)", []any{1}},
		{"empty tuple", "x = ()", []any{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ps, fs := paramsRead(tc.src)
			if len(ps) != 1 || !reflect.DeepEqual(ps[0].value, tc.want) {
				t.Errorf("params = %#v (findings %v), want x = %#v", ps, fs, tc.want)
			}
		})
	}
}

// Two assignments joined by ';' are two parameters, as Python runs them.
func TestReadParametersSemicolon(t *testing.T) {
	ps, fs := paramsRead("a = 1; b = 'two'")
	if !reflect.DeepEqual(paramsMap(ps), map[string]any{"a": 1, "b": "two"}) || len(fs) != 0 {
		t.Errorf("params = %#v, findings = %v; want a = 1, b = 'two'", ps, fs)
	}
}

// An integer literal beyond int64 must not silently become a float (Python
// keeps it exact): report it, or keep it exact.
func TestReadParametersHugeInt(t *testing.T) {
	ps, fs := paramsRead("n = 123456789012345678901234567890")
	for _, p := range ps {
		if _, isFloat := p.value.(float64); isFloat {
			t.Errorf("n = %v (float64): the integer lost its precision; findings %v", p.value, fs)
		}
	}
}

// A one-line compound statement such as `else: x = f()` has no assignment to
// a parameter named "else": no notice should name a keyword.
func TestReadParametersCompoundLine(t *testing.T) {
	_, fs := paramsRead("if fast:\n    x = 1\nelse: x = compute()\n")
	for _, f := range fs {
		if strings.HasPrefix(f.Message, "else ") {
			t.Errorf("notice names a keyword as a parameter: %s", f.Message)
		}
	}
}

func TestParseNumber(t *testing.T) {
	tests := []struct {
		in   string
		neg  bool
		want any
		ok   bool
	}{
		{"0", false, 0, true},
		{"42", true, -42, true},
		{"00", false, 0, true},
		{"0x_ff", false, 255, true},
		{"0O7", false, 7, true},
		{"0B11", false, 3, true},
		{"1.", false, 1.0, true},
		{"1.5", true, -1.5, true},
		{"1_0.2_5", false, 10.25, true},
		{"1E-2", false, 0.01, true},
		{"3j", false, nil, false},
		{"3.5J", false, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseNumber(tc.in, tc.neg)
			if (err == nil) != tc.ok || (tc.ok && !reflect.DeepEqual(got, tc.want)) {
				t.Errorf("parseNumber(%q, %v) = %#v, %v; want %#v ok=%v", tc.in, tc.neg, got, err, tc.want, tc.ok)
			}
		})
	}
}

func TestDecodePyString(t *testing.T) {
	tests := []struct {
		lit, want string
	}{
		{`'abc'`, "abc"},
		{`"abc"`, "abc"},
		{`''`, ""},
		{`""""""`, ""},
		{`'a"b'`, `a"b`},
		{`"a\"b"`, `a"b`},
		{`'it\'s'`, "it's"},
		{`'\\'`, `\`},
		{`'\n\t\r\a\b\f\v'`, "\n\t\r\a\b\f\v"},
		{`'\x41\x7e'`, "A~"},
		{`'\xe9'`, "é"},
		{`'\u00e9\u20ac'`, "é€"},
		{`'\U0001F600'`, "😀"},
		{`'\101\102'`, "AB"},
		{`'\0'`, "\x00"},
		{`'\7x'`, "\ax"},
		{`'\1234'`, "S4"},
		{`'\400'`, "Ā"},
		{`'\8'`, `\8`},
		{`'\d+\.\w'`, `\d+\.\w`},
		{`'\q'`, `\q`},
		{"'a\\\nb'", "ab"},
		{"'''a\nb'''", "a\nb"},
		{`'''it's "x"'''`, `it's "x"`},
		{`"""a"b"""`, `a"b`},
		{`'é日😀'`, "é日😀"},
		{`r'\n\d'`, `\n\d`},
		{`R"\x41"`, `\x41`},
		{`r'\''`, `\'`},
		{`u'\u00e9'`, "é"},
		{`U"x"`, "x"},
		{`'trailing\\'`, `trailing\`},
	}
	for _, tc := range tests {
		t.Run(tc.lit, func(t *testing.T) {
			got, err := decodePyString(tc.lit)
			if err != nil || got != tc.want {
				t.Errorf("decodePyString(%s) = %q, %v; want %q", tc.lit, got, err, tc.want)
			}
		})
	}
}

func TestDecodePyStringErrors(t *testing.T) {
	for _, lit := range []string{
		`b'x'`,
		`B"x"`,
		`rb'x'`,
		`f'{x}'`,
		`rf"x"`,
		`t'x'`,
		`'\N{BULLET}'`,
		`'\x4'`,
		`'\xZZ'`,
		`'\u12'`,
		`'\u12G4'`,
		`'\U0011FFFF'`,
		`'\ud800'`,
	} {
		t.Run(lit, func(t *testing.T) {
			if got, err := decodePyString(lit); err == nil {
				t.Errorf("decodePyString(%s) = %q, want an error", lit, got)
			}
		})
	}
}
