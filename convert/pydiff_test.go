package convert

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// python312 finds a CPython 3.12 for the differential test: NBPIPE_PYTHON312
// (make test sets it from scripts/python312.sh, which falls back to Pyodide's
// CPython 3.12 on Node, so the proof never skips there; one that is not 3.12
// fails the test), else one under pyenv, python3.12 on PATH or the venv's
// python, whichever first runs and is 3.12.
func python312(t testing.TB) string {
	t.Helper()
	var cands []string
	if p := os.Getenv("NBPIPE_PYTHON312"); p != "" {
		if !is312(p) {
			t.Fatalf("NBPIPE_PYTHON312=%s does not run as Python 3.12", p)
		}
		return p
	}
	home, _ := os.UserHomeDir()
	m, _ := filepath.Glob(filepath.Join(home, ".pyenv", "versions", "3.12*", "bin", "python3.12"))
	for i := len(m) - 1; i >= 0; i-- {
		cands = append(cands, m[i])
	}
	if p, err := exec.LookPath("python3.12"); err == nil {
		cands = append(cands, p)
	}
	if v := os.Getenv("NBPIPE_VENV"); v != "" {
		cands = append(cands, filepath.Join(v, "bin", "python"))
	}
	for _, c := range cands {
		if is312(c) {
			return c
		}
	}
	return ""
}

func is312(py string) bool {
	out, err := exec.Command(py, "-c", "import sys; print(sys.version_info[:2] == (3, 12))").Output()
	return err == nil && strings.TrimSpace(string(out)) == "True"
}

type verdict struct {
	OK   bool   `json:"ok"`
	Line int    `json:"line"`
	Msg  string `json:"msg"`
}

func cpythonVerdicts(t *testing.T, py string, srcs []string) []verdict {
	t.Helper()
	var in bytes.Buffer
	enc := json.NewEncoder(&in)
	for _, s := range srcs {
		_ = enc.Encode(map[string]string{"src": s})
	}
	cmd := exec.Command(py, filepath.Join("testdata", "pysyntax", "compile_verdicts.py"))
	cmd.Stdin = &in
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("compile_verdicts.py: %v\n%s", err, errb.String())
	}
	var vs []verdict
	sc := bufio.NewScanner(&out)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		var v verdict
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	if len(vs) != len(srcs) {
		t.Fatalf("%d verdicts for %d snippets", len(vs), len(srcs))
	}
	return vs
}

// mutationTokens are inserted by the mutator: Python 2 forms, keywords in
// the wrong place, brackets, quotes, indentation, 3.10-3.12 syntax.
var mutationTokens = []string{
	":", "(", ")", "[", "]", "{", "}", "=", "==", ":=", ",", "*", "**", ".", "lambda ", "lambda (a, b): a", "yield", "return",
	"await ", "async ", "\t", "    ", "\n", "'", "\"", "f'{x}'", "f'{", "}", "print ", "except E, e:", " <> ", "nonlocal x\n",
	"global x\n", "break\n", "continue\n", "0", "07", "1_", "1__0", "0x", "j", "\\", "\\\n", "#", "match x:\n    case [a, *rest]: pass\n",
	"type X[T] = list[T]\n", "def f[T](x: T) -> T: return x\n", "class", "def", "del ", "@", "not", "if", "else", "for", "in", "with",
	"try:\n    pass\n", "ur''", "`x`", "raise E, 'm'\n", "from __future__ import annotations\n", "*a = [1]\n", "f() = 3\n",
	"class = 3\n", "x = *a, *b\n", "(x := 1)", "f'{x!r:>{w}}'", "f\"{'a' + \"b\"}\"", "b'\\xff'", "r'\\'", "...", "->", "import *",
	"from . import (a,)\n", "[*a]", "{**d}", "None", "True", "__debug__", "$", "?", "!", "%", "%%time\n", "\r\n",
}

func mutate(r *rand.Rand, src string) string {
	lines := strings.SplitAfter(src, "\n")
	switch r.Intn(9) {
	case 0: // delete a character
		if len(src) > 0 {
			i := r.Intn(len(src))
			return src[:i] + src[i+1:]
		}
	case 1, 2, 3: // insert a token
		i := r.Intn(len(src) + 1)
		return src[:i] + mutationTokens[r.Intn(len(mutationTokens))] + src[i:]
	case 4: // swap two lines
		if len(lines) > 1 {
			i, j := r.Intn(len(lines)), r.Intn(len(lines))
			lines[i], lines[j] = lines[j], lines[i]
			return strings.Join(lines, "")
		}
	case 5: // indent a line
		i := r.Intn(len(lines))
		lines[i] = []string{" ", "    ", "\t"}[r.Intn(3)] + lines[i]
		return strings.Join(lines, "")
	case 6: // dedent a line
		i := r.Intn(len(lines))
		lines[i] = strings.TrimLeft(lines[i], " \t")
		return strings.Join(lines, "")
	case 7: // duplicate a line
		i := r.Intn(len(lines))
		lines = append(lines[:i+1], lines[i:]...)
		return strings.Join(lines, "")
	case 8: // replace a word
		f := strings.Fields(src)
		if len(f) > 0 {
			w := f[r.Intn(len(f))]
			return strings.Replace(src, w, mutationTokens[r.Intn(len(mutationTokens))], 1)
		}
	}
	return src + mutationTokens[r.Intn(len(mutationTokens))]
}

// differentialInputs: every code cell of the corpus and the probes, as
// written and as sanitized, the syntax probes, and mutations of all of them.
func differentialInputs(t *testing.T, nMutations int) []string {
	var cells []string
	add := func(src string) {
		cells = append(cells, src)
		sr := scanSource(src)
		if len(sr.issues) == 0 && sr.open == "" {
			s := sanitize(src, sr, sanitizeOptions{stripPrint: true, stripDisplay: true})
			if s.code != src {
				cells = append(cells, s.code)
			}
		}
	}
	var files []string
	if d := os.Getenv("NBPIPE_CORPUS"); d != "" {
		files, _ = filepath.Glob(filepath.Join(d, "*.ipynb"))
	} else {
		files, _ = filepath.Glob(filepath.Join("..", "..", "shared", "corpus", "notebooks", "*.ipynb"))
	}
	probes, _ := filepath.Glob(filepath.Join("testdata", "notebooks", "*.ipynb"))
	examples, _ := filepath.Glob(filepath.Join("..", "internal", "examples", "*.ipynb"))
	files = append(append(files, probes...), examples...)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		nb, err := ParseNotebook(f, data)
		if err != nil {
			continue
		}
		for _, c := range nb.Cells {
			if c.Type == "code" && strings.TrimSpace(c.Source) != "" {
				add(c.Source)
			}
		}
	}
	data, err := os.ReadFile(filepath.Join("testdata", "pysyntax", "probes.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range strings.Split(string(data), "\n----\n") {
		cells = append(cells, strings.TrimPrefix(p, "\n"))
	}
	seed := int64(7)
	if v, err := strconv.Atoi(os.Getenv("NBPIPE_DIFF_SEED")); err == nil {
		seed = int64(v)
	}
	r := rand.New(rand.NewSource(seed))
	base := len(cells)
	for i := 0; i < nMutations; i++ {
		src := cells[r.Intn(base)]
		if len(src) > 3000 {
			src = src[:3000]
		}
		for k := 1 + r.Intn(3); k > 0; k-- {
			src = mutate(r, src)
		}
		cells = append(cells, src)
	}
	return cells
}

// TestSyntaxAgainstCPython feeds every corpus and probe cell and mutations
// of them to compile() and to checkPython. nbpipe must never accept what
// CPython rejects; the agreement rate over all inputs is logged.
func TestSyntaxAgainstCPython(t *testing.T) {
	if os.Getenv("NBPIPE_VENV") == "" && os.Getenv("NBPIPE_PYTHON312") == "" {
		t.Skip("NBPIPE_VENV not set: the differential syntax test runs in the Python tier")
	}
	py := python312(t)
	if py == "" {
		t.Skip("no CPython 3.12 found (set NBPIPE_PYTHON312): the check follows 3.12's grammar")
	}
	n := 6000
	if v, err := strconv.Atoi(os.Getenv("NBPIPE_DIFF_N")); err == nil && v > 0 {
		n = v
	}
	srcs := differentialInputs(t, n)
	vs := cpythonVerdicts(t, py, srcs)
	agree, falseAccept, falseReject, sameLine, rejected := 0, 0, 0, 0, 0
	var worst []string
	for i, src := range srcs {
		err := checkPython(src)
		switch {
		case (err == nil) == vs[i].OK:
			agree++
			if err != nil {
				rejected++
				if err.line == vs[i].Line {
					sameLine++
				}
			}
		case err == nil:
			falseAccept++
			if len(worst) < 30 {
				worst = append(worst, "ACCEPTED, CPython: "+vs[i].Msg+" (line "+itoa(vs[i].Line)+")\n"+clip(src, 400))
			}
		default:
			falseReject++
			if os.Getenv("NBPIPE_DIFF_VERBOSE") != "" || falseReject <= 15 {
				t.Logf("rejected what CPython accepts: %v\n%s", err, clip(src, 300))
			}
		}
	}
	sort.Strings(worst)
	t.Logf("%d inputs (%d corpus/probe cells, %d mutations): agreement %.2f%% (%d), nbpipe accepted what CPython rejects: %d, rejected what it accepts: %d; same error line on %d of %d common rejections",
		len(srcs), len(srcs)-n, n, 100*float64(agree)/float64(len(srcs)), agree, falseAccept, falseReject, sameLine, rejected)
	if falseAccept > 0 {
		t.Fatalf("nbpipe accepted %d inputs CPython 3.12 rejects; first ones:\n%s", falseAccept, strings.Join(worst, "\n====\n"))
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// FuzzAgainstCPython is the differential fuzz target: with a CPython 3.12
// (NBPIPE_PYTHON312, pyenv or PATH) it asks compile() about every input
// and fails when nbpipe accepts what CPython rejects. Without one it only
// checks that the checker does not panic.
func FuzzAgainstCPython(f *testing.F) {
	data, _ := os.ReadFile(filepath.Join("testdata", "pysyntax", "probes.txt"))
	for _, p := range strings.Split(string(data), "\n----\n") {
		f.Add(p)
	}
	var oracle func(string) verdict
	if py := python312(f); py != "" && os.Getenv("NBPIPE_FUZZ_CPYTHON") != "" {
		cmd := exec.Command(py, filepath.Join("testdata", "pysyntax", "compile_verdicts.py"))
		in, _ := cmd.StdinPipe()
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			f.Fatal(err)
		}
		f.Cleanup(func() { in.Close(); _ = cmd.Wait() })
		rd := bufio.NewReader(out)
		enc := json.NewEncoder(in)
		oracle = func(src string) verdict {
			if err := enc.Encode(map[string]string{"src": src}); err != nil {
				f.Fatal(err)
			}
			line, err := rd.ReadBytes('\n')
			if err != nil {
				f.Fatal(err)
			}
			var v verdict
			if err := json.Unmarshal(line, &v); err != nil {
				f.Fatal(err)
			}
			return v
		}
	}
	f.Fuzz(func(t *testing.T, src string) {
		got := checkPython(src)
		if oracle == nil || strings.ContainsRune(src, 0) {
			return
		}
		if v := oracle(src); got == nil && !v.OK {
			t.Fatalf("nbpipe accepts what CPython 3.12 rejects (%s, line %d):\n%s", v.Msg, v.Line, src)
		}
	})
}

// TestPyodideFallbackAgrees: scripts/python312.sh's fallback for machines
// without a CPython 3.12 (Pyodide's CPython 3.12.7 on Node, from the npm
// registry) gives the same verdicts as the check, so the differential proof
// holds wherever make test runs.
func TestPyodideFallbackAgrees(t *testing.T) {
	if os.Getenv("NBPIPE_VENV") == "" {
		t.Skip("NBPIPE_VENV not set: runs in the Python tier")
	}
	cmd := exec.Command("bash", filepath.Join("..", "scripts", "python312.sh"))
	cmd.Env = append(os.Environ(), "NBPIPE_PYTHON312_PYODIDE=1")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scripts/python312.sh: %v", err)
	}
	py := strings.TrimSpace(string(out))
	if !is312(py) || !strings.Contains(py, "pyodide") {
		t.Fatalf("the fallback %q is not Pyodide's Python 3.12", py)
	}
	srcs := differentialInputs(t, 1000)
	vs := cpythonVerdicts(t, py, srcs)
	if len(vs) != len(srcs) {
		t.Fatalf("%d verdicts for %d inputs", len(vs), len(srcs))
	}
	differ := 0
	for i, src := range srcs {
		if err := checkPython(src); (err == nil) != vs[i].OK {
			differ++
			if differ <= 5 {
				t.Errorf("Pyodide: ok=%v %q; nbpipe: %v\n%s", vs[i].OK, vs[i].Msg, err, clip(src, 300))
			}
		}
	}
	t.Logf("%d inputs through Pyodide's CPython 3.12: %d disagreements", len(srcs), differ)
}
