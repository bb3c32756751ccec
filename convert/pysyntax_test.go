package convert

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The issue's list of code that is not Python 3, each with the line and the
// words CPython 3.12 uses.
func TestCheckPythonIssueExamples(t *testing.T) {
	tests := []struct {
		src  string
		line int
		msg  string
	}{
		{"try:\n    pass\nexcept E, e:\n    pass\n", 3, "multiple exception types must be parenthesized"},
		{"raise E, \"m\"\n", 1, "invalid syntax"},
		{"if a <> b:\n    pass\n", 1, "invalid syntax"},
		{"s = ur'x'\n", 1, "invalid syntax"},
		{"f = lambda (a, b): a\n", 1, "invalid syntax"},
		{"def f(a, (b, c)):\n    pass\n", 1, "invalid syntax"},
		{"if x:\n        a = 1\n    b = 2\n", 3, "unindent does not match any outer indentation level"},
		{"if x:\n\ta = 1\n        b = 2\n", 3, "inconsistent use of tabs and spaces in indentation"},
		{"x = 1\nreturn x\n", 2, "'return' outside function"},
		{"yield 1\n", 1, "'yield' outside function"},
		{"break\n", 1, "'break' outside loop"},
		{"nonlocal x\n", 1, "nonlocal declaration not allowed at module level"},
		{"await f()\n", 1, "'await' outside function"},
		{"class = 3\n", 1, "invalid syntax"},
		{"f() = 3\n", 1, "cannot assign to function call here. Maybe you meant '==' instead of '='?"},
		{"*a = [1]\n", 1, "starred assignment target must be in a list or tuple"},
		{"print 'x'\n", 1, "Missing parentheses in call to 'print'. Did you mean print(...)?"},
		{"x = 0777\n", 1, "leading zeros in decimal integer literals are not permitted"},
		{"x = (1,\ny = 2\n", 1, "'(' was never closed"},
		{"s = 'abc\n", 1, "unterminated string literal (detected at line 1)"},
		{"def f():\n    nonlocal x\n", 2, "no binding for nonlocal 'x' found"},
		{"def f(a, a):\n    pass\n", 1, "duplicate argument 'a' in function definition"},
		{"x = f'{a!z}'\n", 1, "f-string: invalid conversion character 'z': expected 's', 'r', or 'a'"},
		{"match x:\n    case a:\n        pass\n    case 1:\n        pass\n", 2, "name capture 'a' makes remaining patterns unreachable"},
	}
	for _, tc := range tests {
		err := checkPython(tc.src)
		if err == nil {
			t.Errorf("%q accepted", tc.src)
			continue
		}
		if err.line != tc.line || !strings.Contains(err.msg, tc.msg) {
			t.Errorf("%q: line %d %q, want line %d %q", tc.src, err.line, err.msg, tc.line, tc.msg)
		}
	}
}

// Syntax new in 3.8-3.12 is accepted.
func TestCheckPythonModernSyntax(t *testing.T) {
	for _, src := range []string{
		"if (n := len(a)) > 10:\n    pass\n",
		"match cmd:\n    case {'a': 1, **rest}:\n        pass\n    case [1, *others]:\n        pass\n    case Point(x=0) | Point(y=0):\n        pass\n    case str() as s if s:\n        pass\n    case _:\n        pass\n",
		"type Pair[T] = tuple[T, T]\n",
		"def first[T: (int, str), *Ts, **P](x: T, *args: *Ts) -> T:\n    return x\n",
		"class Box[T](Base):\n    pass\n",
		"x: tuple[*Ts]\n",
		"songs = ['a']\nprint(f\"{', '.join(f'{s!r:>{10}}' for s in songs)}\")\n",
		"print(f\"{'a' + \"b\"}\")\n",
		"print(f'''{\n    x  # a comment\n}''')\n",
		"def f(a, /, b, *, c):\n    pass\n",
		"with (open(a) as f, open(b) as g):\n    pass\n",
		"try:\n    pass\nexcept* ValueError as eg:\n    pass\n",
		"async def f():\n    async with a as b:\n        return [x async for x in b]\n",
		"x = 1if y else 2\n",
		"s = '\\N{EM DASH}'\n",
		"def f():\n    def g():\n        nonlocal x\n    x = 1\n",
	} {
		if err := checkPython(src); err != nil {
			t.Errorf("%q: %v", src, err)
		}
	}
}

func TestSyntaxErrorReportsCellAndLine(t *testing.T) {
	res := Convert("s.ipynb", cellsNotebook("python3", "python", "x = 1", "%matplotlib inline\ny = 2\ntry:\n    pass\nexcept E, e:\n    pass"), Options{})
	if res.Err() == nil || !hasFinding(res, SevError, "cell 2, line 5: multiple exception types must be parenthesized") {
		t.Fatalf("findings %v", res.Findings)
	}
	res = Convert("i.ipynb", cellsNotebook("python3", "python", "\n    x = 1\n    if x:\n        y = 2\n  z = 3\n"), Options{})
	if res.Err() == nil || !hasFinding(res, SevError, "cell 1, line 5: unindent does not match any outer indentation level") {
		t.Fatalf("a line indented less than the first one must stay an error, as in IPython: %v", res.Findings)
	}
}

func FuzzCheckPython(f *testing.F) {
	data, _ := os.ReadFile(filepath.Join("testdata", "pysyntax", "probes.txt"))
	for _, p := range strings.Split(string(data), "\n----\n") {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, src string) {
		a := checkPython(src)
		b := checkPython(src)
		if (a == nil) != (b == nil) || (a != nil && *a != *b) {
			t.Fatalf("not deterministic: %v / %v", a, b)
		}
		lines := strings.Count(strings.ReplaceAll(strings.ReplaceAll(src, "\r\n", "\n"), "\r", "\n"), "\n") + 1
		if a != nil && (a.line < 0 || a.line > lines+1) {
			t.Fatalf("error line %d outside the source (%d lines): %v", a.line, lines, a)
		}
	})
}

// BenchmarkCheckPython measures the syntax check alone on the code the
// corpus' notebooks export (compare with BenchmarkConvertCorpus).
func BenchmarkCheckPython(b *testing.B) {
	d := os.Getenv("NBPIPE_CORPUS")
	if d == "" {
		d = filepath.Join("..", "..", "shared", "corpus", "notebooks")
	}
	files, _ := filepath.Glob(filepath.Join(d, "*.ipynb"))
	if len(files) == 0 {
		b.Skip("no corpus")
	}
	var codes []string
	total := 0
	for _, f := range files {
		data, _ := os.ReadFile(f)
		res := Convert(f, data, Options{})
		_ = res
		nb, err := ParseNotebook(f, data)
		if err != nil {
			continue
		}
		for _, c := range nb.Cells {
			if c.Type != "code" {
				continue
			}
			sr := scanSource(c.Source)
			if len(sr.issues) > 0 || sr.open != "" {
				continue
			}
			s := sanitize(c.Source, sr, sanitizeOptions{stripPrint: true, stripDisplay: true})
			codes = append(codes, s.code)
			total += len(s.code)
		}
	}
	b.SetBytes(int64(total))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, c := range codes {
			checkPython(c)
		}
	}
}
