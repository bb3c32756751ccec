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

// TestJupytextCellMagics: jupytext writes a %%sql (or %%bash, ...) cell of
// a Python notebook as a marker with language="sql" and magic_args, its
// body commented out; it is read back as the magic cell it was.
func TestJupytextCellMagics(t *testing.T) {
	src := "# ---\n# jupyter:\n#   kernelspec:\n#     name: python3\n#   language_info:\n#     name: python\n# ---\n\n" +
		"# %% language=\"sql\"\n#\n# CREATE DATABASE IF NOT EXISTS nyc\n\n" +
		"# %% magic_args=\"-o top -q\" language=\"sql\"\n# SELECT 1 AS one\n\n" +
		"# %% language=\"sh\"\n# ls /tmp\n\n" +
		"# %% language=\"python\"\nx = 1\n"
	nb, err := ParseJupytext("m.py", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range nb.Cells {
		got = append(got, c.Source)
	}
	want := []string{"%%sql\n\nCREATE DATABASE IF NOT EXISTS nyc", "%%sql -o top -q\nSELECT 1 AS one", "%%sh\nls /tmp", "x = 1"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("cells\n%q\nwant\n%q", got, want)
	}
	if nb.Kernel.Name != "python3" || nb.Kernel.Language != "python" {
		t.Errorf("kernel from the header: %+v", nb.Kernel)
	}
	if _, err := ParseJupytext("m.py", []byte("# %% language=sql\nx\n")); err == nil || !strings.Contains(err.Error(), "cell 1: language=sql is not a JSON string") {
		t.Errorf("an unquoted language: %v", err)
	}
}

func TestSniffJupytext(t *testing.T) {
	header := func(body string) string { return "# ---\n" + body + "# ---\n\n# %%\nx = 1\n" }
	for _, tc := range []struct {
		name, src   string
		want        Jupytext
		ipynbBeside bool
		notebook    bool
	}{
		{"plain module", "import os\n", Jupytext{}, false, false},
		{"editor cells only", "# %%\nx = 1\n", Jupytext{}, false, false},
		{"kernelspec header", header("# jupyter:\n#   kernelspec:\n#     name: python3\n"), Jupytext{Notebook: true}, false, true},
		{"percent, unpaired", header("# jupyter:\n#   jupytext:\n#     text_representation:\n#       format_name: percent\n"),
			Jupytext{Notebook: true, Format: "percent"}, true, true},
		{"paired, .ipynb there", header("# jupyter:\n#   jupytext:\n#     formats: ipynb,py:percent\n"),
			Jupytext{Notebook: true, PairedIpynb: true}, true, false},
		{"paired, .ipynb gone", header("# jupyter:\n#   jupytext:\n#     formats: ipynb,py:percent\n"),
			Jupytext{Notebook: true, PairedIpynb: true}, false, true},
		{"paired with a folder prefix", header("# jupyter:\n#   jupytext:\n#     formats: notebooks//ipynb,scripts//py:percent\n"),
			Jupytext{Notebook: true, PairedIpynb: true}, true, false},
		{"header without jupyter", header("# title: x\n"), Jupytext{}, false, false},
		{"unclosed header", "# ---\n# jupyter:\n#   kernelspec: {}\n", Jupytext{}, false, false},
		{"bad YAML", header("# jupyter: [\n"), Jupytext{}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := SniffJupytext([]byte(tc.src)); got != tc.want {
				t.Errorf("SniffJupytext = %+v, want %+v", got, tc.want)
			}
			if got := ScriptIsNotebook([]byte(tc.src), tc.ipynbBeside); got != tc.notebook {
				t.Errorf("ScriptIsNotebook = %v, want %v", got, tc.notebook)
			}
		})
	}
	if s := NotebookStem("a/b/etl.daily.py"); s != "etl.daily" {
		t.Errorf("NotebookStem = %q", s)
	}
	light := "# ---\n# jupyter:\n#   jupytext:\n#     text_representation:\n#       format_name: light\n# ---\n\nx = 1\n"
	if res := Convert("l.py", []byte(light), Options{}); !hasFinding(res, SevError, `the Jupytext header says the "light" format; nbpipe reads the percent format`) {
		t.Errorf("light format findings %v", res.Findings)
	}
}

// TestSynapseNotebooks: a notebook Synapse Studio saved (saveOutput or
// synapse_widget in its metadata, often no kernelspec) runs its cells in a
// Spark pool in the notebook's language, so Spark SQL cells convert; a SQL
// kernel elsewhere (Azure Data Studio's T-SQL) is still refused.
func TestSynapseNotebooks(t *testing.T) {
	nb := func(meta map[string]any, cells ...string) []byte {
		var cs []map[string]any
		for _, c := range cells {
			cs = append(cs, map[string]any{"cell_type": "code", "metadata": map[string]any{}, "source": c, "outputs": []any{}})
		}
		data, _ := json.Marshal(map[string]any{"nbformat": 4, "nbformat_minor": 2, "metadata": meta, "cells": cs})
		return data
	}
	sqlLang := map[string]any{"name": "sql"}
	for _, tc := range []struct {
		name   string
		data   []byte
		want   string // in the job file, or the error
		errors bool
	}{
		{"Spark SQL language", nb(map[string]any{"saveOutput": true, "language_info": sqlLang}, "SELECT 1 AS one"), `spark.sql("SELECT 1 AS one")`, false},
		{"Spark SQL, with the widget marker", nb(map[string]any{"synapse_widget": map[string]any{}, "language_info": map[string]any{"name": "sparksql"}}, "DROP TABLE IF EXISTS t"), `spark.sql("DROP TABLE IF EXISTS t")`, false},
		{"T-SQL kernel", nb(map[string]any{"kernelspec": map[string]any{"name": "SQL", "language": "sql"}, "language_info": sqlLang}, "select top 10 * from t"), "SQL of the kernel's own dialect", true},
		{"SQL without Synapse", nb(map[string]any{"language_info": sqlLang}, "SELECT 1"), "SQL of the kernel's own dialect", true},
		{"Synapse Python: %%spark is Scala", nb(map[string]any{"saveOutput": false, "language_info": map[string]any{"name": "python"}}, "x = 1", "%%spark\nval y = 2"), "x = 1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := LayerFromValues("t", map[string]any{"targets": []string{"pyfile"}})
			if err != nil {
				t.Fatal(err)
			}
			res := Convert("s.ipynb", tc.data, Options{Layers: []Layer{l}})
			if tc.errors {
				if res.Err() == nil || !hasFinding(res, SevError, tc.want) {
					t.Fatalf("want an error %q: %v", tc.want, res.Findings)
				}
				return
			}
			if err := res.Err(); err != nil {
				t.Fatal(err)
			}
			if job := string(res.Files[0].Content); !strings.Contains(job, tc.want) {
				t.Errorf("job file lacks %s:\n%s", tc.want, job)
			}
		})
	}
}

func taggedNotebook(meta map[string]any, cells ...map[string]any) []byte {
	md := map[string]any{}
	if meta != nil {
		md["nbpipe"] = meta
	}
	var cs []map[string]any
	for _, c := range cells {
		c["cell_type"] = "code"
		if c["metadata"] == nil {
			c["metadata"] = map[string]any{}
		}
		cs = append(cs, c)
	}
	data, _ := json.Marshal(map[string]any{"nbformat": 4, "nbformat_minor": 5, "metadata": md, "cells": cs})
	return data
}

func code(src string, tags ...string) map[string]any {
	return map[string]any{"source": src, "metadata": map[string]any{"tags": tags}}
}

func TestBatchModeTaskTagsWarn(t *testing.T) {
	data := taggedNotebook(map[string]any{"execution_timeout": "2h", "pool": "etl", "retries": 1},
		code("a = 1\n", "timeout:10m", "pool:first", "retries:5"), code("b = 2\n", "task:a", "after:a"), code("c = 3\n", "task:a"))
	res := Convert("b.ipynb", data, Options{})
	if err := res.Err(); err != nil {
		t.Fatal(err) // duplicate task: tags do not matter in batch mode
	}
	if !hasFinding(res, SevWarning, "cell 1: batch mode runs the notebook as one task, so the tags retries: (use retries), timeout: (use execution_timeout), pool: (use pool) have no effect") ||
		!hasFinding(res, SevWarning, "cell 2: batch mode runs the notebook as one task, so the tags after:") {
		t.Fatalf("findings %v", findings(res, SevWarning))
	}
	dag := string(res.Files[0].Content)
	for _, want := range []string{`"retries": 1,`, "execution_timeout=timedelta(seconds=7200),", `pool="etl",`, "max_active_runs=1,"} {
		if !strings.Contains(dag, want) {
			t.Errorf("DAG lacks %s", want)
		}
	}
	if strings.Contains(dag, `pool="first"`) || strings.Contains(dag, "seconds=600") {
		t.Error("a cell's tag applied to the batch task")
	}
	if got := res.Deploy.Pools; len(got) != 1 || got[0] != "etl" {
		t.Errorf("pools %v", got)
	}
}

func TestPerCellDefaultsAndDuplicates(t *testing.T) {
	data := taggedNotebook(map[string]any{"mode": "per_cell", "execution_timeout": "1h", "pool": "etl", "statement_timeout": "20m", "max_active_runs": 4},
		code("a = 1\n", "timeout:10m"), code("b = 2\n", "pool:small"))
	res := Convert("p.ipynb", data, Options{})
	dag := string(res.Files[0].Content)
	for _, want := range []string{"execution_timeout=timedelta(seconds=600),\n        pool=\"etl\"", "execution_timeout=timedelta(seconds=3600),\n        pool=\"small\"", "STATEMENT_TIMEOUT_SECONDS = 1200\n", "max_active_runs=4,"} {
		if !strings.Contains(dag, want) {
			t.Errorf("DAG lacks %q", want)
		}
	}
	res = Convert("p.ipynb", taggedNotebook(nil, code("a = 1\n")), Options{})
	if !strings.Contains(string(res.Files[0].Content), "STATEMENT_TIMEOUT_SECONDS = 21600\n") {
		t.Error("no default statement timeout")
	}
	// Duplicate task ids: the error names the duplicate, and no phantom cycle.
	data = taggedNotebook(map[string]any{"mode": "per_cell"}, code("a = 1\n", "task:load"), code("b = 2\n", "task:load"), code("c = 3\n", "after:load"))
	res = Convert("p.ipynb", data, Options{})
	errs := findings(res, SevError)
	if len(errs) != 1 || !strings.Contains(errs[0], `cell 2: duplicate task id "load": the task:load tag is already used by cell 1`) {
		t.Fatalf("errors %v", errs)
	}
	for _, bad := range []string{"execution_timeout: 0", "statement_timeout: 1.5s", "statement_timeout: soon", "max_active_runs: 0", "pool: \"a\\nb\""} {
		l, err := ParseLayer("t", []byte(bad))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Resolve(l); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestPipelineParamsMarker(t *testing.T) {
	src := "# @pipeline-params\nspark_image = \"img:1\"\ncron_expression = \"0 4 * * *\"\nregion = \"emea\"\n"
	res := Convert("m.ipynb", taggedNotebook(map[string]any{"targets": []string{"airflow", "ilum_cron"}}, code(src), code("x = region\n")), Options{})
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	d := res.Deploy
	if d.Config.SparkImage != "img:1" || d.Config.CronExpression != "0 4 * * *" || d.Config.Schedule == nil || *d.Config.Schedule != "0 4 * * *" {
		t.Fatalf("config %+v", d.Config)
	}
	if len(d.Params) != 1 || d.Params["region"] != "emea" {
		t.Fatalf("params %v", d.Params)
	}
	if c := d.Session["conf"].(map[string]any); c["spark.kubernetes.container.image"] != "img:1" {
		t.Fatalf("session %v", d.Session)
	}
	// The front matter wins over the parameters cell.
	res = Convert("m.ipynb", taggedNotebook(map[string]any{"spark_image": "fm:2", "schedule": "@daily"}, code(src)), Options{})
	if d := res.Deploy; d.Config.SparkImage != "fm:2" || *d.Config.Schedule != "@daily" {
		t.Fatalf("config %+v", d.Config)
	}
	if !hasFinding(res, SevNotice, "spark_image in the parameters cell ignored") {
		t.Fatalf("findings %v", res.Findings)
	}
	res = Convert("m.ipynb", taggedNotebook(nil, code("# @pipeline-params\ncron = \"every day\"\n")), Options{})
	if !hasFinding(res, SevWarning, "cron in the parameters cell is not a 5-field cron expression") {
		t.Fatalf("findings %v", res.Findings)
	}
}

func TestJupyterOnlyImports(t *testing.T) {
	res := Convert("j.ipynb", taggedNotebook(nil,
		code("from IPython.display import display, HTML\nimport ipywidgets as w\nimport IPython\nfrom pprint import pprint, pformat\nimport os, sparkmagic\nx = 1\n"),
		code("display(HTML('x'))\npprint(x)\ns = pformat(x)\nif x:\n    from autovizwidget.widget.utils import display_dataframe\n")), Options{})
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"cell 1, line 1: removed notebook-only import (nothing uses it): from IPython.display", "cell 1, line 2: removed notebook-only import", "cell 1, line 3: removed notebook-only import"} {
		if !hasFinding(res, SevNotice, want) {
			t.Errorf("no notice %q", want)
		}
	}
	if !hasFinding(res, SevWarning, "cell 1, line 4: kept the import of notebook-only module pprint because the code uses pformat") {
		t.Errorf("warnings %v", findings(res, SevWarning))
	}
	dag := string(res.Files[0].Content)
	if !strings.Contains(dag, "import os, sparkmagic") || !strings.Contains(dag, "if x:\n    pass  # nbpipe: removed notebook-only import") {
		t.Fatalf("DAG:\n%s", dag)
	}
	// A cell left with nothing is dropped, and the parameters cell index moves.
	res = Convert("j.ipynb", taggedNotebook(nil, code("import ipywidgets\n"), code("n = 1\n", "parameters"), code("m = n\n")), Options{})
	if !strings.Contains(string(res.Files[0].Content), "PARAMETERS_CELL = 0\n") || len(res.Deploy.Params) != 1 {
		t.Fatalf("%s", res.Files[0].Content)
	}
}

func TestSqlContextAndSessionName(t *testing.T) {
	res := Convert("s.ipynb", taggedNotebook(map[string]any{"targets": []string{"airflow", "pyfile"}},
		map[string]any{"source": "%%configure -f\n{\"name\": \"mine\"}\n"}, code("df = sqlContext.sql('SELECT 1')\n")), Options{})
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	if !hasFinding(res, SevNotice, "%%configure name: each Livy session gets the name with a unique suffix") {
		t.Fatalf("findings %v", res.Findings)
	}
	dag, job := string(res.Files[0].Content), string(res.Files[1].Content)
	if !strings.Contains(dag, `conf["name"] = f"{conf['name']}-{uuid.uuid4().hex[:12]}"`) {
		t.Error("the DAG does not make session names unique")
	}
	if !strings.Contains(job, `namespace["sqlContext"] = SQLContext(spark.sparkContext, spark)`) {
		t.Error("the job file does not define sqlContext")
	}
}

func TestRequirementsReachEveryTarget(t *testing.T) {
	res := Convert("r.ipynb", taggedNotebook(map[string]any{"targets": []string{"airflow", "pyfile", "ilum_service"}}, code("%pip install pandas==2.2.2\nx = 1\n")), Options{})
	if strings.Join(res.Requirements, ",") != "pandas==2.2.2" {
		t.Fatalf("requirements %v", res.Requirements)
	}
	dag, job := string(res.Files[0].Content), string(res.Files[1].Content)
	if !strings.Contains(dag, `REQUIREMENTS = ["pandas==2.2.2"]`) || !strings.Contains(dag, "_install_requirements(session_id)") {
		t.Error("the DAG does not install the requirements in the Livy session")
	}
	if !strings.Contains(job, "--install-requirements") || !strings.Contains(job, `REQUIREMENTS = ["pandas==2.2.2"]`) {
		t.Error("the job file cannot install its requirements")
	}
}

func TestOverrideWinsOverFrontMatter(t *testing.T) {
	flags, _ := LayerFromValues("command-line flags", map[string]any{"mode": "batch"})
	res := Convert("o.ipynb", taggedNotebook(map[string]any{"mode": "per_cell"}, code("x = 1\n")), Options{Override: []Layer{flags}})
	if res.Mode != "batch" || !hasFinding(res, SevNotice, "mode: per_cell from metadata.nbpipe overridden by command-line flags (batch)") {
		t.Fatalf("mode %s, findings %v", res.Mode, res.Findings)
	}
	res = Convert("o.ipynb", taggedNotebook(nil, code("x = 1\n")), Options{Override: []Layer{flags}})
	if hasFinding(res, SevNotice, "overridden") {
		t.Fatal("a notice without a notebook setting")
	}
}
