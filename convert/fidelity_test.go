package convert

import (
	"encoding/json"
	"strings"
	"testing"
)

// cellsNotebook builds a notebook from cell sources ("md:" starts a markdown
// cell) with the given kernel name and language.
func cellsNotebook(kernel, lang string, cells ...string) []byte {
	var cs []map[string]any
	for _, c := range cells {
		if md, ok := strings.CutPrefix(c, "md:"); ok {
			cs = append(cs, map[string]any{"cell_type": "markdown", "metadata": map[string]any{}, "source": md})
			continue
		}
		cs = append(cs, map[string]any{"cell_type": "code", "metadata": map[string]any{}, "source": c, "outputs": []any{}, "execution_count": nil})
	}
	md := map[string]any{}
	if kernel != "" || lang != "" {
		md["kernelspec"] = map[string]any{"name": kernel, "language": lang, "display_name": kernel}
	}
	data, _ := json.Marshal(map[string]any{"nbformat": 4, "nbformat_minor": 5, "metadata": md, "cells": cs})
	return data
}

func findings(res *Result, sev Severity) []string {
	var out []string
	for _, f := range res.Findings {
		if f.Severity == sev {
			out = append(out, f.String())
		}
	}
	return out
}

func hasFinding(res *Result, sev Severity, substr string) bool {
	for _, f := range findings(res, sev) {
		if strings.Contains(f, substr) {
			return true
		}
	}
	return false
}

func firstCode(t *testing.T, res *Result) string {
	t.Helper()
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Files {
		s := string(f.Content)
		i := strings.Index(s, `"code": """\`+"\n")
		if i >= 0 {
			s = s[i+len(`"code": """\`)+1:]
			return s[:strings.Index(s, `"""`)]
		}
	}
	t.Fatal("no code in the output")
	return ""
}

func TestPython2PrintStatementsRemoved(t *testing.T) {
	res := Convert("p.ipynb", cellsNotebook("python3", "python", "x = 1\nprint x\nprint >>sys.stderr, 'e'\nif x:\n    print 'y',\ny = x\n"), Options{})
	code := firstCode(t, res)
	if strings.Contains(code, "print x") || !strings.Contains(code, "if x:\n    pass  # nbpipe: removed Python 2 print statement") {
		t.Fatalf("code:\n%s", code)
	}
	if !hasFinding(res, SevNotice, "cell 1, line 2: removed Python 2 print statement: print x") {
		t.Fatalf("findings: %v", res.Findings)
	}
	// Without strip_print the statement cannot be kept: refused.
	res = Convert("p.ipynb", cellsNotebook("python3", "python", "---", "print x\n"), Options{})
	_ = res
	l, _ := LayerFromValues("t", map[string]any{"strip_print": false})
	res = Convert("p.ipynb", cellsNotebook("python3", "python", "print x\n"), Options{Layers: []Layer{l}})
	if res.Err() == nil || !hasFinding(res, SevError, "Python 2 print statement") {
		t.Fatalf("strip_print false: %v", res.Findings)
	}
}

func TestForeignKernelSQLCells(t *testing.T) {
	res := Convert("s.ipynb", cellsNotebook("sparkkernel", "", "%%sql\nSELECT 1", "%%local\nprint(1)", "%%pretty\ndf.show()"), Options{})
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(res.Files[0].Content), "SELECT 1") {
		t.Fatal("the SQL cell is not in the DAG")
	}
	res = Convert("s.ipynb", cellsNotebook("sparkkernel", "scala", "%%sql\nSELECT 1", "val x = 1"), Options{})
	if res.Err() == nil || !hasFinding(res, SevError, "cell 2: this cell is Scala") {
		t.Fatalf("a Scala cell converted: %v", res.Findings)
	}
	res = Convert("s.ipynb", cellsNotebook("ir", "R", "%%sql\nSELECT 1", "x <- 1"), Options{})
	if res.Err() == nil || !hasFinding(res, SevError, "this cell is R") {
		t.Fatalf("an R cell converted: %v", res.Findings)
	}
	res = Convert("s.ipynb", cellsNotebook("sparkkernel", "scala", "%%spark -l python\nx = 1", "%%spark -l scala\nval y = 2"), Options{})
	if !hasFinding(res, SevError, "cell 2: this cell is Scala") || hasFinding(res, SevError, "cell 1") {
		t.Fatalf("findings: %v", res.Findings)
	}
	res = Convert("s.ipynb", cellsNotebook("python2", "python", "x = 1"), Options{})
	if res.Err() == nil {
		t.Fatal("a Python 2 kernel converted")
	}
}

func TestOtherLivySessionsDropped(t *testing.T) {
	res := Convert("s.ipynb", cellsNotebook("python3", "python",
		"%spark add -s main -l python -u http://x\n%spark add -s sc -l scala -u http://x",
		"%%spark -s sc\nval a = 1",
		"%%spark -s main\nb = 2",
		"%%spark --session=other\nc = 3",
		"%%spark -s other -c sql\nSELECT 1",
		"%%spark\nd = 4",
	), Options{})
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"cell 2: dropped: %%spark -s sc runs in another Livy session (a scala session)", "cell 4: dropped: %%spark -s other", "cell 5: dropped: %%spark -s other"} {
		if !hasFinding(res, SevWarning, want) {
			t.Errorf("no warning %q in %v", want, findings(res, SevWarning))
		}
	}
	if len(res.Tasks) != 0 && res.Mode == "batch" {
		dag := string(res.Files[0].Content)
		if !strings.Contains(dag, "b = 2") || !strings.Contains(dag, "d = 4") || strings.Contains(dag, "c = 3") || strings.Contains(dag, "val a") {
			t.Fatalf("wrong cells exported:\n%s", dag)
		}
	}
}

func TestIndentedCellDedented(t *testing.T) {
	res := Convert("i.ipynb", cellsNotebook("python3", "python", "\n    x = 1\n    if x:\n        y = 2\n\n    z = 3\n"), Options{})
	if code := firstCode(t, res); code != "x = 1\nif x:\n    y = 2\n\nz = 3\n" {
		t.Fatalf("code %q", code)
	}
	res = Convert("i.ipynb", cellsNotebook("python3", "python", "\t%%time\n\tx = 1\n"), Options{})
	if code := firstCode(t, res); code != "x = 1\n" {
		t.Fatalf("code %q", code)
	}
}

func TestBarePipInstall(t *testing.T) {
	res := Convert("p.ipynb", cellsNotebook("python3", "python", "pip install pandas==2.2.2 'requests>=2'\nconda install -c conda-forge -y pyarrow\npip = 3\npip.install = 1\nx = pip\n"), Options{})
	code := firstCode(t, res)
	if !strings.HasPrefix(code, "# nbpipe: removed line magic %pip\n# nbpipe: removed line magic %conda\npip = 3\n") {
		t.Fatalf("code %q", code)
	}
	if strings.Join(res.Requirements, " ") != "pandas==2.2.2 pyarrow requests>=2" {
		t.Fatalf("requirements %v", res.Requirements)
	}
}

func TestJupytextPercent(t *testing.T) {
	src := "# ---\n# jupyter:\n#   kernelspec:\n#     language: python\n#     name: python3\n#   nbpipe:\n#     dag_id: jt\n# ---\n\n" +
		"import os\n\n# %% [markdown]\n# # Title\n# text\n\n# %% tags=[\"parameters\"]\nn = 1\n\n# %%\n# %%time\n# !ls\nm = n + 1\n\n# %% [raw]\n# raw\n"
	nb, err := ParseJupytext("jt.py", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range nb.Cells {
		got = append(got, c.Type+":"+c.Source+":"+strings.Join(c.Tags, ","))
	}
	want := []string{"code:import os:", "markdown:# Title\ntext:", "code:n = 1:parameters", "code:%%time\n!ls\nm = n + 1:", "raw:raw:"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("cells\n%q\nwant\n%q", got, want)
	}
	res := Convert("jt.py", []byte(src), Options{})
	if err := res.Err(); err != nil || res.DagID != "jt" {
		t.Fatalf("%v %s", err, res.DagID)
	}
	if _, err := ParseJupytext("x.py", []byte("import os\nprint(1)\n")); err == nil {
		t.Fatal("a plain script parsed as a notebook")
	}
	res = Convert("x.py", []byte("x = 1\n"), Options{})
	if res.Err() == nil || !hasFinding(res, SevError, "Jupytext") {
		t.Fatalf("%v", res.Findings)
	}
}
