package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nbpipe/nbpipe/internal/airflowtest"
	"github.com/nbpipe/nbpipe/internal/gittest"
	"github.com/nbpipe/nbpipe/internal/livytest"
	"github.com/nbpipe/nbpipe/webhook"
)

// loopEnv is the whole loop, all real: Gitea (source and DAG repositories,
// webhooks, commit statuses), nbpipe serve in this process, Airflow 3.3
// (api-server, scheduler, dag-processor) whose GitDagBundle follows the DAG
// repository on Gitea, and an Apache Livy server running PySpark.
type loopEnv struct {
	t       *testing.T
	g       *giteaInstance
	af      airflowtest.Instance
	livy    string
	l       net.Listener
	work    string
	base    Config
	stopSrv func()
	logs    *syncBuffer
}

func newLoopEnv(t *testing.T) *loopEnv {
	needE2E(t)
	venv := airflowtest.NeedVenv(t)
	e := &loopEnv{t: t, logs: &syncBuffer{}}
	e.g = startGitea(t)
	e.g.createRepo("notebooks")
	e.g.createRepo("dags")
	// The DAG repository already holds a DAG of the platform team's, as
	// most do: Airflow knows a file of the bundle, so nbpipe can nudge it
	// from the first push. (The first DAG of an empty bundle waits for the
	// refresh interval; publish/airflow's TestRealAirflowEmptyBundle covers
	// that.)
	dags := t.TempDir()
	gittest.Run(t, "", "git", "clone", "-q", e.g.withAuth(e.g.URL+"/nbpipe/dags.git"), dags)
	gittest.Commit(t, dags, "platform DAG", map[string]string{"platform/healthcheck.py": "from airflow.sdk import DAG\n" +
		"from airflow.providers.standard.operators.empty import EmptyOperator\n\n" +
		"with DAG(\"platform_healthcheck\", schedule=None):\n    EmptyOperator(task_id=\"ok\")\n"})
	gittest.Run(t, dags, "git", "push", "-q", "origin", "main")
	e.livy = livytest.Start(t)
	// The bundle's own refresh is 300 s, Airflow's default: nbpipe must not
	// wait for it (only the very first DAG of the empty bundle does).
	policy, err := filepath.Abs(filepath.Join("testdata", "airflow_local_settings.py"))
	if err != nil {
		t.Fatal(err)
	}
	e.af = airflowtest.Start(t, venv, e.g.URL+"/nbpipe/dags.git", "300",
		"AIRFLOW_CONN_LIVY_E2E="+strings.Replace(e.livy, "http://", "livy://", 1),
		"NBPIPE_AIRFLOW_LOCAL_SETTINGS="+policy)
	if e.l, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	cfg := defaults()
	cfg.GiteaSecret = testSecret
	cfg.StateDir = t.TempDir()
	cfg.TargetURL = e.g.URL + "/nbpipe/dags.git"
	cfg.TargetToken, cfg.GiteaURL, cfg.GiteaToken = e.g.Token, e.g.URL, e.g.Token
	cfg.Sources = []SourceRule{{Repo: "nbpipe/notebooks", CloneURL: e.g.URL + "/{repo}.git", TargetDir: "{name}"}}
	cfg.Convert = map[string]any{"livy_conn_id": "livy_e2e"}
	cfg.Airflow.URL, cfg.Airflow.Bundle = e.af.URL, e.af.Bundle
	cfg.Airflow.LoadTimeout, cfg.Airflow.RunTimeout = 6*time.Minute, 5*time.Minute
	e.base = cfg
	e.g.hook("nbpipe/notebooks", "http://"+e.l.Addr().String()+"/webhook", testSecret)
	e.work = t.TempDir()
	gittest.Run(t, "", "git", "clone", "-q", e.g.withAuth(e.g.URL+"/nbpipe/notebooks.git"), e.work)
	t.Cleanup(func() {
		if e.stopSrv != nil {
			e.stopSrv()
		}
		if t.Failed() {
			t.Logf("nbpipe logs:\n%s", tailLines(e.logs.String(), 80))
		}
	})
	return e
}

// serve (re)starts nbpipe on the same listener address and state with cfg.
func (e *loopEnv) serve(cfg Config) {
	e.t.Helper()
	if e.stopSrv != nil {
		e.stopSrv()
		l, err := net.Listen("tcp", e.l.Addr().String())
		if err != nil {
			e.t.Fatal(err)
		}
		e.l = l
	}
	if err := cfg.validate(); err != nil {
		e.t.Fatal(err)
	}
	srv, err := New(cfg, slog.New(slog.NewTextHandler(e.logs, nil)))
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	l := e.l
	go func() { done <- srv.Serve(ctx, l) }()
	e.stopSrv = func() { cancel(); <-done; e.stopSrv = nil }
}

func (e *loopEnv) push(msg string, files map[string]string) string {
	sha := gittest.Commit(e.t, e.work, msg, files)
	gittest.Run(e.t, e.work, "git", "push", "-q", "origin", "main")
	return sha
}

// airflowGet calls Airflow's REST API with a password token.
func (e *loopEnv) airflowGet(path string) (int, map[string]any) {
	tokBody, _ := json.Marshal(map[string]string{"username": e.af.User, "password": e.af.Password})
	resp, err := http.Post(e.af.URL+"/auth/token", "application/json", bytes.NewReader(tokBody))
	if err != nil {
		e.t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	req, _ := http.NewRequest("GET", e.af.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	out := map[string]any{}
	_ = json.Unmarshal(data, &out)
	return resp.StatusCode, out
}

func (e *loopEnv) runCount(dagID string) int {
	code, body := e.airflowGet("/api/v2/dags/" + dagID + "/dagRuns")
	if code != 200 {
		return 0
	}
	n, _ := body["total_entries"].(float64)
	return int(n)
}

func meta(settings map[string]any, cells ...map[string]any) string {
	cs := make([]any, len(cells))
	for i, c := range cells {
		cs[i] = c
	}
	data, _ := json.Marshal(map[string]any{"nbformat": 4, "nbformat_minor": 5,
		"metadata": map[string]any{"kernelspec": map[string]any{"name": "python3", "language": "python"}, "nbpipe": settings},
		"cells":    cs})
	return string(data)
}

func cell(src string, tags ...string) map[string]any {
	if tags == nil {
		tags = []string{}
	}
	return map[string]any{"cell_type": "code", "metadata": map[string]any{"tags": tags}, "source": src}
}

// TestWholeLoopOnRealGiteaAirflowAndLivy: notebooks pushed to Gitea become
// DAGs that a real Airflow loads through Git, nbpipe unpauses and triggers
// them, they run on Spark through a real Livy server, and each run's outcome
// is a commit status on the source commit.
func TestWholeLoopOnRealGiteaAirflowAndLivy(t *testing.T) {
	e := newLoopEnv(t)
	cfg := e.base
	cfg.Airflow.JWTSecret = e.af.JWTSecret
	e.serve(cfg)

	first := e.push("notebooks", map[string]string{
		// Runs on Spark through Livy, one task per cell, one of them in a
		// pool Airflow does not have yet.
		"good.ipynb": meta(map[string]any{"trigger": true, "wait": true, "mode": "per_cell", "retries": 0},
			cell("n = 7\n", "parameters"),
			cell("df = spark.range(n)\n", "task:load"),
			cell("assert df.count() == n, df.count()\nprint('counted', df.count())\n", "task:check", "pool:e2e_pool")),
		// Fails on Spark: the status names the task and the error.
		"bad.ipynb": meta(map[string]any{"trigger": true, "wait": true, "retries": 0},
			cell("raise ValueError('boom from the notebook')\n")),
		// Converts, but Airflow refuses to import it (the cluster's policy
		// refuses its tag): a failure status with Airflow's error, no run.
		"broken_import.ipynb": meta(map[string]any{"trigger": true, "wait": true, "tags": []string{"unreviewed"}},
			cell("x = 1\n")),
		// Not asked to trigger: published, nothing else.
		"plain.ipynb": meta(map[string]any{}, cell("y = 2\n")),
	})
	st := e.g.waitFinal("nbpipe/notebooks", first, "nbpipe", 2*time.Minute)
	if st.Status != "success" || !strings.Contains(st.Description, "4 notebook(s) converted, 0 failed") {
		t.Fatalf("publish status: %+v", st)
	}
	// Restart nbpipe while it waits for good's run: the deployment resumes
	// from the durable queue and waits for the same run.
	for deadline := time.Now().Add(6 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		if s := e.g.statuses("nbpipe/notebooks", first)["nbpipe/airflow/good"]; strings.Contains(s.Description, "queued") || s.Status == "success" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("good's run was never queued: %+v", e.g.statuses("nbpipe/notebooks", first))
		}
	}
	e.serve(cfg)
	good := e.g.waitFinal("nbpipe/notebooks", first, "nbpipe/airflow/good", 8*time.Minute)
	if good.Status != "success" || !strings.Contains(good.TargetURL, "/dags/good/runs/nbpipe__"+first[:12]) {
		t.Fatalf("good: %+v", good)
	}
	bad := e.g.waitFinal("nbpipe/notebooks", first, "nbpipe/airflow/bad", 4*time.Minute)
	if bad.Status != "failure" || !strings.Contains(bad.Description, "run_notebook") || !strings.Contains(bad.Description+e.logs.String(), "boom from the notebook") {
		t.Fatalf("bad: %+v", bad)
	}
	imp := e.g.waitFinal("nbpipe/notebooks", first, "nbpipe/airflow/broken_import", 4*time.Minute)
	if imp.Status != "failure" || !strings.Contains(imp.Description, "import error") || !strings.Contains(imp.Description, "AirflowClusterPolicyViolation: DAG broken_import is tagged unreviewed") {
		t.Fatalf("broken_import: %+v", imp)
	}
	if n := e.runCount("broken_import"); n != 0 {
		t.Fatalf("the DAG that failed to import has %d runs", n)
	}
	if _, ok := e.g.statuses("nbpipe/notebooks", first)["nbpipe/airflow/plain"]; ok {
		t.Fatal("a notebook without trigger: true got an Airflow status")
	}
	if code, pool := e.airflowGet("/api/v2/pools/e2e_pool"); code != 200 || pool["slots"] != float64(1) {
		t.Fatalf("pool: %d %v", code, pool)
	}
	if n := e.runCount("good"); n != 1 {
		t.Fatalf("good has %d runs, want 1", n)
	}

	// A re-delivered push starts no second run.
	body, _ := json.Marshal(map[string]any{"ref": "refs/heads/main", "before": webhook.ZeroSHA, "after": first,
		"repository": map[string]any{"full_name": "nbpipe/notebooks", "clone_url": e.g.URL + "/nbpipe/notebooks.git"},
		"sender":     map[string]any{"login": e.g.User, "username": e.g.User}})
	if code := deliverSigned(t, "http://"+e.l.Addr().String(), "redelivery-1", body); code != http.StatusOK && code != http.StatusAccepted {
		t.Fatalf("redelivery: %d", code)
	}
	time.Sleep(3 * time.Second)
	if n := e.runCount("good"); n != 1 {
		t.Fatalf("after a re-delivery good has %d runs, want 1", n)
	}

	// The three ways to authenticate each drive one trigger (wait: false,
	// so the status is final once the run is queued); a wrong secret is a
	// clear failure.
	probe := func(version int) map[string]string {
		return map[string]string{"probe.ipynb": meta(map[string]any{"trigger": true, "retries": 0}, cell("v = "+string(rune('0'+version))+"\n"))}
	}
	pw := e.base
	pw.Airflow.Username, pw.Airflow.Password = e.af.User, e.af.Password
	tok := e.base
	tok.Airflow.Token = airflowToken(t, e.af)
	wrong := e.base
	wrong.Airflow.JWTSecret = "not-the-secret"
	for i, c := range []struct {
		name  string
		cfg   Config
		state string
		desc  string
	}{
		{"password", pw, "success", "triggered"},
		{"pre-issued token", tok, "success", "triggered"},
		{"wrong jwt secret", wrong, "failure", "refused"},
	} {
		e.serve(c.cfg)
		sha := e.push("probe "+c.name, probe(i+1))
		st := e.g.waitFinal("nbpipe/notebooks", sha, "nbpipe/airflow/probe", 3*time.Minute)
		if st.Status != c.state || !strings.Contains(st.Description, c.desc) {
			t.Fatalf("%s: %+v", c.name, st)
		}
		if strings.Contains(e.logs.String(), "not-the-secret") || strings.Contains(e.logs.String(), e.af.JWTSecret) || strings.Contains(e.logs.String(), e.af.Password) {
			t.Fatalf("%s: a secret is in the log", c.name)
		}
	}
	if n := e.runCount("probe"); n != 2 {
		t.Fatalf("probe has %d runs, want 2 (password, token)", n)
	}
}

// airflowToken gets a token the way an operator would pre-issue one.
func airflowToken(t *testing.T, af airflowtest.Instance) string {
	body, _ := json.Marshal(map[string]string{"username": af.User, "password": af.Password})
	resp, err := http.Post(af.URL+"/auth/token", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("token: %d %v", resp.StatusCode, err)
	}
	return tok.AccessToken
}

// TestWholeLoopSpeed (make bench; NBPIPE_LOOP_BENCH=N pushes) measures each
// step of the loop against the real Airflow from the audit log: push
// received -> DAG commit pushed -> deployment started -> Airflow has that
// version -> run queued -> run finished, and prints the medians. nbpipe's
// own share is everything but Airflow's fetch and parse and the run.
func TestWholeLoopSpeed(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("NBPIPE_LOOP_BENCH"))
	if n <= 0 {
		t.Skip("NBPIPE_LOOP_BENCH=N (make bench sets it) measures N pushes through the whole loop")
	}
	e := newLoopEnv(t)
	cfg := e.base
	cfg.Airflow.JWTSecret = e.af.JWTSecret
	e.serve(cfg)
	nb := func(i int) map[string]string {
		return map[string]string{"speed.ipynb": meta(map[string]any{"trigger": true, "wait": true, "retries": 0},
			cell(fmt.Sprintf("version = %d\nassert spark.range(version + 1).count() == version + 1\n", i)))}
	}
	// The first push seeds the empty bundle (Airflow can only be nudged
	// once it knows a DAG of it); it is not measured.
	sha := e.push("seed", nb(0))
	if st := e.g.waitFinal("nbpipe/notebooks", sha, "nbpipe/airflow/speed", 8*time.Minute); st.Status != "success" {
		t.Fatalf("seed run: %+v", st)
	}
	failed := 0
	for i := 1; i <= n; i++ {
		sha := e.push(fmt.Sprintf("v%d", i), nb(i))
		if st := e.g.waitFinal("nbpipe/notebooks", sha, "nbpipe/airflow/speed", 5*time.Minute); st.Status != "success" {
			// A run can fail on Spark's side (a Livy session lost under
			// load); the steps before it are still measured.
			t.Logf("push %d: %+v", i, st)
			failed++
		}
	}
	if failed > n/2 {
		t.Fatalf("%d of %d runs failed", failed, n)
	}
	steps := loopSteps(t, filepath.Join(cfg.StateDir, "audit.jsonl"))
	if len(steps["commit"]) < n+1 {
		t.Fatalf("audit holds %d pushes", len(steps["commit"]))
	}
	for k, v := range steps { // drop the seed
		steps[k] = v[1:]
	}
	order := []string{"commit", "queue", "load", "start", "run", "nbpipe", "total"}
	what := map[string]string{
		"commit": "push received -> DAG commit pushed (nbpipe)",
		"queue":  "DAG commit pushed -> deployment started (nbpipe)",
		"load":   "Airflow fetched and parsed that version (nudged)",
		"start":  "pools, unpause, trigger: run queued (nbpipe + API)",
		"run":    "run queued -> run finished (Airflow, Livy, Spark)",
		"nbpipe": "nbpipe's own share (commit + queue + start)",
		"total":  "push received -> run finished",
	}
	res := map[string]float64{}
	for _, k := range order {
		res[k] = median(steps[k])
		t.Logf("%-7s median %7.3f s  %s", k, res[k], what[k])
	}
	out, _ := json.Marshal(map[string]any{"bench": "loop", "pushes": n, "median_seconds": res})
	fmt.Println(string(out))
	if res["nbpipe"] >= 1 {
		t.Errorf("nbpipe's own share is %.3f s at the median, over the 1 s target", res["nbpipe"])
	}
}

// loopSteps reads per-push step durations from the audit log.
func loopSteps(t *testing.T, auditPath string) map[string][]float64 {
	data, err := os.ReadFile(auditPath)
	if err != nil {
		t.Fatal(err)
	}
	type rec struct {
		Time, Accepted, Published string
		Deployment                string
		Report                    *struct {
			SourceCommit string    `json:"source_commit"`
			PublishedAt  time.Time `json:"published_at"`
		}
		SourceCommit string `json:"source_commit"`
		Outcome      struct {
			Started     string
			WaitSeconds float64 `json:"wait_seconds"`
			Steps       []struct {
				Name    string
				Seconds float64
			}
		}
	}
	ts := func(s string) time.Time { v, _ := time.Parse(time.RFC3339Nano, s); return v }
	pushes := map[string]rec{}
	var jobs []rec
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var r rec
		if json.Unmarshal([]byte(line), &r) != nil {
			continue
		}
		if r.Deployment == "airflow" {
			jobs = append(jobs, r)
		} else if r.Report != nil {
			if _, seen := pushes[r.Report.SourceCommit]; !seen {
				pushes[r.Report.SourceCommit] = r
			}
		}
	}
	out := map[string][]float64{}
	for _, j := range jobs {
		p, ok := pushes[j.SourceCommit]
		if !ok {
			continue
		}
		commit := p.Report.PublishedAt.Sub(ts(p.Accepted)).Seconds()
		queue := ts(j.Outcome.Started).Sub(ts(j.Published)).Seconds()
		var load, start float64
		for _, s := range j.Outcome.Steps {
			if s.Name == "load" {
				load += s.Seconds
			} else {
				start += s.Seconds
			}
		}
		out["commit"] = append(out["commit"], commit)
		out["queue"] = append(out["queue"], queue)
		out["load"] = append(out["load"], load)
		out["start"] = append(out["start"], start)
		out["run"] = append(out["run"], j.Outcome.WaitSeconds)
		out["nbpipe"] = append(out["nbpipe"], commit+queue+start)
		out["total"] = append(out["total"], ts(j.Time).Sub(ts(p.Accepted)).Seconds())
	}
	return out
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
