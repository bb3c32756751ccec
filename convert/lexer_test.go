package convert

import (
	"fmt"
	"strings"
	"testing"
)

// lexLine is the part of a logicalLine these tests compare.
type lexLine struct {
	kind        lineKind
	first, last int
	text        string
}

func (l lexLine) String() string {
	return fmt.Sprintf("{%s %d-%d %q}", lexKindName(l.kind), l.first, l.last, l.text)
}

func lexKindName(k lineKind) string {
	switch k {
	case lineCode:
		return "code"
	case lineBlank:
		return "blank"
	case lineMagic:
		return "magic"
	case lineShell:
		return "shell"
	case lineHelp:
		return "help"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

func lexLines(src string, sr scanResult) []lexLine {
	out := make([]lexLine, len(sr.lines))
	for i := range sr.lines {
		l := &sr.lines[i]
		out[i] = lexLine{kind: l.kind, first: l.first, last: l.last, text: l.text(src)}
	}
	return out
}

func lexCompare(t *testing.T, src string, got, want []lexLine) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("scanSource(%q) lines:\n got  %v\n want %v", src, got, want)
	}
}

// lexAllIssues returns the scanner's and the statement checker's findings.
func lexAllIssues(src string) []syntaxIssue {
	sr := scanSource(src)
	return append(append([]syntaxIssue{}, sr.issues...), statementIssues(sr.lines)...)
}

func TestScanSourceLogicalLines(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []lexLine
	}{
		{"simple statements", "x = 1\ny = 2\n", []lexLine{{lineCode, 1, 1, "x = 1"}, {lineCode, 2, 2, "y = 2"}}},
		{"no trailing newline", "x = 1", []lexLine{{lineCode, 1, 1, "x = 1"}}},
		{"parenthesis join", "x = (1,\n     2)\ny = 3", []lexLine{{lineCode, 1, 2, "x = (1,\n     2)"}, {lineCode, 3, 3, "y = 3"}}},
		{"nested brackets join", "d = {'a': [1,\n  (2,\n   3)],\n}\nz = 0", []lexLine{{lineCode, 1, 4, "d = {'a': [1,\n  (2,\n   3)],\n}"}, {lineCode, 5, 5, "z = 0"}}},
		{"comment and blank line inside brackets", "f(a,  # first\n\n  # only a comment\n  b)\n", []lexLine{{lineCode, 1, 4, "f(a,  # first\n\n  # only a comment\n  b)"}}},
		{"backslash join", "x = 1 + \\\n    2\ny = 3\n", []lexLine{{lineCode, 1, 2, "x = 1 + \\\n    2"}, {lineCode, 3, 3, "y = 3"}}},
		{"backslash join with CRLF", "x = 1 + \\\r\n    2\r\ny = 3\r\n", []lexLine{{lineCode, 1, 2, "x = 1 + \\\r\n    2"}, {lineCode, 3, 3, "y = 3"}}},
		{"CRLF line ends are not part of the text", "x = 1\r\ny = 2\r\n", []lexLine{{lineCode, 1, 1, "x = 1"}, {lineCode, 2, 2, "y = 2"}}},
		{
			"triple-quoted string hides escapes and calls",
			"s = '''a # not a comment\n%not_magic\n!not_shell\nprint(x)\n'''\nz = 1\n",
			[]lexLine{{lineCode, 1, 5, "s = '''a # not a comment\n%not_magic\n!not_shell\nprint(x)\n'''"}, {lineCode, 6, 6, "z = 1"}},
		},
		{"double-quoted triple string with a lone quote inside", "s = \"\"\"say \"hi\"\n\"\"\"\nx = 1", []lexLine{{lineCode, 1, 2, "s = \"\"\"say \"hi\"\n\"\"\""}, {lineCode, 3, 3, "x = 1"}}},
		{"escaped newline inside a single-quoted string", "s = 'abc\\\ndef'\nx = 1", []lexLine{{lineCode, 1, 2, "s = 'abc\\\ndef'"}, {lineCode, 3, 3, "x = 1"}}},
		{"hash inside a string", "s = '# not a comment'  # a comment\n", []lexLine{{lineCode, 1, 1, "s = '# not a comment'  # a comment"}}},
		{"blank and comment lines", "\n# comment\n   \nx = 1\n", []lexLine{{lineBlank, 1, 1, ""}, {lineBlank, 2, 2, "# comment"}, {lineBlank, 3, 3, "   "}, {lineCode, 4, 4, "x = 1"}}},
		{"indented block", "if x:\n    y = 1\n", []lexLine{{lineCode, 1, 1, "if x:"}, {lineCode, 2, 2, "    y = 1"}}},
		{"string prefixes", "a = rb'\\x'\nb = Rb\"y\"\nc = u'z'\n", []lexLine{{lineCode, 1, 1, "a = rb'\\x'"}, {lineCode, 2, 2, "b = Rb\"y\""}, {lineCode, 3, 3, "c = u'z'"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sr := scanSource(tc.src)
			lexCompare(t, tc.src, lexLines(tc.src, sr), tc.want)
			if sr.open != "" {
				t.Errorf("open = %q, want complete source", sr.open)
			}
			if len(sr.issues) != 0 {
				t.Errorf("issues = %v, want none", sr.issues)
			}
		})
	}
}

func TestScanSourceIndent(t *testing.T) {
	tests := []struct {
		src  string
		want int
	}{
		{"x", 0},
		{"    x", 4},
		{"\tx", 8},
		{"  \tx", 8},
		{"\t  x", 10},
		{"        \tx", 16},
		{"  \f  x", 2},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%q", tc.src), func(t *testing.T) {
			sr := scanSource(tc.src)
			if len(sr.lines) != 1 {
				t.Fatalf("got %d lines", len(sr.lines))
			}
			if got := sr.lines[0].indent; got != tc.want {
				t.Errorf("indent = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestScanSourceFStrings(t *testing.T) {
	tests := []struct {
		name string
		src  string
	}{
		{"nested quotes in a field", `s = f"{d['key']}"`},
		{"escaped braces", `s = f"{{literal}} {x}"`},
		{"only escaped braces", `s = f'{{x}}'`},
		{"format spec with a quote fill", `s = f"{x:'>10}"`},
		{"format spec with a double quote fill", `s = f'{x:">10}'`},
		{"nested replacement field in the spec", `s = f"{x:>{width}.{prec}f}"`},
		{"conversion and spec", `s = f'{x!r:>{w}}' + 'a'`},
		{"dict literal in a field", `s = f"{ {'a': 1}['a'] }"`},
		{"slice in a field", `s = f"{x[1:2]}"`},
		{"lambda in parentheses", `s = f"{(lambda y: y)(1)}"`},
		{"string containing a brace in a field", `s = f"{'}'}"`},
		{"self-documenting expression", `s = f"{x=}"`},
		{"comparison in a field", `s = f"{a!=b}"`},
		{"same quotes nested (3.12)", `s = f"{d["key"]}"`},
		{"triple-quoted with fields over lines", "s = f\"\"\"\n{x}\n{y:>{w}}\n\"\"\""},
		{"raw f-string", `s = rf"\d+{x}"`},
		{"uppercase prefix", `s = F"{x}"`},
		{"nested f-string", `s = f"{f'{x}'}"`},
		{"backslash before escaped brace (raw)", `s = rf'(\{{)'`},
		{"backslash before escaped brace", `s = f'\{{'`},
		{"backslash before a field", `s = rf"\{x}"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.src + "\nafter = 1\n"
			sr := scanSource(src)
			if len(sr.issues) != 0 {
				t.Errorf("issues = %v, want none", sr.issues)
			}
			if sr.open != "" {
				t.Errorf("open = %q, want complete source", sr.open)
			}
			lines := lexLines(src, sr)
			if len(lines) != 2 || lines[0].text != tc.src || lines[1].text != "after = 1" {
				t.Errorf("lines = %v, want the f-string line then \"after = 1\"", lines)
			}
		})
	}
}

func TestScanSourceIPythonEscapes(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []lexLine
	}{
		{"line magic", "%matplotlib inline\nx = 1", []lexLine{{lineMagic, 1, 1, "%matplotlib inline"}, {lineCode, 2, 2, "x = 1"}}},
		{"cell magic syntax mid-cell", "%%time\n", []lexLine{{lineMagic, 1, 1, "%%time"}}},
		{"shell escape", "!ls -la\n", []lexLine{{lineShell, 1, 1, "!ls -la"}}},
		{"double bang", "!!ls\n", []lexLine{{lineShell, 1, 1, "!!ls"}}},
		{"indented magic", "for i in x:\n    %time f(i)\n", []lexLine{{lineCode, 1, 1, "for i in x:"}, {lineMagic, 2, 2, "    %time f(i)"}}},
		{"indented shell escape", "if x:\n\t!echo hi\n", []lexLine{{lineCode, 1, 1, "if x:"}, {lineShell, 2, 2, "\t!echo hi"}}},
		{"assign from shell", "files = !ls *.csv\n", []lexLine{{lineShell, 1, 1, "files = !ls *.csv"}}},
		{"assign from magic", "t = %timeit -o f()\n", []lexLine{{lineMagic, 1, 1, "t = %timeit -o f()"}}},
		{"assign from magic without spaces", "t=%time f()", []lexLine{{lineMagic, 1, 1, "t=%time f()"}}},
		{"magic with continuation", "%pip install \\\n    pandas\nx = 1", []lexLine{{lineMagic, 1, 2, "%pip install \\\n    pandas"}, {lineCode, 3, 3, "x = 1"}}},
		{"shell with continuations", "!pip install a \\\n  b \\\n  c\ny = 2\n", []lexLine{{lineShell, 1, 3, "!pip install a \\\n  b \\\n  c"}, {lineCode, 4, 4, "y = 2"}}},
		{"modulo is not a magic", "y = x % 2\nz = (a\n% b)", []lexLine{{lineCode, 1, 1, "y = x % 2"}, {lineCode, 2, 3, "z = (a\n% b)"}}},
		{"not-equal is not a shell escape", "ok = x != y", []lexLine{{lineCode, 1, 1, "ok = x != y"}}},
		{"percent formatting", `print("%d items" % n)`, []lexLine{{lineCode, 1, 1, `print("%d items" % n)`}}},
		{"help suffix", "obj?\n", []lexLine{{lineHelp, 1, 1, "obj?"}}},
		{"help double suffix on attribute", "obj.attr??\n", []lexLine{{lineHelp, 1, 1, "obj.attr??"}}},
		{"help prefix", "?obj\n", []lexLine{{lineHelp, 1, 1, "?obj"}}},
		{"help double prefix", "??obj.attr\n", []lexLine{{lineHelp, 1, 1, "??obj.attr"}}},
		{"help with a comment", "df.groupby?  # what is it?\n", []lexLine{{lineHelp, 1, 1, "df.groupby?  # what is it?"}}},
		{"indented help", "if x:\n    obj?\n", []lexLine{{lineCode, 1, 1, "if x:"}, {lineHelp, 2, 2, "    obj?"}}},
		{"question mark in a string is code", `s = "why?"`, []lexLine{{lineCode, 1, 1, `s = "why?"`}}},
		{"question mark in a comment is code", "x = 1  # really?", []lexLine{{lineCode, 1, 1, "x = 1  # really?"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sr := scanSource(tc.src)
			lexCompare(t, tc.src, lexLines(tc.src, sr), tc.want)
			if len(sr.issues) != 0 {
				t.Errorf("issues = %v, want none", sr.issues)
			}
			if sr.open != "" {
				t.Errorf("open = %q", sr.open)
			}
		})
	}
}

// IPython's assign_from_system/assign_from_magic accept any assignment
// target made of names, attributes, subscripts and commas, not only a bare
// name: `x.y = !ls`, `a, b = !ls` and `x[0] = !ls` are valid IPython.
func TestScanSourceEscapeAssignTargets(t *testing.T) {
	tests := []struct {
		src  string
		want lineKind
	}{
		{"x.y = !ls", lineShell},
		{"a, b = !ls", lineShell},
		{"x[0] = !ls", lineShell},
		{"self.t = %time f()", lineMagic},
	}
	for _, tc := range tests {
		t.Run(tc.src, func(t *testing.T) {
			sr := scanSource(tc.src)
			if len(sr.lines) != 1 || sr.lines[0].kind != tc.want {
				t.Errorf("lines = %v, want one %s line", lexLines(tc.src, sr), lexKindName(tc.want))
			}
			if iss := lexAllIssues(tc.src); len(iss) != 0 {
				t.Errorf("issues = %v, want none (valid IPython)", iss)
			}
		})
	}
}

// IPython's psearch: `np.*load*?` lists names matching a wildcard.
func TestScanSourceHelpWildcard(t *testing.T) {
	for _, src := range []string{"np.*load*?", "*int*?"} {
		t.Run(src, func(t *testing.T) {
			sr := scanSource(src)
			if len(sr.lines) != 1 || sr.lines[0].kind != lineHelp || len(sr.issues) != 0 {
				t.Errorf("lines = %v, issues = %v; want one help line and no issues", lexLines(src, sr), sr.issues)
			}
		})
	}
}

func TestScanSourceIncomplete(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string // substring of incomplete(); "" means complete
	}{
		{"complete code", "x = 1\ny = f(x)\n", ""},
		{"complete block", "if x:\n    y = 1\n", ""},
		{"complete one-line block", "for i in x: pass\n", ""},
		{"complete decorated function", "@dec\ndef f():\n    pass\n", ""},
		{"empty source", "", ""},
		{"only comments", "# a\n# b\n", ""},
		{"complete magic", "%time f()\n", ""},
		{"slice ends with colon inside brackets", "y = x[1:]\n", ""},
		{"open parenthesis", "x = f(1,\n", `unclosed "("`},
		{"open bracket", "x = [\n", `unclosed "["`},
		{"open brace after a closed one", "a = (1)\nb = {\n", `unclosed "{"`},
		{"unterminated triple string", "s = '''abc\nstill going\n", "unterminated triple-quoted string"},
		{"unterminated double triple string", "s = \"\"\"abc", "unterminated triple-quoted string"},
		{"trailing backslash without newline", "x = 1 + \\", "line continuation at the end of the cell"},
		{"trailing backslash on a shell line", "!pip install a \\", "line continuation at the end of the cell"},
		{"header without body", "for i in range(3):\n", "block header without a body at line 1"},
		{"header then comments", "x = 1\nif x:\n    # todo\n\n", "block header without a body at line 2"},
		{"nested header without body", "def f():\n    if x:\n", "block header without a body at line 2"},
		{"else without body", "if x:\n    pass\nelse:", "block header without a body at line 3"},
		{"header with trailing comment", "while True:  # loop", "block header without a body at line 1"},
		{"decorator without def", "@app.route('/')\n", "decorator without a definition at line 1"},
		{"decorator after code", "x = 1\n@dec\n# comment\n", "decorator without a definition at line 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sr := scanSource(tc.src)
			got := sr.incomplete()
			if tc.want == "" {
				if got != "" {
					t.Errorf("incomplete() = %q, want \"\"", got)
				}
				return
			}
			if !strings.Contains(got, tc.want) {
				t.Errorf("incomplete() = %q, want it to contain %q", got, tc.want)
			}
			if got != incompleteReason(tc.src) {
				t.Errorf("incompleteReason = %q, differs from incomplete() = %q", incompleteReason(tc.src), got)
			}
		})
	}
}

// A cell whose last line ends with a backslash is a fragment whether or not
// the cell's source ends with a newline: Jupyter keeps a final "\n" in cells
// written by jupytext and other tools.
func TestScanSourceIncompleteBackslashNewline(t *testing.T) {
	for _, src := range []string{"x = 1 + \\\n", "x = 1 + \\\r\n", "!pip install a \\\n", "%pip install a \\\n"} {
		t.Run(fmt.Sprintf("%q", src), func(t *testing.T) {
			sr := scanSource(src)
			if got := sr.incomplete(); !strings.Contains(got, "line continuation") {
				t.Errorf("incomplete() = %q, want a line continuation reason", got)
			}
		})
	}
}

// Python joins a backslash line with the next physical line even when that is
// only a comment, which leaves `x = 1 +` dangling: a syntax error, whatever
// comes in the next cell. The scanner must not pass it as complete code.
func TestScanSourceBackslashIntoComment(t *testing.T) {
	src := "x = 1 + \\\n# more below\n"
	sr := scanSource(src)
	if sr.incomplete() == "" && len(sr.issues) == 0 && len(statementIssues(sr.lines)) == 0 {
		t.Errorf("scanSource(%q): no issue and not incomplete, but Python rejects it", src)
	}
}

func TestScanSourceSyntaxIssues(t *testing.T) {
	tests := []struct {
		name     string
		src      string
		wantLine int
		wantMsg  string
	}{
		{"unterminated single-quoted string", "x = 1\ny = 'abc\nz = 2\n", 2, "unterminated string literal"},
		{"unterminated double-quoted string at the end", `s = "abc`, 1, "unterminated string literal"},
		{"unmatched closing parenthesis", "x = 1)\n", 1, `unmatched ")"`},
		{"mismatched bracket", "x = (1]\n", 1, `unmatched "]"`},
		{"unmatched closing brace on a later line", "a = 1\nb = 2}\n", 2, `unmatched "}"`},
		{"dollar sign", "x = $y\n", 1, `invalid character "$"`},
		{"backtick", "x = `y`\n", 1, "invalid character \"`\""},
		{"lone exclamation mark", "x = a ! b\n", 1, `invalid character "!"`},
		{"question mark in an expression", "x = y ? z\n", 1, "invalid character '?'"},
		{"help on a subscript", "a[1]?\n", 1, "invalid character '?'"},
		{"text after a backslash", "x = 1 \\ y\n", 1, "unexpected character after line continuation"},
		{"Python 2 octal literal", "mode = 0777\n", 1, "Python 2 octal literal 0777 (write 0o777)"},
		{"Python 2 long literal", "n = 10L\n", 1, "Python 2 long literal 10L"},
		{"Python 2 hex long literal", "n = 0xFFL\n", 1, "Python 2 long literal 0xFFL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sr := scanSource(tc.src)
			if len(sr.issues) == 0 {
				t.Fatalf("no issue for %q", tc.src)
			}
			is := sr.issues[0]
			if is.line != tc.wantLine || is.msg != tc.wantMsg {
				t.Errorf("first issue = line %d %q, want line %d %q", is.line, is.msg, tc.wantLine, tc.wantMsg)
			}
		})
	}
}

func TestScanSourceNoIssuesOnValidNumbersAndStrings(t *testing.T) {
	for _, src := range []string{
		"x = 0", "x = 00", "x = 0o777", "x = 0x1F", "x = 0b101", "x = 1_000_000", "x = 1e-5", "x = 1E+5", "x = 0.5j",
		"x = .5", "x = 007.5", "x = 0e0", "x = 0xbad", "x = 1.5e10",
		"s = 'it\\'s'", `s = "a\"b"`, `s = r'\d'`, "s = b'\\x00'", "s = ''", `s = ""`, "s = '''''' ", "x = ...",
	} {
		t.Run(src, func(t *testing.T) {
			if iss := scanSource(src).issues; len(iss) != 0 {
				t.Errorf("issues = %v, want none", iss)
			}
		})
	}
}

// The scanner must read a string literal ending in a backslash-CRLF line
// continuation the way Python does (Python reads CRLF as a newline).
func TestScanSourceCRLFContinuationInString(t *testing.T) {
	src := "x = 'abc\\\r\ndef'\r\ny = 1\r\n"
	sr := scanSource(src)
	if len(sr.issues) != 0 {
		t.Errorf("issues = %v, want none: 'abc\\<CRLF>def' is one valid string", sr.issues)
	}
	lexCompare(t, src, lexLines(src, sr), []lexLine{{lineCode, 1, 2, "x = 'abc\\\r\ndef'"}, {lineCode, 3, 3, "y = 1"}})
}

func TestScanSourceTokens(t *testing.T) {
	src := "x = f(a, 'b', 1.5) ** 2 # c"
	sr := scanSource(src)
	var got []string
	for _, tk := range sr.lines[0].toks {
		got = append(got, tk.text)
	}
	want := []string{"x", "=", "f", "(", "a", ",", "'b'", ",", "1.5", ")", "**", "2"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("tokens = %q, want %q", got, want)
	}
	kinds := map[string]tokKind{"x": tokName, "'b'": tokString, "1.5": tokNumber, "**": tokOp}
	for _, tk := range sr.lines[0].toks {
		if k, ok := kinds[tk.text]; ok && tk.kind != k {
			t.Errorf("token %q kind = %d, want %d", tk.text, tk.kind, k)
		}
	}
	t.Run("token lines in a joined line", func(t *testing.T) {
		sr := scanSource("f(a,\n  b)")
		toks := sr.lines[0].toks
		if toks[len(toks)-2].text != "b" || toks[len(toks)-2].line != 2 || toks[0].line != 1 {
			t.Errorf("token lines wrong: %+v", toks)
		}
	})
}

func TestStatementIssues(t *testing.T) {
	tests := []struct {
		name     string
		src      string
		wantLine int
		wantMsg  string // substring
	}{
		{"py2 print string", "print 'hello'", 1, "Python 2 print statement"},
		{"py2 print name", "x = 1\nprint x", 2, "Python 2 print statement"},
		{"py2 print number", "print 42", 1, "Python 2 print statement"},
		{"py2 print tuple", "print a, b", 1, "Python 2 print statement"},
		{"py2 print None", "print None", 1, "Python 2 print statement"},
		{"py2 print redirect", "print >>sys.stderr, 'x'", 1, "Python 2 print statement"},
		{"py2 print redirect spaced", "print >> f, x", 1, "Python 2 print statement"},
		{"py2 exec statement", "exec code in ns", 1, "Python 2 exec statement"},
		{"py2 exec string", "exec 'x = 1'", 1, "Python 2 exec statement"},
		{"indented py2 print", "if x:\n    print x", 2, "Python 2 print statement"},
		{"statement starting with =", "= 2", 1, `a statement cannot start with "="`},
		{"statement starting with )", "x = 1\n) + 2", 2, "a statement cannot start with"},
		{"statement starting with ,", ", x", 1, `a statement cannot start with ","`},
		{"statement ending with =", "x =", 1, `statement ends with "="`},
		{"statement ending with +=", "total +=", 1, `statement ends with "+="`},
		{"statement ending with := on its last line", "(y\n) :=", 2, `statement ends with ":="`},
		{"Scala val", "val x = 1", 1, `"x" cannot follow "val"`},
		{"Scala var", "var total = 0", 1, `"total" cannot follow "var"`},
		{"Scala implicit val", "x = 1\nimplicit val y = 2", 2, `"val" cannot follow "implicit"`},
		{"two names on a continued line", "x = (a\n  b)", 2, `"b" cannot follow "a"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sr := scanSource(tc.src)
			iss := statementIssues(sr.lines)
			if len(iss) == 0 {
				t.Fatalf("no statement issue for %q", tc.src)
			}
			if iss[0].line != tc.wantLine || !strings.Contains(iss[0].msg, tc.wantMsg) {
				t.Errorf("issue = line %d %q, want line %d containing %q", iss[0].line, iss[0].msg, tc.wantLine, tc.wantMsg)
			}
		})
	}
}

func TestStatementIssuesOneFindingPerLine(t *testing.T) {
	iss := statementIssues(scanSource("print x y =").lines)
	if len(iss) != 1 {
		t.Errorf("issues = %v, want exactly one per logical line", iss)
	}
}

func TestStatementIssuesNoFalsePositives(t *testing.T) {
	valid := []string{
		"print(x)",
		"print (x)",
		"print()",
		"print",
		"print -1",
		"print(x, file=sys.stderr)",
		"exec(code)",
		"exec = 5",
		"print, x = 1, 2",
		"x = print",
		"not x",
		"x = not y",
		"x if y else z",
		"x = a if b else c",
		"x = [i for i in y if i is not None]",
		"x = a and b or not c",
		"lambda x: x",
		"f = lambda *a, **k: (a, k)",
		"match command.split():\n    case [action]:\n        pass\n    case [action, obj]:\n        pass\n    case Point(x=0) | _:\n        pass\n    case {'k': v} if v > 1:\n        pass\n    case str() as s:\n        pass\n    case _:\n        pass",
		"match x:\n    case 1:\n        pass",
		"match = 1\ncase = 2\ntype = 3",
		"type X = int",
		"type Point[T] = tuple[T, T]",
		"async def f():\n    await g()\n    async with a as b:\n        pass\n    async for i in c:\n        pass",
		"await f()",
		"import a.b as c",
		"import a, b.c",
		"from . import x",
		"from .. import y as z",
		"from a.b import (c,\n    d as e)",
		"from __future__ import annotations",
		"@dec\ndef f(): pass",
		"@dec.attr(1)\n@other\nclass A(B, metaclass=M):\n    x: int = 1",
		"if (n := 10) > 5: pass",
		"while chunk := f.read(10): pass",
		"f(*args, **kw)",
		"*a, b = c",
		"a, *b = c",
		"x = [*a, *b]",
		"d = {**a, 'k': 1}",
		"def f(a, /, b, *, c=1) -> int: return a",
		"global x, y",
		"nonlocal z",
		"del x, y[0]",
		"assert x, 'msg'",
		"raise ValueError('x') from err",
		"try:\n    pass\nexcept (A, B) as e:\n    pass\nexcept* C:\n    pass\nelse:\n    pass\nfinally:\n    pass",
		"with open(p) as f, open(q) as g: pass",
		"for k, v in d.items(): pass",
		"yield x",
		"return x",
		"x = yield from g()",
		"x += 1",
		"x //= 2",
		"x **= 2",
		"x @= m",
		"x = a @ b",
		"x = a is not b",
		"x = a not in b",
		"x = -1",
		"x = ~y",
		"...",
		"x = ...",
		"-x",
		"(a, b) = c",
		"[a, b] = c",
		"s = 'a' 'b' f'{c}'",
		"x = 1 if y else 2",
		"x: int",
		"x: list[int] = []",
		"y = x[:]",
		"y = x[::2]",
		"class A: pass",
		"_ = f()",
		"x = y == z",
		"x = y <= z",
		"x = y != z",
		"é = 1",
		"print(f'{x}'.format())",
	}
	for _, src := range valid {
		t.Run(src, func(t *testing.T) {
			if iss := lexAllIssues(src); len(iss) != 0 {
				t.Errorf("issues = %v, want none for valid Python 3", iss)
			}
		})
	}
}
