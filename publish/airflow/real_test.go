package airflow

import (
	"context"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nbpipe/nbpipe/internal/airflowtest"
	"github.com/nbpipe/nbpipe/internal/gittest"
)

// The DAG files of the real-Airflow test: small hand-written DAGs in the
// style nbpipe generates (airflow.sdk DAG, the standard PythonOperator,
// retries 0).
const (
	seedDAG = `from airflow.sdk import DAG
from airflow.providers.standard.operators.python import PythonOperator

with DAG("nb_seed", schedule=None, default_args={"retries": 0}, tags=["nbpipe-test"]):
    PythonOperator(task_id="noop", python_callable=lambda: None)
`
	goodDAG = `from airflow.sdk import DAG
from airflow.providers.standard.operators.python import PythonOperator


def hello(**context):
    print("nb_good says hello, version VERSION, conf", context["dag_run"].conf)


with DAG("nb_good", schedule=None, default_args={"retries": 0}, tags=["nbpipe-test"]):
    PythonOperator(task_id="hello", python_callable=hello)
`
	failsDAG = `from airflow.sdk import DAG
from airflow.providers.standard.operators.python import PythonOperator


def boom():
    print("about to fail")
    raise ValueError("nbpipe test failure: the answer was 41")


with DAG("nb_fails", schedule=None, default_args={"retries": 0}, tags=["nbpipe-test"]):
    PythonOperator(task_id="fine", python_callable=lambda: None) >> PythonOperator(task_id="boom", python_callable=boom)
`
	brokenDAG = `from airflow.sdk import DAG
import not_a_module

with DAG("nb_broken", schedule=None):
    pass
`
	dailyDAG = `import pendulum
from airflow.sdk import DAG
from airflow.providers.standard.operators.python import PythonOperator

with DAG("nb_daily", schedule="@daily", start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
         default_args={"retries": 0}, tags=["nbpipe-test"]):
    PythonOperator(task_id="tick", python_callable=lambda: print("tick"))
`
	pooledDAG = `from airflow.sdk import DAG
from airflow.providers.standard.operators.python import PythonOperator

with DAG("nb_pooled", schedule=None, default_args={"retries": 0}, tags=["nbpipe-test"]):
    PythonOperator(task_id="in_pool", pool="nbpipe_test_pool", python_callable=lambda: print("ran in the pool"))
`
)

type airflowInstance = airflowtest.Instance

func needVenv(t *testing.T) string { return airflowtest.NeedVenv(t) }

func startAirflow(t *testing.T, venv, repoURL, refresh string) airflowInstance {
	return airflowtest.Start(t, venv, repoURL, refresh)
}

// gitContains reports whether version includes commit, by git ancestry in
// the work tree wt (what the nbpipe server does with its clone).
func gitContains(wt, commit string) func(string) bool {
	return func(version string) bool {
		if exec.Command("git", "-C", wt, "cat-file", "-e", version+"^{commit}").Run() != nil {
			exec.Command("git", "-C", wt, "fetch", "-q", "origin").Run()
		}
		return exec.Command("git", "-C", wt, "merge-base", "--is-ancestor", commit, version).Run() == nil
	}
}

func logSteps(t *testing.T, what string, out Outcome) {
	t.Helper()
	var b strings.Builder
	for _, s := range out.Steps {
		b.WriteString("\n  ")
		b.WriteString(s.Name)
		b.WriteString(" ")
		b.WriteString(time.Duration(s.Seconds * float64(time.Second)).Round(10 * time.Millisecond).String())
		if s.Detail != "" {
			b.WriteString(": " + s.Detail)
		}
	}
	t.Logf("%s:%s", what, b.String())
}

// TestRealAirflow runs the client against a real Airflow 3.3.2 (scripts/
// airflow.sh) whose GitDagBundle follows a git repository served over smart
// HTTP by this test process. One Airflow start (~20 s) serves every
// subtest; the bundle's refresh_interval is 300 s, so every DAG that shows
// up within the test's time does so because Deploy's reparse nudge worked.
func TestRealAirflow(t *testing.T) {
	venv := needVenv(t)
	t.Parallel() // with TestRealAirflowEmptyBundle: two instances side by side
	ctx := context.Background()

	srv := gittest.NewServer(t)
	repoURL := srv.Repo(t, "dags")
	wt := gittest.Clone(t, repoURL)
	push := func(msg string, files map[string]string) (string, time.Time) {
		t.Helper()
		commit := gittest.Commit(t, wt, msg, files)
		at := time.Now()
		gittest.Run(t, wt, "git", "push", "-q", "origin", "main")
		return commit, at
	}
	seedCommit, _ := push("seed", map[string]string{"pipelines/seed.py": seedDAG})

	inst := startAirflow(t, venv, repoURL, "300")
	admin := New(inst.URL, SecretAuth(inst.JWTSecret, "nbpipe", "admin"))

	// The seed DAG: Airflow clones the bundle at start.
	t0 := time.Now()
	for {
		d, err := admin.DAG(ctx, "nb_seed")
		if err == nil {
			if d.BundleName != "nbpipe" || d.BundleVersion != seedCommit || d.RelativeFileloc != "pipelines/seed.py" || !d.IsPaused || d.FileToken == "" {
				t.Fatalf("nb_seed = %+v", d)
			}
			break
		}
		if !errors.Is(err, ErrNotFound) {
			t.Fatal(err)
		}
		if time.Since(t0) > 90*time.Second {
			t.Fatalf("nb_seed not parsed within 90 s of the start: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("seed DAG visible %.1f s after the start returned", time.Since(t0).Seconds())

	var goodCommit string
	t.Run("deploy waits for the exact commit", func(t *testing.T) {
		v1, at := push("nb_good v1", map[string]string{"pipelines/good.py": strings.ReplaceAll(goodDAG, "VERSION", "v1")})
		out, err := admin.Deploy(ctx, Deployment{DagID: "nb_good", File: "pipelines/good.py", Bundle: "nbpipe", Commit: v1, PublishedAt: at, LoadTimeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		logSteps(t, "nb_good v1 (new DAG, nudged through nb_seed's file token)", out)
		t.Logf("push to visible (new DAG): %.1f s", time.Since(at).Seconds())
		if out.BundleVersion != v1 || out.RunID != "" {
			t.Errorf("outcome %+v", out)
		}

		// Airflow has v1; Deploy of v2 must wait for v2.
		v2, at := push("nb_good v2", map[string]string{"pipelines/good.py": strings.ReplaceAll(goodDAG, "VERSION", "v2")})
		goodCommit = v2
		out, err = admin.Deploy(ctx, Deployment{DagID: "nb_good", File: "pipelines/good.py", Bundle: "nbpipe", Commit: v2, PublishedAt: at,
			Unpause: true, Trigger: true, RunID: "nbpipe-good-1", Conf: map[string]any{"source": "nbpipe-test"}, Note: "deployed by the test", LoadTimeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		logSteps(t, "nb_good v2 (known DAG at v1)", out)
		t.Logf("push to triggered (known DAG, new version): %.1f s", time.Since(at).Seconds())
		if out.BundleVersion != v2 || out.RunID != "nbpipe-good-1" || out.Existing || out.Adopted {
			t.Errorf("outcome %+v", out)
		}
		if want := inst.URL + "/dags/nb_good/runs/nbpipe-good-1"; out.RunURL != want {
			t.Errorf("RunURL %s, want %s", out.RunURL, want)
		}
		run, err := admin.Run(ctx, "nb_good", "nbpipe-good-1")
		if err != nil {
			t.Fatal(err)
		}
		if run.BundleVersion != v2 || run.RunType != "manual" || run.Conf["source"] != "nbpipe-test" || run.Note != "deployed by the test" || run.LogicalDate != nil {
			t.Errorf("run %+v", run)
		}
		t0 := time.Now()
		res, err := admin.WaitRun(ctx, "nb_good", "nbpipe-good-1", 2*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("nb_good run: %s after %.1f s of waiting", res.State, time.Since(t0).Seconds())
		if res.State != "success" || len(res.FailedTasks) != 0 {
			t.Fatalf("result %+v", res)
		}
		tis, err := admin.TaskInstances(ctx, "nb_good", "nbpipe-good-1")
		if err != nil || len(tis) != 1 || tis[0].State != "success" || tis[0].TryNumber != 1 {
			t.Fatalf("task instances %+v, %v", tis, err)
		}
		log, err := admin.TaskLog(ctx, "nb_good", "nbpipe-good-1", "hello", 1)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(log, "nb_good says hello, version v2, conf {'source': 'nbpipe-test'}") || strings.Contains(log, "::group::") {
			t.Errorf("task log:\n%s", log)
		}
	})

	t.Run("import error", func(t *testing.T) {
		c, at := push("broken", map[string]string{"pipelines/broken.py": brokenDAG})
		out, err := admin.Deploy(ctx, Deployment{DagID: "nb_broken", File: "pipelines/broken.py", Bundle: "nbpipe", Commit: c, PublishedAt: at,
			Unpause: true, Trigger: true, RunID: "nbpipe-broken-1", LoadTimeout: time.Minute})
		logSteps(t, "nb_broken", out)
		var ie *ImportError
		if !errors.As(err, &ie) {
			t.Fatalf("err = %v, want *ImportError", err)
		}
		t.Logf("push to import error reported: %.1f s; error:\n%v", time.Since(at).Seconds(), err)
		if ie.Filename != "pipelines/broken.py" || ie.BundleName != "nbpipe" ||
			!strings.Contains(ie.StackTrace, "ModuleNotFoundError: No module named 'not_a_module'") || !strings.Contains(ie.StackTrace, "import not_a_module") {
			t.Errorf("import error %+v", ie)
		}
		if _, err := admin.DAG(ctx, "nb_broken"); !errors.Is(err, ErrNotFound) {
			t.Errorf("nb_broken exists in Airflow (%v): something was made of it", err)
		}
		if out.RunID != "" {
			t.Errorf("outcome %+v", out)
		}
	})

	t.Run("three auth ways trigger, wrong credentials are refused clearly", func(t *testing.T) {
		token, err := PasswordAuth("admin", inst.Password).Token(ctx, defaultHTTP, inst.URL)
		if err != nil {
			t.Fatal(err)
		}
		ways := []struct {
			name string
			auth Auth
		}{
			{"token", TokenAuth(token)},
			{"secret", SecretAuth(inst.JWTSecret, "nbpipe-bot", "user")},
			{"password", PasswordAuth("admin", inst.Password)},
		}
		for _, w := range ways {
			r, err := New(inst.URL, w.auth).Trigger(ctx, "nb_seed", "auth-"+w.name, nil, "auth way "+w.name)
			if err != nil {
				t.Fatalf("%s: %v", w.name, err)
			}
			if r.DagRunID != "auth-"+w.name || r.State != "queued" || r.Existing {
				t.Errorf("%s: run %+v", w.name, r)
			}
		}

		refusedCases := []struct {
			name string
			auth Auth
			has  []string
		}{
			{"wrong secret", SecretAuth("wrong-"+inst.JWTSecret[:8], "nbpipe", "admin"), []string{"authentication refused, self-minted JWT", "jwt_secret", "HTTP 403", "Invalid JWT token"}},
			{"wrong password", PasswordAuth("admin", "not-"+inst.Password), []string{`authentication refused, password login as "admin"`, "HTTP 401", "/auth/token"}},
			{"garbage token", TokenAuth("not.a.jwt"), []string{"authentication refused, pre-issued token"}},
		}
		for _, rc := range refusedCases {
			_, err := New(inst.URL, rc.auth).Trigger(ctx, "nb_seed", "refused-"+rc.name, nil, "")
			if !errors.Is(err, ErrAuthRefused) {
				t.Errorf("%s: err = %v, want ErrAuthRefused", rc.name, err)
				continue
			}
			for _, h := range rc.has {
				if !strings.Contains(err.Error(), h) {
					t.Errorf("%s: error %q lacks %q", rc.name, err, h)
				}
			}
			for _, secret := range []string{inst.JWTSecret, inst.JWTSecret[:8], inst.Password, token} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("%s: the error carries a secret", rc.name)
				}
			}
			t.Logf("%s: %v", rc.name, err)
		}

		viewer := New(inst.URL, PasswordAuth("viewer", inst.ViewerPassword))
		if _, err := viewer.DAG(ctx, "nb_seed"); err != nil {
			t.Errorf("viewer cannot read: %v", err)
		}
		_, err = viewer.Trigger(ctx, "nb_seed", "viewer-run", nil, "")
		if !errors.Is(err, ErrForbidden) || errors.Is(err, ErrAuthRefused) {
			t.Errorf("viewer trigger: %v, want ErrForbidden", err)
		}
		t.Logf("viewer trigger: %v", err)
		runs, err := admin.Runs(ctx, "nb_seed", RunFilter{})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range runs {
			ids = append(ids, r.DagRunID)
		}
		slices.Sort(ids)
		if !slices.Equal(ids, []string{"auth-password", "auth-secret", "auth-token"}) {
			t.Errorf("nb_seed runs %v", ids)
		}
	})

	t.Run("the same run id twice starts one run", func(t *testing.T) {
		if goodCommit == "" {
			t.Skip("needs the first subtest")
		}
		out, err := admin.Deploy(ctx, Deployment{DagID: "nb_good", File: "pipelines/good.py", Bundle: "nbpipe", Commit: goodCommit,
			Contains: gitContains(wt, goodCommit), PublishedAt: time.Now(), Unpause: true, Trigger: true, RunID: "nbpipe-good-1", LoadTimeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		logSteps(t, "nb_good again", out)
		if !out.Existing || out.RunID != "nbpipe-good-1" {
			t.Errorf("outcome %+v", out)
		}
		runs, err := admin.Runs(ctx, "nb_good", RunFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) != 1 || runs[0].DagRunID != "nbpipe-good-1" {
			t.Errorf("nb_good has %d runs: %+v", len(runs), runs)
		}
		// Trigger alone says the same.
		r, err := admin.Trigger(ctx, "nb_good", "nbpipe-good-1", nil, "")
		if err != nil || !r.Existing || r.State != "success" {
			t.Errorf("Trigger of an existing id: %+v, %v", r, err)
		}
	})

	t.Run("scheduled DAG gets exactly one run", func(t *testing.T) {
		c, at := push("daily", map[string]string{"pipelines/daily.py": dailyDAG})
		d := Deployment{DagID: "nb_daily", File: "pipelines/daily.py", Bundle: "nbpipe", Commit: c, PublishedAt: at,
			Scheduled: true, Unpause: true, Trigger: true, RunID: "nbpipe-daily-1", Note: "deployed by the test", LoadTimeout: time.Minute}
		out, err := admin.Deploy(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		logSteps(t, "nb_daily", out)
		if !out.Adopted || out.Existing || !strings.HasPrefix(out.RunID, "scheduled__") {
			t.Errorf("outcome %+v", out)
		}
		time.Sleep(5 * time.Second)
		runs, err := admin.Runs(ctx, "nb_daily", RunFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) != 1 || runs[0].DagRunID != out.RunID || runs[0].RunType != "scheduled" {
			t.Fatalf("nb_daily has %d runs 5 s after Deploy: %+v", len(runs), runs)
		}
		if runs[0].Note != "deployed by the test\n\nnbpipe run id: nbpipe-daily-1" {
			t.Errorf("note %q", runs[0].Note)
		}
		again, err := admin.Deploy(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		if !again.Existing || !again.Adopted || again.RunID != out.RunID {
			t.Errorf("second deploy %+v", again)
		}
		if runs, _ := admin.Runs(ctx, "nb_daily", RunFilter{}); len(runs) != 1 {
			t.Errorf("nb_daily has %d runs after the second Deploy", len(runs))
		}
	})

	t.Run("missing pool is refused, then created and used", func(t *testing.T) {
		c, at := push("pooled", map[string]string{"pipelines/pooled.py": pooledDAG})
		d := Deployment{DagID: "nb_pooled", File: "pipelines/pooled.py", Bundle: "nbpipe", Commit: c, PublishedAt: at,
			Unpause: true, Trigger: true, RunID: "nbpipe-pooled-1", Pools: []string{"nbpipe_test_pool"}, LoadTimeout: time.Minute}
		_, err := admin.Deploy(ctx, d)
		if !errors.Is(err, ErrPoolMissing) || !strings.Contains(err.Error(), "nbpipe_test_pool") {
			t.Fatalf("err = %v, want ErrPoolMissing", err)
		}
		t.Logf("without CreatePools: %v", err)
		if runs, _ := admin.Runs(ctx, "nb_pooled", RunFilter{}); len(runs) != 0 {
			t.Errorf("runs despite the missing pool: %+v", runs)
		}
		d.CreatePools = true
		out, err := admin.Deploy(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		logSteps(t, "nb_pooled", out)
		if p, err := admin.GetPool(ctx, "nbpipe_test_pool"); err != nil || p.Slots != NewPoolSlots {
			t.Errorf("pool %+v, %v", p, err)
		}
		res, err := admin.WaitRun(ctx, "nb_pooled", "nbpipe-pooled-1", 2*time.Minute)
		if err != nil || res.State != "success" {
			t.Fatalf("pooled run %+v, %v", res, err)
		}
		tis, err := admin.TaskInstances(ctx, "nb_pooled", "nbpipe-pooled-1")
		if err != nil || len(tis) != 1 || tis[0].Pool != "nbpipe_test_pool" || tis[0].State != "success" {
			t.Errorf("task instances %+v, %v", tis, err)
		}
	})

	t.Run("failing DAG: WaitRun names the task and shows its log", func(t *testing.T) {
		c, at := push("fails", map[string]string{"pipelines/fails.py": failsDAG})
		out, err := admin.Deploy(ctx, Deployment{DagID: "nb_fails", File: "pipelines/fails.py", Bundle: "nbpipe", Commit: c, PublishedAt: at,
			Unpause: true, Trigger: true, RunID: "nbpipe-fails-1", LoadTimeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		logSteps(t, "nb_fails", out)
		t0 := time.Now()
		res, err := admin.WaitRun(ctx, "nb_fails", "nbpipe-fails-1", 2*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("nb_fails run: %s after %.1f s of waiting; log tail:\n%s", res.State, time.Since(t0).Seconds(), res.LogTail)
		if res.State != "failed" || !slices.Equal(res.FailedTasks, []string{"boom"}) {
			t.Errorf("result %+v", res)
		}
		if !strings.Contains(res.LogTail, "ValueError: nbpipe test failure: the answer was 41") || !strings.Contains(res.LogTail, "about to fail") {
			t.Errorf("log tail lacks the failure")
		}
		if n := strings.Count(res.LogTail, "\n") + 1; n > 20 {
			t.Errorf("log tail has %d lines", n)
		}
	})

	t.Run("trigger without unpause on a paused DAG stays queued", func(t *testing.T) {
		out, err := admin.Deploy(ctx, Deployment{DagID: "nb_seed", File: "pipelines/seed.py", Bundle: "nbpipe", Commit: seedCommit,
			Contains: gitContains(wt, seedCommit), PublishedAt: time.Now(), Trigger: true, RunID: "nbpipe-seed-queued", LoadTimeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		logSteps(t, "nb_seed", out)
		if s := out.Steps[len(out.Steps)-1]; s.Name != "trigger" || !strings.Contains(s.Detail, "stays queued") {
			t.Errorf("steps %+v", out.Steps)
		}
		time.Sleep(3 * time.Second)
		if r, err := admin.Run(ctx, "nb_seed", "nbpipe-seed-queued"); err != nil || r.State != "queued" {
			t.Errorf("run %+v, %v", r, err)
		}
	})
}

// TestRealAirflowEmptyBundle: a bundle of which Airflow knows no DAG yet
// (the repository holds only a README) offers no file token to nudge with,
// so the first DAG waits for the bundle's refresh_interval (30 s here).
// Its own Airflow start, side by side with TestRealAirflow's.
func TestRealAirflowEmptyBundle(t *testing.T) {
	venv := needVenv(t)
	t.Parallel()
	ctx := context.Background()

	srv := gittest.NewServer(t)
	repoURL := srv.Repo(t, "dags")
	wt := gittest.Clone(t, repoURL)
	gittest.Commit(t, wt, "readme", map[string]string{"README.md": "DAGs published by nbpipe\n"})
	gittest.Run(t, wt, "git", "push", "-q", "origin", "main")
	inst := startAirflow(t, venv, repoURL, "30")
	admin := New(inst.URL, SecretAuth(inst.JWTSecret, "nbpipe", "admin"))

	c := gittest.Commit(t, wt, "first DAG", map[string]string{"pipelines/good.py": strings.ReplaceAll(goodDAG, "VERSION", "v1")})
	at := time.Now()
	gittest.Run(t, wt, "git", "push", "-q", "origin", "main")
	d := Deployment{DagID: "nb_good", File: "pipelines/good.py", Bundle: "nbpipe", Commit: c, PublishedAt: at, LoadTimeout: 3 * time.Second}
	_, err := admin.Deploy(ctx, d)
	switch {
	case err == nil:
		t.Logf("the bundle's refresh happened to come within 3 s of the push")
	case !errors.Is(err, ErrNotLoaded):
		t.Fatal(err)
	default:
		t.Logf("short wait: %v", err)
		for _, s := range []string{"DAG nb_good not known to Airflow yet", "Airflow knows no DAG of bundle nbpipe", "refresh_interval"} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("error lacks %q", s)
			}
		}
	}
	if runs, err := admin.Runs(ctx, "nb_good", RunFilter{}); err == nil && len(runs) > 0 {
		t.Errorf("runs after a failed Deploy: %+v", runs)
	}

	d.LoadTimeout, d.Unpause, d.Trigger, d.RunID = 90*time.Second, true, true, "nbpipe-first"
	out, err := admin.Deploy(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	logSteps(t, "nb_good in an empty bundle", out)
	waited := time.Since(at)
	t.Logf("push to visible without a nudge (refresh_interval 30 s): %.1f s", waited.Seconds())
	if out.BundleVersion != c || out.RunID != "nbpipe-first" || !strings.Contains(out.Steps[0].Detail, "0 reparse request(s)") {
		t.Errorf("outcome %+v", out)
	}
	if waited > 50*time.Second {
		t.Errorf("the first DAG took %v, more than the refresh interval allows", waited)
	}
	res, err := admin.WaitRun(ctx, "nb_good", "nbpipe-first", 2*time.Minute)
	if err != nil || res.State != "success" {
		t.Errorf("run %+v, %v", res, err)
	}
}
