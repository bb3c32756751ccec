package convert

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

var sanitizeDefault = sanitizeOptions{stripPrint: true, stripDisplay: true}

func sanitizeRun(src string, opt sanitizeOptions) sanitized {
	return sanitize(src, scanSource(src), opt)
}

func TestSanitizeOutput(t *testing.T) {
	tests := []struct {
		name string
		src  string
		opt  sanitizeOptions
		want string
	}{
		{"nothing to remove", "x = 1\ny = f(x)\n", sanitizeDefault, "x = 1\ny = f(x)\n"},
		{"line magic and shell escape", "%matplotlib inline\n!ls -la\nx = 1\n", sanitizeDefault,
			"# nbpipe: removed line magic %matplotlib\n# nbpipe: removed shell escape\nx = 1\n"},
		{"assignment from shell and magic", "files = !ls\nt = %timeit f()\nx = 1", sanitizeDefault,
			"# nbpipe: removed shell escape\n# nbpipe: removed line magic %timeit\nx = 1"},
		{"help syntax", "df?\n??np.mean\nx = 1", sanitizeDefault,
			"# nbpipe: removed help syntax\n# nbpipe: removed help syntax\nx = 1"},
		{"magic continuation lines become empty", "%pip install \\\n    pandas \\\n    numpy\nx = 1\n", sanitizeDefault,
			"# nbpipe: removed line magic %pip\n\n\nx = 1\n"},
		{"multi-line print removed whole", "print(a,\n      b)\nx = 1\n", sanitizeDefault,
			"# nbpipe: removed print() call\n\nx = 1\n"},
		{"multi-line display removed whole", "display(\n    df.head()\n)\n", sanitizeDefault,
			"# nbpipe: removed display() call\n\n\n"},
		{"print with a triple-quoted argument", "print(\"\"\"a\nb\"\"\")\ny = 2", sanitizeDefault,
			"# nbpipe: removed print() call\n\ny = 2"},
		{"print with trailing comment", "print(x)  # show it\n", sanitizeDefault, "# nbpipe: removed print() call\n"},
		{"print with keyword arguments", "print(x, file=sys.stderr, end='')\n", sanitizeDefault, "# nbpipe: removed print() call\n"},
		{"print inside strings untouched", "s = 'print(1)'\nt = \"\"\"\nprint(2)\ndisplay(3)\n%magic\n!shell\n\"\"\"\n", sanitizeDefault,
			"s = 'print(1)'\nt = \"\"\"\nprint(2)\ndisplay(3)\n%magic\n!shell\n\"\"\"\n"},
		{"print in an f-string untouched", "s = f\"{print}(x)\"\n", sanitizeDefault, "s = f\"{print}(x)\"\n"},
		{"block left empty gets pass", "if x:\n    print(1)\n", sanitizeDefault,
			"if x:\n    pass  # nbpipe: removed print() call\n"},
		{"block left empty with tab indent", "if x:\n\tprint(1)\n", sanitizeDefault,
			"if x:\n\tpass  # nbpipe: removed print() call\n"},
		{"only the first removed line of an emptied block gets pass", "for i in x:\n    print(i)\n    display(i)\nz = 1\n", sanitizeDefault,
			"for i in x:\n    pass  # nbpipe: removed print() call\n    # nbpipe: removed display() call\nz = 1\n"},
		{"block keeping a statement gets no pass", "for i in x:\n    print(i)\n    y = i\n", sanitizeDefault,
			"for i in x:\n    # nbpipe: removed print() call\n    y = i\n"},
		{"block whose kept statement comes first gets no pass", "for i in x:\n    y = i\n    print(i)\n", sanitizeDefault,
			"for i in x:\n    y = i\n    # nbpipe: removed print() call\n"},
		{"comments and blank lines do not count as statements", "while True:\n    # comment\n\n    display(df)\n    # another\nz = 2\n", sanitizeDefault,
			"while True:\n    # comment\n\n    pass  # nbpipe: removed display() call\n    # another\nz = 2\n"},
		{"nested blocks", "if a:\n    if b:\n        print(1)\n    y = 2\n", sanitizeDefault,
			"if a:\n    if b:\n        pass  # nbpipe: removed print() call\n    y = 2\n"},
		{"nested blocks both emptied", "def f():\n    if b:\n        print(1)\n", sanitizeDefault,
			"def f():\n    if b:\n        pass  # nbpipe: removed print() call\n"},
		{"multi-line print in a nested block", "if a:\n    if b:\n        print(1,\n              2)\n", sanitizeDefault,
			"if a:\n    if b:\n        pass  # nbpipe: removed print() call\n\n"},
		{"if and else branches", "if x:\n    print(1)\nelse:\n    print(2)\ny = 1\n", sanitizeDefault,
			"if x:\n    pass  # nbpipe: removed print() call\nelse:\n    pass  # nbpipe: removed print() call\ny = 1\n"},
		{"elif branch", "if x:\n    y = 1\nelif z:\n    display(z)\n", sanitizeDefault,
			"if x:\n    y = 1\nelif z:\n    pass  # nbpipe: removed display() call\n"},
		{"try and except", "try:\n    !ls\nexcept Exception:\n    print('e')\n", sanitizeDefault,
			"try:\n    pass  # nbpipe: removed shell escape\nexcept Exception:\n    pass  # nbpipe: removed print() call\n"},
		{"indented magic in a function", "def f():\n    %matplotlib inline\n    return 1\n", sanitizeDefault,
			"def f():\n    # nbpipe: removed line magic %matplotlib\n    return 1\n"},
		{"one-line for with print kept", "for i in x: print(i)\n", sanitizeDefault, "for i in x: print(i)\n"},
		{"one-line if with print kept", "if x: print(x)\n", sanitizeDefault, "if x: print(x)\n"},
		{"print followed by another statement kept", "print(x); y = 1\n", sanitizeDefault, "print(x); y = 1\n"},
		{"print result used kept", "x = print(1)\n", sanitizeDefault, "x = print(1)\n"},
		{"print attribute kept", "print(x).y\n", sanitizeDefault, "print(x).y\n"},
		{"method named print kept", "self.print(x)\nlogger.display(y)\n", sanitizeDefault, "self.print(x)\nlogger.display(y)\n"},
		{"other names kept", "printer(x)\ndisplay_all(y)\npp(z)\n", sanitizeDefault, "printer(x)\ndisplay_all(y)\npp(z)\n"},
		{"pprint display helpers", "from pprint import pp\npprint(z)\npp(z)\n", sanitizeDefault, "from pprint import pp\n# nbpipe: removed pprint() call\n# nbpipe: removed pprint() call\n"},
		{"get_ipython statements", "get_ipython().run_line_magic('matplotlib', 'inline')\nip = get_ipython()\nx = 1\n", sanitizeDefault,
			"# nbpipe: removed get_ipython() call\n# nbpipe: removed get_ipython() call\nx = 1\n"},
		{"get_ipython removed even when print is kept", "get_ipython().system('ls')\nprint(1)\n", sanitizeOptions{},
			"# nbpipe: removed get_ipython() call\nprint(1)\n"},
		{"get_ipython in a block", "if True:\n    get_ipython().magic('x')\n", sanitizeDefault,
			"if True:\n    pass  # nbpipe: removed get_ipython() call\n"},
		{"stripPrint false keeps print", "print(1)\ndisplay(2)\n", sanitizeOptions{stripDisplay: true},
			"print(1)\n# nbpipe: removed display() call\n"},
		{"stripDisplay false keeps display", "print(1)\ndisplay(2)\n", sanitizeOptions{stripPrint: true},
			"# nbpipe: removed print() call\ndisplay(2)\n"},
		{"both false keep both", "print(1)\ndisplay(2)\n", sanitizeOptions{}, "print(1)\ndisplay(2)\n"},
		{"CRLF source", "print(1)\r\nx = 1\r\n", sanitizeDefault, "# nbpipe: removed print() call\r\nx = 1\r\n"},
		{"no trailing newline", "x = 1\nprint(x)", sanitizeDefault, "x = 1\n# nbpipe: removed print() call"},
		{"time magic keeps its statement", "%time x = f()\ny = x\n", sanitizeDefault, "x = f()  # nbpipe: removed %time\ny = x\n"},
		{"indented time magic keeps its statement", "def f():\n    %time g()\n", sanitizeDefault, "def f():\n    g()  # nbpipe: removed %time\n"},
		{"timeit is removed", "%timeit f()\n", sanitizeDefault, "# nbpipe: removed line magic %timeit\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := sanitizeRun(tc.src, tc.opt)
			if got.code != tc.want {
				t.Errorf("sanitize(%q):\n got  %q\n want %q", tc.src, got.code, tc.want)
			}
			if n, m := strings.Count(got.code, "\n"), strings.Count(tc.src, "\n"); n != m {
				t.Errorf("line count changed: %d newlines, source has %d", n, m)
			}
		})
	}
}

func TestSanitizeRemovals(t *testing.T) {
	src := "import os\n%matplotlib inline\nif x:\n    print(a,\n          b)\n!pip install \\\n  pandas\ndf?\nip = get_ipython()\ndisplay(df)\n"
	got := sanitizeRun(src, sanitizeDefault)
	want := []removal{
		{line: 2, reason: "line magic %matplotlib", text: "%matplotlib inline"},
		{line: 4, reason: "print() call", text: "print(a,"},
		{line: 6, reason: "shell escape", text: "!pip install \\"},
		{line: 8, reason: "help syntax", text: "df?"},
		{line: 9, reason: "get_ipython() call", text: "ip = get_ipython()"},
		{line: 10, reason: "display() call", text: "display(df)"},
	}
	if !reflect.DeepEqual(got.removed, want) {
		t.Errorf("removed:\n got  %+v\n want %+v", got.removed, want)
	}
	if !reflect.DeepEqual(got.requirements, []string{"pandas"}) {
		t.Errorf("requirements = %q, want [pandas]", got.requirements)
	}
	wantCode := "import os\n# nbpipe: removed line magic %matplotlib\nif x:\n    pass  # nbpipe: removed print() call\n\n# nbpipe: removed shell escape\n\n# nbpipe: removed help syntax\n# nbpipe: removed get_ipython() call\n# nbpipe: removed display() call\n"
	if got.code != wantCode {
		t.Errorf("code:\n got  %q\n want %q", got.code, wantCode)
	}
	t.Run("time magic reports that its statement is kept", func(t *testing.T) {
		got := sanitizeRun("%time f()", sanitizeDefault)
		if len(got.removed) != 1 || !strings.Contains(got.removed[0].reason, "kept") || got.removed[0].line != 1 {
			t.Errorf("removed = %+v", got.removed)
		}
	})
}

func TestSanitizeStatements(t *testing.T) {
	tests := []struct {
		src  string
		want int
	}{
		{"", 0},
		{"# only a comment\n\n", 0},
		{"x = 1\ny = 2\n", 2},
		{"%matplotlib inline\nprint(1)\n", 0},
		{"%matplotlib inline\nx = (1,\n 2)\n", 1},
		{"if x:\n    print(1)\n", 1},
		{"%time f()\n", 1},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%q", tc.src), func(t *testing.T) {
			if got := sanitizeRun(tc.src, sanitizeDefault).statements; got != tc.want {
				t.Errorf("statements = %d, want %d", got, tc.want)
			}
		})
	}
}

// `%time` runs its argument through IPython's input transformers, so it may be
// a shell escape or another magic: keeping that statement would put IPython
// syntax into the generated Python.
func TestSanitizeTimeMagicWithEscapeArgument(t *testing.T) {
	for _, src := range []string{"%time !ls\n", "%time %run other.py\n", "%time obj?\n"} {
		t.Run(src, func(t *testing.T) {
			got := sanitizeRun(src, sanitizeDefault).code
			if strings.ContainsAny(strings.SplitN(got, "#", 2)[0], "!%?") {
				t.Errorf("sanitize(%q) = %q: IPython syntax left in the code", src, got)
			}
		})
	}
}

// IPython runs `x = %time f()` as `x = f()` (timed): the assignment must
// survive like the statement of `%time x = f()` does.
func TestSanitizeAssignFromTimeMagicKeepsAssignment(t *testing.T) {
	got := sanitizeRun("x = %time f()\ny = x + 1\n", sanitizeDefault).code
	first, _, _ := strings.Cut(got, "\n")
	if !strings.HasPrefix(first, "x = f()") {
		t.Errorf("sanitize = %q: the assignment to x is lost, so `y = x + 1` fails", got)
	}
}

func TestSanitizeRequirements(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"pip magic with flags and quotes", "%pip install -q a==1 \"b>=2\"\n", []string{"a==1", "b>=2"}},
		{"shell pip with requirements file", "!pip install -r req.txt c\n", []string{"c"}},
		{"sys.executable pip", "!{sys.executable} -m pip install d\n", []string{"d"}},
		{"conda", "!conda install e\n", []string{"e"}},
		{"indented pip in a block", "if True:\n    %pip install f\n", []string{"f"}},
		{"several lines accumulate", "%pip install g\n!pip install h i\n", []string{"g", "h", "i"}},
		{"continuation lines", "!pip install j \\\n    k\n", []string{"j", "k"}},
		{"not an install", "!pip list\n%pip show x\n", nil},
		{"code mentioning pip install", "s = 'pip install nope'\n", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := sanitizeRun(tc.src, sanitizeDefault).requirements
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("requirements = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestPipInstall(t *testing.T) {
	tests := []struct {
		cmd    string
		want   []string
		wantOK bool
	}{
		{`pip install -q a==1 "b>=2"`, []string{"a==1", "b>=2"}, true},
		{"pip install -r req.txt c", []string{"c"}, true},
		{"pip install --requirement req.txt c2", []string{"c2"}, true},
		{"{sys.executable} -m pip install d", []string{"d"}, true},
		{"python -m pip install --upgrade 'x[y]>=1'", []string{"x[y]>=1"}, true},
		{"conda install e", []string{"e"}, true},
		{"conda install -c conda-forge -y e2", []string{"e2"}, true},
		{"mamba install f", []string{"f"}, true},
		{"pip3 install g", []string{"g"}, true},
		{"pip install -e . h", []string{"h"}, true},
		{"pip install --index-url https://example.invalid/simple i", []string{"i"}, true},
		{"pip install --extra-index-url https://example.invalid/simple i2", []string{"i2"}, true},
		{"pip install --index-url=https://example.invalid/simple j", []string{"j"}, true},
		{"pip install -t /tmp/x k", []string{"k"}, true},
		{"pip install l && echo done", []string{"l"}, true},
		{"pip install m || true", []string{"m"}, true},
		{"pip install n | tee log", []string{"n"}, true},
		{"pip install $PKG o", []string{"o"}, true},
		{"pip install {pkg} p", []string{"p"}, true},
		{"pip install ${PKG}", nil, true},
		{"pip install q \\\n  r", []string{"q", "r"}, true},
		{"pip install", nil, true},
		{"pip list", nil, false},
		{"pip uninstall -y s", nil, false},
		{"ls -la", nil, false},
		{"", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.cmd, func(t *testing.T) {
			got, ok := pipInstall(tc.cmd)
			if ok != tc.wantOK || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("pipInstall(%q) = %q, %v; want %q, %v", tc.cmd, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

// A Windows-edited notebook continues a shell line with backslash-CRLF; the
// backslash must not become a requirement.
func TestPipInstallCRLFContinuation(t *testing.T) {
	got, ok := pipInstall("pip install a \\\r\n  b")
	if !ok || !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf(`pipInstall("pip install a \\<CRLF> b") = %q, %v; want ["a" "b"], true`, got, ok)
	}
}

func TestMagicBodyAndFirstWord(t *testing.T) {
	tests := []struct {
		in, body, word string
	}{
		{"%pip install x", "pip install x", "%pip"},
		{"%%time", "time", "%time"},
		{"!ls -la", "ls -la", "%ls"},
		{"x = !ls", "ls", "%ls"},
		{"t = %timeit f()", "timeit f()", "%timeit"},
		{"%", "", "%"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := magicBody(tc.in); got != tc.body {
				t.Errorf("magicBody = %q, want %q", got, tc.body)
			}
			if got := firstWord(magicBody(tc.in)); got != tc.word {
				t.Errorf("firstWord = %q, want %q", got, tc.word)
			}
		})
	}
}

func TestIsCallStatement(t *testing.T) {
	tests := []struct {
		src  string
		want bool
	}{
		{"print(x)", true},
		{"print()", true},
		{"print(f(a)[0], {'k': [1]})", true},
		{"print(x)(y)", false},
		{"print(x) + 1", false},
		{"print", false},
		{"print[0]", false},
		{"x(print)", false},
		{"print(x); y", false},
	}
	for _, tc := range tests {
		t.Run(tc.src, func(t *testing.T) {
			sr := scanSource(tc.src)
			if got := isCallStatement(sr.lines[0].toks, "print"); got != tc.want {
				t.Errorf("isCallStatement(%q) = %v, want %v", tc.src, got, tc.want)
			}
		})
	}
}
