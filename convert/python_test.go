package convert_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nbpipe/nbpipe/convert"
	"github.com/nbpipe/nbpipe/internal/livytest"
)

// The Python tier runs generated files through the real tools: an Airflow 3
// DagBag, ruff, black, Python's compiler and PySpark in local mode. The
// virtualenv comes from scripts/pyenv.sh (make test sets NBPIPE_VENV). Without
// it these tests skip, except in CI, where they must run.

func venv(t *testing.T) string {
	t.Helper()
	v := os.Getenv("NBPIPE_VENV")
	if v == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("NBPIPE_VENV is not set in CI: run `make test`, which installs the Python tier")
		}
		t.Skip("NBPIPE_VENV not set: run `make test` for the Python tier (real Airflow, ruff, black, PySpark)")
	}
	if _, err := os.Stat(filepath.Join(v, "bin", "python")); err != nil {
		t.Fatalf("NBPIPE_VENV=%s has no bin/python: %v", v, err)
	}
	return v
}

func script(name string) string { return filepath.Join("..", "scripts", name) }

func runPython(t *testing.T, v string, timeout time.Duration, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(v, "bin", "python"), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		t.Fatalf("%v timed out after %s\n%s", args, timeout, errb.String())
	}
	return out.String(), errb.String(), err
}

type checkSummary struct {
	Dags    int      `json:"dags"`
	DagIDs  []string `json:"dag_ids"`
	Files   int      `json:"files"`
	Cells   int      `json:"cells"`
	Errors  []any    `json:"errors"`
	Details []struct {
		DagID  string         `json:"dag_id"`
		Params map[string]any `json:"params"`
		Tasks  []struct {
			TaskID           string   `json:"task_id"`
			Upstream         []string `json:"upstream"`
			Retries          int      `json:"retries"`
			ExecutionTimeout *float64 `json:"execution_timeout"`
			Pool             string   `json:"pool"`
			TriggerRule      string   `json:"trigger_rule"`
			IsTeardown       bool     `json:"is_teardown"`
		} `json:"tasks"`
	} `json:"dag_details"`
}

// convertInto converts notebooks with every target into dir, in one mode or
// ("") each notebook's own, and returns the DAG ids that converted.
func convertInto(t *testing.T, dir, mode string, nbs []namedNotebook) []string {
	t.Helper()
	settings := map[string]any{"targets": []string{"airflow", "pyfile", "ilum_service"}}
	if mode != "" { // "": each notebook's own mode
		settings["mode"] = mode
	}
	layer, err := convert.LayerFromValues("test", settings)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, nb := range nbs {
		res := convert.Convert(nb.name, nb.data, convert.Options{Source: goldenSource, Layers: []convert.Layer{layer}})
		if res.Err() != nil {
			continue
		}
		ids = append(ids, res.DagID)
		writeOutputs(t, dir, res)
	}
	return ids
}

// writeOutputs writes a result's files under dir.
func writeOutputs(t *testing.T, dir string, res *convert.Result) {
	t.Helper()
	for _, f := range res.Files {
		dst := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, f.Content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func checkOutputs(t *testing.T, v, dir string) checkSummary {
	t.Helper()
	stdout, stderr, err := runPython(t, v, 15*time.Minute, script("check_outputs.py"), dir, "--json-dags")
	var sum checkSummary
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if jerr := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); jerr != nil {
		t.Fatalf("check_outputs.py printed no summary (%v): %v\nstderr:\n%s", err, jerr, tail(stderr, 60))
	}
	if err != nil || len(sum.Errors) > 0 {
		t.Fatalf("check_outputs.py failed (%v): %d errors:\n%v\nstderr:\n%s", err, len(sum.Errors), sum.Errors, tail(stderr, 40))
	}
	return sum
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestRealAirflowRuffBlack converts every convertible corpus notebook and every
// project notebook in both modes and proves the output in the real tools.
func TestRealAirflowRuffBlack(t *testing.T) {
	v := venv(t)
	var nbs []namedNotebook
	nbs = append(nbs, projectNotebooks(t)...)
	nbs = append(nbs, readCorpus(t)...)
	for _, mode := range []string{"batch", "per_cell"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			ids := convertInto(t, dir, mode, nbs)
			if len(ids) < 30 {
				t.Fatalf("only %d notebooks converted", len(ids))
			}
			sum := checkOutputs(t, v, dir)
			if sum.Dags != len(ids) {
				t.Fatalf("Airflow loaded %d DAGs from %d converted notebooks", sum.Dags, len(ids))
			}
			if sum.Files != 3*len(ids) {
				t.Fatalf("checked %d files, want %d (3 targets per notebook)", sum.Files, 3*len(ids))
			}
			slices.Sort(ids)
			got := append([]string{}, sum.DagIDs...)
			slices.Sort(got)
			if !slices.Equal(ids, got) {
				t.Fatalf("DAG ids in Airflow %v, converted %v", got, ids)
			}
			t.Logf("%s: %d DAGs imported, %d files pass ruff and black, %d cells compile", mode, sum.Dags, sum.Files, sum.Cells)
		})
	}
}

// TestRealAirflowDAGShape checks, in the DagBag, what the examples' tags mean.
func TestRealAirflowDAGShape(t *testing.T) {
	v := venv(t)
	dir := t.TempDir()
	var nbs []namedNotebook
	nbs = append(nbs, projectNotebooks(t)...)
	for _, nb := range nbs {
		writeOutputs(t, dir, convert.Convert(nb.name, nb.data, convert.Options{Source: goldenSource}))
	}
	sum := checkOutputs(t, v, dir)
	type taskWant struct {
		upstream    []string
		retries     int
		timeout     float64
		pool, rule  string
		is_teardown bool
	}
	want := map[string]map[string]taskWant{
		"sales_report": {
			"open_session":  {retries: 3},
			"cell_0":        {upstream: []string{"open_session"}, retries: 3},
			"load_orders":   {upstream: []string{"cell_0"}, retries: 1},
			"filter_orders": {upstream: []string{"load_orders"}, retries: 3},
			"aggregate":     {upstream: []string{"filter_orders"}, retries: 3, timeout: 600},
			"check_totals":  {upstream: []string{"aggregate"}, retries: 3},
			"close_session": {upstream: []string{"check_totals", "open_session"}, retries: 3, is_teardown: true},
		},
		"fan_out_fan_in": {
			"open_session":  {retries: 3},
			"extract":       {upstream: []string{"open_session"}, retries: 3},
			"evens":         {upstream: []string{"extract"}, retries: 3, pool: "small"},
			"odds":          {upstream: []string{"extract"}, retries: 3, rule: "all_success"},
			"join":          {upstream: []string{"evens", "odds"}, retries: 2, timeout: 300},
			"close_session": {upstream: []string{"join", "open_session"}, retries: 3, is_teardown: true},
		},
		// word_count sets retries: 0 in its front matter.
		"word_count":         {"run_notebook": {retries: 0}},
		"batch.tags-example": {"run_notebook": {retries: 4, timeout: 3600, pool: "etl"}},
	}
	seen := 0
	for _, d := range sum.Details {
		tasks, ok := want[d.DagID]
		if !ok {
			continue
		}
		seen++
		if len(d.Tasks) != len(tasks) {
			t.Errorf("%s: %d tasks in Airflow, want %d", d.DagID, len(d.Tasks), len(tasks))
		}
		for _, task := range d.Tasks {
			w, ok := tasks[task.TaskID]
			if !ok {
				t.Errorf("%s: unexpected task %s", d.DagID, task.TaskID)
				continue
			}
			up := append([]string{}, task.Upstream...)
			slices.Sort(up)
			wu := append([]string{}, w.upstream...)
			slices.Sort(wu)
			if !slices.Equal(up, wu) {
				t.Errorf("%s.%s: upstream %v, want %v", d.DagID, task.TaskID, up, wu)
			}
			if task.Retries != w.retries {
				t.Errorf("%s.%s: retries %d, want %d", d.DagID, task.TaskID, task.Retries, w.retries)
			}
			var timeout float64
			if task.ExecutionTimeout != nil {
				timeout = *task.ExecutionTimeout
			}
			if timeout != w.timeout {
				t.Errorf("%s.%s: execution_timeout %v, want %v", d.DagID, task.TaskID, timeout, w.timeout)
			}
			if w.pool != "" && task.Pool != w.pool {
				t.Errorf("%s.%s: pool %q, want %q", d.DagID, task.TaskID, task.Pool, w.pool)
			}
			if w.rule != "" && task.TriggerRule != w.rule {
				t.Errorf("%s.%s: trigger_rule %q, want %q", d.DagID, task.TaskID, task.TriggerRule, w.rule)
			}
			if task.IsTeardown != w.is_teardown {
				t.Errorf("%s.%s: is_teardown %v, want %v", d.DagID, task.TaskID, task.IsTeardown, w.is_teardown)
			}
		}
		if d.DagID == "sales_report" {
			if d.Params["region"] != "emea" || d.Params["min_amount"] != float64(10) {
				t.Errorf("sales_report params %v, want region=emea, min_amount=10", d.Params)
			}
		}
	}
	if seen != len(want) {
		t.Fatalf("found %d of the %d DAGs to check in %v", seen, len(want), sum.DagIDs)
	}
}

// TestJobFilesRunInPySpark runs the examples' job files and service classes to
// completion under real PySpark; their cells assert on their own results.
func TestJobFilesRunInPySpark(t *testing.T) {
	v := venv(t)
	dir := t.TempDir()
	var nbs []namedNotebook
	for _, nb := range projectNotebooks(t) {
		if nb.name == "injection.ipynb" || nb.name == "batch_tags.ipynb" {
			continue // not jobs meant to run: one checks escaping, one pip-installs
		}
		nbs = append(nbs, nb)
	}
	ids := convertInto(t, dir, "batch", nbs)
	params := map[string][]string{"sales_report": {"--region", "amer"}}
	config := map[string]string{"sales_report": `{"region": "amer", "min_amount": "10"}`}
	for _, id := range ids {
		t.Run(id+"/pyfile", func(t *testing.T) {
			args := append([]string{script("run_spark.py"), "pyfile", filepath.Join(dir, "spark", id+".py"), "--"}, params[id]...)
			if _, stderr, err := runPython(t, v, 10*time.Minute, args...); err != nil {
				t.Fatalf("job file failed: %v\n%s", err, tail(stderr, 40))
			}
		})
		for _, shim := range []bool{false, true} {
			name := id + "/service-ilum-job-api"
			if shim {
				name = id + "/service-shim"
			}
			t.Run(name, func(t *testing.T) {
				cfg := config[id]
				if cfg == "" {
					cfg = "{}"
				}
				args := []string{script("run_spark.py"), "service", filepath.Join(dir, "ilum", id+"_service.py"), "--class", convert.ServiceClassName(id), "--config", cfg}
				if shim {
					args = append(args, "--no-ilum")
				}
				stdout, stderr, err := runPython(t, v, 10*time.Minute, args...)
				if err != nil {
					t.Fatalf("service failed: %v\n%s", err, tail(stderr, 40))
				}
				if !strings.Contains(stdout, `"status": "ok"`) {
					t.Fatalf("service result %q has no ok status", stdout)
				}
			})
		}
	}
	t.Run("failing cell fails the job", func(t *testing.T) {
		args := []string{script("run_spark.py"), "pyfile", filepath.Join(dir, "spark", "sales_report.py"), "--", "--region", "nowhere"}
		stdout, stderr, err := runPython(t, v, 10*time.Minute, args...)
		if err == nil {
			t.Fatal("a job whose cell raises exited 0")
		}
		// spark-submit sends the Python traceback to stdout.
		if out := stdout + stderr; !strings.Contains(out, `File "<notebook cell 7>"`) || !strings.Contains(out, "KeyError: 'nowhere'") {
			t.Fatalf("the traceback does not name the notebook cell and the error:\n%s", tail(out, 30))
		}
	})
}

// TestDAGRunsInRealAirflowAgainstLivyContractStandIn runs the examples' DAGs
// with Airflow's dag.test(): real Airflow, real LivyHook, real PySpark. The
// HTTP peer is scripts/livy_contract.py, which serves Livy's documented REST
// contract and executes each statement in a local SparkSession, so the test
// can also check every request the DAG sent.
func TestDAGRunsInRealAirflowAgainstLivyContractStandIn(t *testing.T) {
	dagRuns(t, venv(t), "")
}

// TestDAGRunsInRealAirflowAgainstLivyServer runs the same DAGs against an
// Apache Livy 0.7.1 server (the newest on Maven Central) that scripts/livy.sh
// assembles with PySpark 3.5. Maven Central has no livy-repl jar, so the
// session's statement runner is nbpipe's own (scripts/livy/); the server, its
// REST API, session states and spark-submit launch are Livy's.
func TestDAGRunsInRealAirflowAgainstLivyServer(t *testing.T) {
	v := venv(t)
	// A server of this test's own (state in a t.TempDir(), its own ports),
	// stopped with its Spark drivers when the test ends.
	dagRuns(t, v, livytest.Start(t))
}

// dagRuns converts the project's notebooks and runs the examples' DAGs
// against the stand-in (livyURL "") or a Livy server.
func dagRuns(t *testing.T, v, livyURL string) {
	dir := t.TempDir()
	ids := convertInto(t, dir, "", projectNotebooks(t))
	if len(ids) == 0 {
		t.Fatal("nothing converted")
	}
	type request struct {
		Method       string         `json:"method"`
		Path         string         `json:"path"`
		XRequestedBy string         `json:"x_requested_by"`
		Body         map[string]any `json:"body"`
	}
	type outcome struct {
		RunState    string            `json:"run_state"`
		TaskStates  map[string]string `json:"task_states"`
		Sessions    map[string]string `json:"sessions"`
		SessionConf []map[string]any  `json:"session_conf"`
		Requests    []request         `json:"requests"`
	}
	standIn := livyURL == ""
	run := func(t *testing.T, dagID, conf, expect string, env ...string) (outcome, string) {
		cmd := exec.Command(filepath.Join(v, "bin", "python"), script("livy_contract.py"), filepath.Join(dir, "dags", dagID+".py"), dagID, conf, expect)
		cmd.Env = append(append(os.Environ(), "NBPIPE_LIVY_URL="+livyURL), env...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var o outcome
		for _, line := range strings.Split(stdout.String(), "\n") {
			if strings.HasPrefix(line, `{"run_state"`) {
				if jerr := json.Unmarshal([]byte(line), &o); jerr != nil {
					t.Fatal(jerr)
				}
			}
		}
		if err != nil || o.RunState == "" {
			t.Fatalf("run of %s did not end %s with every session deleted (%v): %+v\n%s", dagID, expect, err, o, tail(stderr.String(), 40))
		}
		for _, r := range o.Requests {
			if r.XRequestedBy != "nbpipe" {
				t.Errorf("%s %s without X-Requested-By (Livy's CSRF header)", r.Method, r.Path)
			}
		}
		return o, stderr.String()
	}
	statements := func(o outcome) []string {
		var out []string
		for _, r := range o.Requests {
			if r.Method == "POST" && strings.HasSuffix(r.Path, "/statements") {
				out = append(out, r.Body["code"].(string))
			}
		}
		return out
	}
	t.Run("per_cell run with trigger conf", func(t *testing.T) {
		o, _ := run(t, "sales_report", `{"region": "amer"}`, "success")
		if len(o.TaskStates) != 7 {
			t.Fatalf("task states %v", o.TaskStates)
		}
		for task, st := range o.TaskStates {
			if st != "success" {
				t.Errorf("task %s ended %s", task, st)
			}
		}
		// The session's first statement installs the notebook's %pip
		// requirements (tabulate); then one statement per cell.
		st := statements(o)
		if standIn && (len(st) == 0 || !strings.Contains(st[0], "'pip', 'install'") || !strings.Contains(st[0], "tabulate==0.9.0")) {
			t.Fatalf("the session does not install the requirements first: %q", st)
		}
		if standIn {
			st = st[1:]
		}
		if standIn && (len(st) != 5 || !strings.Contains(st[0], "region = 'amer'\nmin_amount = 10\n")) {
			t.Fatalf("the parameters cell's statement does not apply the run's params: %q", st)
		}
	})
	t.Run("per_cell failing cell fails the run, the teardown closes the session", func(t *testing.T) {
		o, logs := run(t, "sales_report", `{"region": "nowhere"}`, "failed")
		if o.TaskStates["check_totals"] != "failed" || o.TaskStates["close_session"] != "success" {
			t.Fatalf("task states %v", o.TaskStates)
		}
		if !strings.Contains(logs, "KeyError") || !strings.Contains(logs, "nowhere") {
			t.Fatalf("the remote traceback is not in the task log:\n%s", tail(logs, 30))
		}
	})
	t.Run("batch run with %%configure settings", func(t *testing.T) {
		o, _ := run(t, "word_count", `{}`, "success")
		if o.TaskStates["run_notebook"] != "success" {
			t.Fatalf("task states %v", o.TaskStates)
		}
		if !standIn {
			return // the server accepted the session body; the stand-in shows it
		}
		if len(o.SessionConf) != 1 || o.SessionConf[0]["driverMemory"] != "1g" || o.SessionConf[0]["kind"] != "pyspark" {
			t.Fatalf("session settings %v, want the %%%%configure values", o.SessionConf)
		}
		if len(statements(o)) != 3 {
			t.Fatalf("want 3 statements (two cells and the %%%%sql cell), got %d", len(statements(o)))
		}
	})
	t.Run("fan-out and fan-in", func(t *testing.T) {
		o, _ := run(t, "fan_out_fan_in", `{}`, "success")
		if len(o.TaskStates) != 6 {
			t.Fatalf("task states %v", o.TaskStates)
		}
	})
	if standIn {
		// Livy has answered "available" with no output yet (seen once under
		// load): the DAG reads the statement again instead of failing.
		t.Run("statement output reported late", func(t *testing.T) {
			o, _ := run(t, "fan_out_fan_in", `{}`, "success", "NBPIPE_LIVY_LATE_OUTPUT=2")
			gets := map[string]int{}
			for _, r := range o.Requests {
				if r.Method == "GET" && strings.Contains(r.Path, "/statements/") {
					gets[r.Path]++
				}
			}
			if len(gets) == 0 {
				t.Fatal("no statement was read")
			}
			for p, n := range gets {
				if n < 3 {
					t.Errorf("%s read %d times; the stand-in withholds the output twice", p, n)
				}
			}
		})
	}
}

// TestGoldenFilesPassRealTools proves the committed golden files themselves
// in Airflow, ruff, black and Python's compiler.
func TestGoldenFilesPassRealTools(t *testing.T) {
	v := venv(t)
	dir := t.TempDir()
	goldens, err := filepath.Glob(filepath.Join("testdata", "golden", "*", "*", "*.py"))
	if err != nil || len(goldens) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	dags := 0
	for _, g := range goldens {
		kind := filepath.Base(filepath.Dir(g)) // dags, spark or ilum
		data, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, kind, filepath.Base(g))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if kind == "dags" {
			dags++
		}
	}
	sum := checkOutputs(t, v, dir)
	if sum.Dags != dags || sum.Files != len(goldens) {
		t.Fatalf("checked %d DAGs and %d files, want %d and %d", sum.Dags, sum.Files, dags, len(goldens))
	}
}
