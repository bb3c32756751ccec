package airflow

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The shape of GET .../logs/{try}?full_content=true on Airflow 3.3.2,
// trimmed from a real failing PythonOperator task.
const realLogJSON = `{"content":[
{"event":"::group::Log message source details"},
{"event":"/tmp/af/home/logs/dag_id=fails/run_id=f1/task_id=boom/attempt=1.log"},
{"event":"::endgroup::"},
{"timestamp":"2026-11-30T18:19:04.229872Z","event":"Filling up the DagBag from /tmp/af/bundles/nbpipe/versions/75257aa/pipelines/fails.py","level":"info","logger":"airflow.dag_processing.dagbag.BundleDagBag","filename":"dagbag.py","lineno":460},
{"timestamp":"2026-11-30T18:19:04.574977Z","event":"about to fail","level":"info","logger":"task.stdout"},
{"timestamp":"2026-11-30T18:19:04.575422Z","event":"Task failed with exception","level":"error","logger":"task","error_detail":[{"exc_type":"ValueError","exc_value":"nbpipe test failure: the answer was 41","exc_notes":[],"syntax_error":null,"is_cause":false,"frames":[{"filename":"/venv/lib/python3.11/site-packages/airflow/sdk/execution_time/task_runner.py","lineno":1579,"name":"_run_task_and_map_outcome"},{"filename":"/tmp/af/bundles/nbpipe/versions/75257aa/pipelines/fails.py","lineno":6,"name":"boom"}],"is_group":false,"exceptions":[]}]},
{"timestamp":"2026-11-30T18:19:04.576144Z","event":"::group::Post Execute","level":"info","logger":"task"},
{"timestamp":"2026-11-30T18:19:04.581438Z","event":"::endgroup::","level":"info","logger":"task"}
],"continuation_token":null}`

func TestTaskLogRendersStructuredEventsAgainstTestServer(t *testing.T) {
	var gotQuery string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v2/dags/fails/dagRuns/f1/taskInstances/boom/logs/2" {
			t.Errorf("path %s", r.URL.Path)
		}
		gotQuery = r.URL.RawQuery
		io.WriteString(w, realLogJSON)
	}))
	defer srv.Close()
	text, err := New(srv.URL, TokenAuth("t")).TaskLog(context.Background(), "fails", "f1", "boom", 2)
	if err != nil {
		t.Fatal(err)
	}
	if gotQuery != "full_content=true" {
		t.Errorf("query %q", gotQuery)
	}
	want := `/tmp/af/home/logs/dag_id=fails/run_id=f1/task_id=boom/attempt=1.log
2026-11-30T18:19:04.229872Z INFO airflow.dag_processing.dagbag.BundleDagBag: Filling up the DagBag from /tmp/af/bundles/nbpipe/versions/75257aa/pipelines/fails.py
2026-11-30T18:19:04.574977Z INFO task.stdout: about to fail
2026-11-30T18:19:04.575422Z ERROR task: Task failed with exception
Traceback (most recent call last):
  File "/venv/lib/python3.11/site-packages/airflow/sdk/execution_time/task_runner.py", line 1579, in _run_task_and_map_outcome
  File "/tmp/af/bundles/nbpipe/versions/75257aa/pipelines/fails.py", line 6, in boom
ValueError: nbpipe test failure: the answer was 41
`
	if text != want {
		t.Errorf("log text:\n%s\nwant:\n%s", text, want)
	}
}

func TestRenderLogOtherShapes(t *testing.T) {
	cases := []struct{ name, raw, want string }{
		{"string content", `"line 1\nline 2\n"`, "line 1\nline 2\n"},
		{"string lines", `["a","b"]`, "a\nb\n"},
		{"chained exceptions", `[{"event":"x","error_detail":[{"exc_type":"B","exc_value":"outer","is_cause":true,"frames":[]},{"exc_type":"A","exc_value":"inner","frames":[]}]}]`,
			"x\nTraceback (most recent call last):\nA: inner\n\nThe above exception was the direct cause of the following exception:\n\nTraceback (most recent call last):\nB: outer\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := renderLog([]byte(tc.raw)); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTriggerExistingRunAgainstTestServer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method + " " + r.URL.Path {
		case "POST /api/v2/dags/d/dagRuns":
			w.WriteHeader(409)
			io.WriteString(w, `{"detail":"DAG Run with dag_run_id: 'r1' already exists"}`)
		case "GET /api/v2/dags/d/dagRuns/r1":
			io.WriteString(w, `{"dag_run_id":"r1","dag_id":"d","state":"running","run_type":"manual","note":null,"conf":{"a":1},"logical_date":null,"bundle_version":"abc"}`)
		default:
			t.Errorf("unexpected %s %s", r.Method, r.URL.Path)
		}
	}))
	defer srv.Close()
	r, err := New(srv.URL, TokenAuth("t")).Trigger(context.Background(), "d", "r1", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if !r.Existing || r.State != "running" || r.BundleVersion != "abc" || r.LogicalDate != nil || r.Note != "" {
		t.Errorf("run %+v", r)
	}
}

func TestAPIErrorsAgainstTestServer(t *testing.T) {
	cases := []struct {
		name       string
		status     int
		body       string
		is         error
		has, hasnt string
	}{
		{"422 validation", 422, `{"detail":[{"type":"missing","loc":["body","logical_date"],"msg":"Field required","input":{"conf":{"password":"hunter2"}}}]}`, nil, "HTTP 422 from POST /api/v2/dags/d/dagRuns: body.logical_date: Field required", "hunter2"},
		{"404", 404, `{"detail":"The Dag with ID: 'd' was not found"}`, ErrNotFound, "was not found", ""},
		{"403 permission", 403, `{"detail":"Forbidden"}`, ErrForbidden, "HTTP 403", ""},
		{"long detail", 400, `{"detail":"` + strings.Repeat("x", 1000) + `"}`, nil, strings.Repeat("x", 300) + "…", strings.Repeat("x", 301)},
		{"html", 502, `<html>bad gateway</html>`, nil, "HTTP 502 from POST", "html"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			_, err := New(srv.URL, TokenAuth("tok-secret")).Trigger(context.Background(), "d", "r", map[string]any{"password": "hunter2"}, "")
			if err == nil {
				t.Fatal("no error")
			}
			s := err.Error()
			if !strings.HasPrefix(s, "airflow: trigger d: ") || !strings.Contains(s, tc.has) || (tc.hasnt != "" && strings.Contains(s, tc.hasnt)) || strings.Contains(s, "tok-secret") {
				t.Errorf("error %q", s)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error is not %v", tc.is)
			}
		})
	}
}

func TestLogTailDropsACutTraceback(t *testing.T) {
	log := "a\nTraceback (most recent call last):\n  File \"x\", line 1, in f\n  File \"y\", line 2, in g\nNotFound: git_default\nb\nc\n"
	cases := []struct {
		n    int
		want string
	}{
		{3, "NotFound: git_default\nb\nc"},
		{4, "b\nc"},
		{5, "b\nc"},
		{6, "Traceback (most recent call last):\n  File \"x\", line 1, in f\n  File \"y\", line 2, in g\nNotFound: git_default\nb\nc"},
		{20, strings.TrimSuffix(log, "\n")},
	}
	for _, tc := range cases {
		if got := logTail(log, tc.n); got != tc.want {
			t.Errorf("logTail(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

func TestRunURL(t *testing.T) {
	c := New("http://af:8080/", TokenAuth("t"))
	if got := c.RunURL("my dag", "scheduled__2026-11-30T00:00:00+00:00"); got != "http://af:8080/dags/my%20dag/runs/scheduled__2026-11-30T00:00:00+00:00" {
		t.Errorf("RunURL %s", got)
	}
	c.UIURL = "https://airflow.example.com/"
	if got := c.RunURL("d", "r"); got != "https://airflow.example.com/dags/d/runs/r" {
		t.Errorf("RunURL %s", got)
	}
}

// WaitRun polls with a growing interval until the run ends, and explains a
// failure with the failed tasks and the tail of the first one's log.
func TestWaitRunAgainstTestServer(t *testing.T) {
	polls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v2/dags/fails/dagRuns/f1":
			polls++
			state := "running"
			if polls >= 4 {
				state = "failed"
			}
			io.WriteString(w, `{"dag_run_id":"f1","dag_id":"fails","state":"`+state+`"}`)
		case "/api/v2/dags/fails/dagRuns/f1/taskInstances":
			io.WriteString(w, `{"task_instances":[{"task_id":"ok","state":"success","try_number":1},{"task_id":"boom","state":"failed","try_number":2},{"task_id":"after","state":"upstream_failed","try_number":0},{"task_id":"never","state":null,"try_number":0}],"total_entries":4}`)
		case "/api/v2/dags/fails/dagRuns/f1/taskInstances/boom/logs/2":
			io.WriteString(w, realLogJSON)
		default:
			t.Errorf("unexpected %s", r.URL.Path)
		}
	}))
	defer srv.Close()
	c := New(srv.URL, TokenAuth("t"))
	var slept []time.Duration
	now := time.Unix(0, 0)
	c.Now = func() time.Time { return now }
	c.Sleep = func(_ context.Context, d time.Duration) error { slept = append(slept, d); now = now.Add(d); return nil }
	res, err := c.WaitRun(context.Background(), "fails", "f1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if res.State != "failed" || strings.Join(res.FailedTasks, ",") != "boom" {
		t.Errorf("result %+v", res)
	}
	if !strings.Contains(res.LogTail, "ValueError: nbpipe test failure: the answer was 41") || !strings.Contains(res.LogTail, "about to fail") {
		t.Errorf("log tail:\n%s", res.LogTail)
	}
	if len(slept) != 3 || slept[0] != time.Second || slept[1] != 1500*time.Millisecond {
		t.Errorf("slept %v", slept)
	}

	// Timeout: the last state and ErrRunTimeout.
	polls = -100
	now = time.Unix(0, 0)
	res, err = c.WaitRun(context.Background(), "fails", "f1", 20*time.Second)
	if !errors.Is(err, ErrRunTimeout) || res.State != "running" || !strings.Contains(err.Error(), "state running") {
		t.Errorf("timeout: %v, %+v", err, res)
	}
	if now.Sub(time.Unix(0, 0)) > 21*time.Second {
		t.Errorf("waited %v for a 20 s timeout", now.Sub(time.Unix(0, 0)))
	}
}
