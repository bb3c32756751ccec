package ilum

// The TestContract... tests are contract tests: they run the client against
// fakeIlum (contract_server_test.go), which encodes the recorded and
// documented facts of api-facts.md §3 and ilum-1.5.3.yaml. They are not run
// against a live Ilum; the UNCONFIRMED items of the package doc remain to be
// checked against a real deployment.

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

const testToken = "s3cr3t-T0KEN-value"

var (
	jobFile     = []byte("# nbpipe-owned: true\nprint('daily kpi')\n")
	serviceFile = []byte("# nbpipe-owned: true\nclass EtlService(NotebookService):\n    pass\n")
)

func names(calls []call) []string {
	out := make([]string, len(calls))
	for i, c := range calls {
		out[i] = c.String()
	}
	return out
}

func wantCalls(t *testing.T, got []call, want ...string) {
	t.Helper()
	if g := names(got); !slices.Equal(g, want) {
		t.Fatalf("requests:\n got  %q\n want %q", g, want)
	}
}

func checkAuth(t *testing.T, calls []call, token string) {
	t.Helper()
	for _, c := range calls {
		want := ""
		if token != "" {
			want = "Bearer " + token
		}
		if c.Auth != want {
			t.Errorf("%s: Authorization %q, want %q", c, c.Auth, want)
		}
	}
}

func checkFileParts(t *testing.T, c call, name string, data []byte) {
	t.Helper()
	if len(c.Files) != 1 || c.Files[0].Field != "pyFiles" || c.Files[0].Name != name || !bytes.Equal(c.Files[0].Data, data) {
		t.Errorf("%s: file parts %+v, want one pyFiles part %s with the file's bytes", c, c.Files, name)
	}
	if !strings.HasPrefix(c.ContentType, "multipart/form-data; boundary=") {
		t.Errorf("%s: Content-Type %q", c, c.ContentType)
	}
}

func TestContractSubmitJob(t *testing.T) {
	for _, tc := range []struct {
		name   string
		token  string
		spec   JobSpec
		upload string // the file part's name; "" means spec.File
		want   map[string]string
	}{
		{
			name: "minimal, no token",
			spec: JobSpec{Name: "daily-kpi", File: "daily_kpi.py", Content: jobFile},
			want: map[string]string{"name": "daily-kpi", "clusterName": "default", "language": "PYTHON", "jobClass": "daily_kpi"},
		},
		{
			name:  "everything, bearer token",
			token: testToken,
			spec: JobSpec{
				Name: "daily-kpi-2026-05", Cluster: "prod", Image: "ilum/spark:4.1.1-sedona",
				File: "daily_kpi.py", Content: jobFile,
				Args:         []string{"--verbose"},
				Params:       map[string]any{"day": "2026-05-01", "limit": 10, "regions": []string{"eu", "us"}, "dry": false},
				Requirements: []string{"pandas==2.0.0", "", "numpy==1.0.0"},
				Resources: Resources{DriverMemory: "2g", ExecutorMemory: "4g", NumExecutors: 2, DriverCores: 1, ExecutorCores: 3,
					Conf: map[string]string{"spark.sql.shuffle.partitions": "8", "spark.executor.extraJavaOptions": "-Da=b"}},
				Tags:       map[string]string{"team": "data", "source": "nbpipe"},
				MaxRetries: 2,
			},
			want: map[string]string{
				"name": "daily-kpi-2026-05", "clusterName": "prod", "language": "PYTHON", "jobClass": "daily_kpi",
				"jobConfig":      "spark.executor.extraJavaOptions=-Da=b;spark.kubernetes.container.image=ilum/spark:4.1.1-sedona;spark.sql.shuffle.partitions=8",
				"args":           `--verbose;--day=2026-05-01;--dry=false;--limit=10;--regions=["eu","us"]`,
				"pyRequirements": "pandas==2.0.0;numpy==1.0.0",
				"tags":           "source=nbpipe;team=data",
				"maxRetries":     "2",
				"executors":      "2", "driverCores": "1", "executorCores": "3", "driverMemory": "2g", "executorMemory": "4g",
			},
		},
		{
			name: "explicit job class",
			spec: JobSpec{Name: "j", File: "j.py", Content: jobFile, JobClass: "pkg.main"},
			want: map[string]string{"name": "j", "clusterName": "default", "language": "PYTHON", "jobClass": "pkg.main"},
		},
		{
			name:   "a DAG id that is no Python module name",
			spec:   JobSpec{Name: "etl-daily.v2", File: "etl-daily.v2.py", Content: jobFile},
			upload: "etl_daily_v2.py",
			want:   map[string]string{"name": "etl-daily.v2", "clusterName": "default", "language": "PYTHON", "jobClass": "etl_daily_v2"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeIlum(t, tc.token)
			c := New(f.srv.URL, tc.token)
			c.UIURL = "https://ilum.example.com/"
			job, err := c.SubmitJob(context.Background(), tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			calls := f.takeCalls()
			wantCalls(t, calls, "POST /api/v1/job/submit")
			checkAuth(t, calls, tc.token)
			if !maps.Equal(calls[0].Form, tc.want) {
				t.Errorf("form\n got  %v\n want %v", calls[0].Form, tc.want)
			}
			checkFileParts(t, calls[0], orDefault(tc.upload, tc.spec.File), tc.spec.Content)
			if job.ID != "job-0001" || job.URL != "https://ilum.example.com/workloads/details/job/job-0001" {
				t.Errorf("job %+v", job)
			}
		})
	}
}

func TestContractBaseURLForms(t *testing.T) {
	f := newFakeIlum(t, "")
	for _, base := range []string{f.srv.URL, f.srv.URL + "/", f.srv.URL + "/api/v1", f.srv.URL + "/api/v1/"} {
		c := New(base, "")
		job, err := c.SubmitJob(context.Background(), JobSpec{Name: "n", File: "n.py", Content: jobFile})
		if err != nil {
			t.Fatalf("%s: %v", base, err)
		}
		wantCalls(t, f.takeCalls(), "POST /api/v1/job/submit")
		if want := f.srv.URL + "/workloads/details/job/" + job.ID; job.URL != want {
			t.Errorf("BaseURL %s: UI link %s, want %s (UIURL defaults to BaseURL without /api/v1)", base, job.URL, want)
		}
	}
}

func TestContractUILinks(t *testing.T) {
	c := New("http://ilum-core:9888/api/v1", "")
	c.UIURL = "http://localhost:19777"
	for _, tc := range []struct{ got, want string }{
		{c.JobURL("20260501-abc"), "http://localhost:19777/workloads/details/job/20260501-abc"},
		{c.GroupURL("g1"), "http://localhost:19777/workloads/details/service/g1"},
		{c.ScheduleURL("s 1/x"), "http://localhost:19777/workloads/details/schedule/s%201%2Fx"},
		{c.JobURL(""), ""},
	} {
		if tc.got != tc.want {
			t.Errorf("link %q, want %q", tc.got, tc.want)
		}
	}
}

func TestContractErrors(t *testing.T) {
	long := strings.Repeat("x", 5000)
	for _, tc := range []struct {
		name      string
		status    int
		body      string
		permanent bool
		want      []string // in the error text
	}{
		{"validation 409", 409, `{"message":"Cluster with name nope does not exist"}`, true,
			[]string{"ilum: submit job kpi: ", "POST /api/v1/job/submit", "HTTP 409", "Cluster with name nope does not exist"}},
		{"license 402", 402, `{"message":"License expired"}`, true, []string{"HTTP 402", "License expired"}},
		{"not found 404", 404, `{"message":"Not found"}`, true, []string{"HTTP 404"}},
		{"server echoes the token", 500, `{"message":"bad header Bearer ` + testToken + `"}`, false, []string{"HTTP 500", "[token]"}},
		{"plain text 503", 503, "upstream\nconnect error", false, []string{"HTTP 503", "upstream connect error"}},
		{"429 is retryable", 429, `{"message":"slow down"}`, false, []string{"HTTP 429"}},
		{"long body is cut", 400, long, true, []string{"HTTP 400", "…"}},
		{"HTML instead of JSON", 200, "<html>ilum ui</html>", true, []string{"unexpected response", "<html>"}},
		{"JSON without jobId", 200, `{}`, true, []string{"no jobId"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeIlum(t, testToken)
			f.failNext("POST", "/api/v1/job/submit", tc.status, tc.body)
			c := New(f.srv.URL, testToken)
			_, err := c.SubmitJob(context.Background(), JobSpec{Name: "kpi", File: "kpi.py", Content: jobFile})
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if strings.Contains(msg, testToken) {
				t.Fatalf("the error shows the token: %s", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
			if len(msg) > 600 {
				t.Errorf("error is %d bytes long", len(msg))
			}
			if Permanent(err) != tc.permanent {
				t.Errorf("Permanent = %v, want %v", Permanent(err), tc.permanent)
			}
			var se *StatusError
			if tc.status != 200 && (!errors.As(err, &se) || se.Status != tc.status) {
				t.Errorf("no *StatusError with status %d in %v", tc.status, err)
			}
		})
	}
}

func TestContractNetworkErrorNotPermanent(t *testing.T) {
	f := newFakeIlum(t, "")
	url := f.srv.URL
	f.srv.Close()
	_, err := New(url, testToken).SubmitJob(context.Background(), JobSpec{Name: "n", File: "n.py", Content: jobFile})
	if err == nil || Permanent(err) || strings.Contains(err.Error(), testToken) {
		t.Fatalf("err %v, Permanent %v: want a retryable error without the token", err, Permanent(err))
	}
}

func TestContractSpecRefusedBeforeSending(t *testing.T) {
	ok := JobSpec{Name: "n", File: "n.py", Content: jobFile}
	svc := ServiceSpec{Name: "s", File: "s.py", Content: serviceFile, Class: "S"}
	sched := ScheduleSpec{Name: "c", File: "c.py", Content: jobFile, Cron: "0 2 * * *"}
	f := newFakeIlum(t, "")
	c := New(f.srv.URL, "")
	ctx := context.Background()
	for name, call := range map[string]func() error{
		"empty job name":   func() error { j := ok; j.Name = ""; _, err := c.SubmitJob(ctx, j); return err },
		"slash in name":    func() error { j := ok; j.Name = "a/b"; _, err := c.SubmitJob(ctx, j); return err },
		"file in a folder": func() error { j := ok; j.File = "spark/n.py"; _, err := c.SubmitJob(ctx, j); return err },
		"not a .py file":   func() error { j := ok; j.File = "n.ipynb"; _, err := c.SubmitJob(ctx, j); return err },
		"empty file":       func() error { j := ok; j.Content = nil; _, err := c.SubmitJob(ctx, j); return err },
		"';' in an arg":    func() error { j := ok; j.Args = []string{"a;b"}; _, err := c.SubmitJob(ctx, j); return err },
		"';' in a param": func() error {
			j := ok
			j.Params = map[string]any{"q": "select 1; drop"}
			_, err := c.SubmitJob(ctx, j)
			return err
		},
		"bad param name": func() error { j := ok; j.Params = map[string]any{"a-b": 1}; _, err := c.SubmitJob(ctx, j); return err },
		"'=' in a conf key": func() error {
			j := ok
			j.Resources.Conf = map[string]string{"a=b": "c"}
			_, err := c.SubmitJob(ctx, j)
			return err
		},
		"';' in a requirement": func() error {
			j := ok
			j.Requirements = []string{"a;b"}
			_, err := c.SubmitJob(ctx, j)
			return err
		},
		"service without class": func() error { s := svc; s.Class = ""; _, err := c.EnsureService(ctx, s); return err },
		"reserved tag": func() error {
			s := svc
			s.Tags = map[string]string{tagCode: "x"}
			_, err := c.EnsureService(ctx, s)
			return err
		},
		"schedule without cron": func() error { s := sched; s.Cron = " "; _, err := c.EnsureSchedule(ctx, s); return err },
		"execute without group": func() error { _, err := c.ExecuteService(ctx, "", "m.C", nil); return err },
		"execute without class": func() error { _, err := c.ExecuteService(ctx, "g", "", nil); return err },
	} {
		err := call()
		if !errors.Is(err, ErrInvalidSpec) || !Permanent(err) || !strings.HasPrefix(err.Error(), "ilum: ") {
			t.Errorf("%s: err %v, want a permanent ErrInvalidSpec starting with \"ilum: \"", name, err)
		}
	}
	if calls := f.takeCalls(); len(calls) > 0 {
		t.Errorf("refused specs sent requests: %q", names(calls))
	}
}

func serviceSpec() ServiceSpec {
	return ServiceSpec{
		Name: "etl-svc", Image: "ilum/spark:4.1.1-delta", File: "etl_service.py", Content: serviceFile, Class: "EtlService",
		Requirements: []string{"pandas==2.0.0"},
		Resources:    Resources{DriverMemory: "1g", NumExecutors: 2},
		Tags:         map[string]string{"team": "data"},
		Description:  "notebooks/etl.ipynb",
		Config:       map[string]any{"day": "2026-05-01"},
	}
}

func TestContractEnsureService(t *testing.T) {
	for _, tc := range []struct {
		name, token, tagStyle string
		dropDescription       bool
		// idempotent: a repeat sends nothing but the lookup. Otherwise Ilum
		// echoes no fingerprint and every call replaces the group.
		idempotent bool
	}{
		{"tags echoed as a string", "", "string", false, true},
		{"tags echoed as an object, bearer token", testToken, "object", false, true},
		{"tags echoed as a list of k=v", "", "list", true, true},
		{"tags not echoed, description is", "", "none", false, true},
		{"nothing echoed: replaced, never duplicated", "", "none", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeIlum(t, tc.token)
			f.tagStyle, f.dropDescription = tc.tagStyle, tc.dropDescription
			c := New(f.srv.URL, tc.token)
			ctx := context.Background()
			spec := serviceSpec()

			// 1. Nothing there: create.
			g, err := c.EnsureService(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			calls := f.takeCalls()
			wantCalls(t, calls, "GET /api/v1/group/name/etl-svc", "POST /api/v1/group")
			checkAuth(t, calls, tc.token)
			create := calls[1]
			checkFileParts(t, create, "etl_service.py", serviceFile)
			for k, v := range map[string]string{
				"name": "etl-svc", "clusterName": "default", "kind": "JOB", "language": "PYTHON",
				"jobConfig": "spark.kubernetes.container.image=ilum/spark:4.1.1-delta", "pyRequirements": "pandas==2.0.0",
				"scale": "1", "autoPause": "false", "executors": "2", "driverMemory": "1g",
			} {
				if create.Form[k] != v {
					t.Errorf("create %s=%q, want %q", k, create.Form[k], v)
				}
			}
			if !strings.HasPrefix(create.Form["description"], "notebooks/etl.ipynb (nbpipe nbpipe-code=") ||
				!strings.Contains(create.Form["tags"], "team=data") || !strings.Contains(create.Form["tags"], "nbpipe-code=") {
				t.Errorf("create description %q tags %q: want the user's values and the fingerprints", create.Form["description"], create.Form["tags"])
			}
			if !g.Created || g.Replaced || g.Updated || g.ID != "group-0001" || g.Class != "etl_service.EtlService" ||
				g.URL != f.srv.URL+"/workloads/details/service/group-0001" {
				t.Errorf("first call: %+v", g)
			}

			// 2. The same spec again (a re-delivered push).
			g2, err := c.EnsureService(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			calls = f.takeCalls()
			if tc.idempotent {
				wantCalls(t, calls, "GET /api/v1/group/name/etl-svc")
				if g2.Created || g2.Updated || g2.Replaced || g2.ID != g.ID || g2.State != "ACTIVE" {
					t.Errorf("repeat: %+v, want the same group untouched", g2)
				}
			} else {
				wantCalls(t, calls, "GET /api/v1/group/name/etl-svc", "POST /api/v1/group/group-0001/stop",
					"DELETE /api/v1/group/group-0001", "POST /api/v1/group")
				if !g2.Replaced || !g2.Created {
					t.Errorf("repeat without fingerprints: %+v, want a replacement", g2)
				}
			}
			if len(f.groups) != 1 {
				t.Fatalf("%d groups on the server, want 1", len(f.groups))
			}
			if !tc.idempotent {
				return
			}

			// 3. Settings changed, same code: update in place.
			spec.Requirements = []string{"pandas==2.2.0", "pyarrow==15.0.0"}
			spec.Resources.ExecutorMemory = "4g"
			spec.Scale = 2
			g3, err := c.EnsureService(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			calls = f.takeCalls()
			wantCalls(t, calls, "GET /api/v1/group/name/etl-svc", "PUT /api/v1/group/group-0001")
			put := calls[1]
			for k, v := range map[string]string{"pyRequirements": "pandas==2.2.0;pyarrow==15.0.0", "executorMemory": "4g",
				"scale": "2", "jobConfig": "spark.kubernetes.container.image=ilum/spark:4.1.1-delta"} {
				if put.Form[k] != v {
					t.Errorf("update %s=%q, want %q", k, put.Form[k], v)
				}
			}
			if len(put.Files) != 0 {
				t.Errorf("update sent files")
			}
			if !g3.Updated || g3.Created || g3.ID != g.ID {
				t.Errorf("update: %+v", g3)
			}
			if _, err := c.EnsureService(ctx, spec); err != nil {
				t.Fatal(err)
			}
			wantCalls(t, f.takeCalls(), "GET /api/v1/group/name/etl-svc")

			// 4. Requirements removed: the update sends the empty field.
			spec.Requirements = nil
			if _, err := c.EnsureService(ctx, spec); err != nil {
				t.Fatal(err)
			}
			calls = f.takeCalls()
			wantCalls(t, calls, "GET /api/v1/group/name/etl-svc", "PUT /api/v1/group/group-0001")
			if v, ok := calls[1].Form["pyRequirements"]; !ok || v != "" {
				t.Errorf("update pyRequirements=%q (sent %v), want it sent empty", v, ok)
			}

			// 5. New code: the API cannot replace a group's files, so stop,
			// delete and create.
			spec.Content = append([]byte("# v2\n"), serviceFile...)
			g5, err := c.EnsureService(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			calls = f.takeCalls()
			wantCalls(t, calls, "GET /api/v1/group/name/etl-svc", "POST /api/v1/group/group-0001/stop",
				"DELETE /api/v1/group/group-0001", "POST /api/v1/group")
			checkFileParts(t, calls[3], "etl_service.py", spec.Content)
			if !g5.Created || !g5.Replaced || g5.ID == g.ID || len(f.groups) != 1 {
				t.Errorf("replacement: %+v, %d groups", g5, len(f.groups))
			}

			// 6. The new group runs the class.
			e, err := c.ExecuteService(ctx, g5.ID, g5.Class, spec.Config)
			if err != nil {
				t.Fatal(err)
			}
			calls = f.takeCalls()
			wantCalls(t, calls, "POST /api/v1/group/"+g5.ID+"/job/execute")
			checkAuth(t, calls, tc.token)
			if !strings.Contains(e.Result, `"day":"2026-05-01"`) {
				t.Errorf("result %q", e.Result)
			}
		})
	}
}

func TestContractEnsureServiceArchived(t *testing.T) {
	f := newFakeIlum(t, "")
	c := New(f.srv.URL, "")
	ctx := context.Background()
	g, err := c.EnsureService(ctx, serviceSpec())
	if err != nil {
		t.Fatal(err)
	}
	f.groups[g.ID].State = "ARCHIVED" // stopped by hand
	f.takeCalls()
	g2, err := c.EnsureService(ctx, serviceSpec())
	if err != nil {
		t.Fatal(err)
	}
	wantCalls(t, f.takeCalls(), "GET /api/v1/group/name/etl-svc", "DELETE /api/v1/group/"+g.ID, "POST /api/v1/group")
	if !g2.Replaced || !g2.Created || len(f.groups) != 1 {
		t.Errorf("%+v, %d groups", g2, len(f.groups))
	}
}

func TestContractEnsureServiceCreateConflict(t *testing.T) {
	ctx := context.Background()
	t.Run("the group of a lost answer is taken, not duplicated", func(t *testing.T) {
		f := newFakeIlum(t, "")
		c := New(f.srv.URL, "")
		g, err := c.EnsureService(ctx, serviceSpec())
		if err != nil {
			t.Fatal(err)
		}
		f.takeCalls()
		// The lookup misses it (a create racing this one): POST gets 409.
		f.failNext("GET", "/api/v1/group/name/etl-svc", 404, `{"message":"Group with name etl-svc not found"}`)
		g2, err := c.EnsureService(ctx, serviceSpec())
		if err != nil {
			t.Fatal(err)
		}
		wantCalls(t, f.takeCalls(), "GET /api/v1/group/name/etl-svc", "POST /api/v1/group", "GET /api/v1/group/name/etl-svc")
		if g2.ID != g.ID || g2.Created || len(f.groups) != 1 {
			t.Errorf("%+v, %d groups", g2, len(f.groups))
		}
	})
	t.Run("a different group of that name is an error", func(t *testing.T) {
		f := newFakeIlum(t, "")
		c := New(f.srv.URL, "")
		other := serviceSpec()
		other.Content = []byte("# someone else's\n")
		if _, err := c.EnsureService(ctx, other); err != nil {
			t.Fatal(err)
		}
		f.failNext("GET", "/api/v1/group/name/etl-svc", 404, `{"message":"not found"}`)
		_, err := c.EnsureService(ctx, serviceSpec())
		if err == nil || !Permanent(err) || !strings.Contains(err.Error(), "409") || !strings.Contains(err.Error(), "already exists") {
			t.Fatalf("err %v", err)
		}
		if len(f.groups) != 1 {
			t.Errorf("%d groups", len(f.groups))
		}
	})
	t.Run("a 5xx from the lookup stops before any change", func(t *testing.T) {
		f := newFakeIlum(t, "")
		c := New(f.srv.URL, "")
		f.failNext("GET", "/api/v1/group/name/etl-svc", 502, "bad gateway")
		_, err := c.EnsureService(ctx, serviceSpec())
		if err == nil || Permanent(err) || !strings.HasPrefix(err.Error(), "ilum: ensure service etl-svc: GET /api/v1/group/name/etl-svc: HTTP 502") {
			t.Fatalf("err %v", err)
		}
		wantCalls(t, f.takeCalls(), "GET /api/v1/group/name/etl-svc")
	})
}

func TestContractExecuteService(t *testing.T) {
	ctx := context.Background()
	f := newFakeIlum(t, testToken)
	c := New(f.srv.URL, testToken)
	g, err := c.EnsureService(ctx, serviceSpec())
	if err != nil {
		t.Fatal(err)
	}
	f.takeCalls()
	for _, tc := range []struct {
		name      string
		group     string
		class     string
		config    map[string]any
		execError string
		wantJSON  map[string]any
		check     func(t *testing.T, e Execution, err error)
	}{
		{
			name: "params passed as the jobConfig object", group: g.ID, class: g.Class,
			config:   map[string]any{"day": "2026-05-01", "limit": 5},
			wantJSON: map[string]any{"type": "interactive_job_execute", "jobClass": "etl_service.EtlService", "jobConfig": map[string]any{"day": "2026-05-01", "limit": float64(5)}},
			check: func(t *testing.T, e Execution, err error) {
				if err != nil {
					t.Fatal(err)
				}
				if e.InstanceID == "" || e.GroupID != g.ID || e.JobID == "" || e.Class != g.Class || e.Error != "" ||
					!strings.Contains(e.Result, `"limit":5`) || e.Start.IsZero() || e.End.Sub(e.Start) != 4*time.Second || e.URL != g.URL {
					t.Errorf("execution %+v", e)
				}
			},
		},
		{
			name: "nil config sends {}", group: g.ID, class: g.Class,
			wantJSON: map[string]any{"type": "interactive_job_execute", "jobClass": "etl_service.EtlService", "jobConfig": map[string]any{}},
			check: func(t *testing.T, e Execution, err error) {
				if err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "the job's failure", group: g.ID, class: g.Class, execError: "ValueError: bad day",
			wantJSON: map[string]any{"type": "interactive_job_execute", "jobClass": "etl_service.EtlService", "jobConfig": map[string]any{}},
			check: func(t *testing.T, e Execution, err error) {
				var ee *ExecutionError
				if !errors.As(err, &ee) || Permanent(err) || e.Error != "ValueError: bad day" || e.StackTrace == "" ||
					!strings.Contains(err.Error(), "ilum: execute etl_service.EtlService in group "+g.ID+": job failed: ValueError: bad day") {
					t.Errorf("err %v, execution %+v", err, e)
				}
			},
		},
		{
			name: "a class that is not in the uploaded module", group: g.ID, class: "EtlService",
			wantJSON: map[string]any{"type": "interactive_job_execute", "jobClass": "EtlService", "jobConfig": map[string]any{}},
			check: func(t *testing.T, e Execution, err error) {
				if err == nil || !strings.Contains(err.Error(), "ModuleNotFoundError") {
					t.Errorf("err %v", err)
				}
			},
		},
		{
			name: "unknown group", group: "nope", class: g.Class,
			wantJSON: map[string]any{"type": "interactive_job_execute", "jobClass": "etl_service.EtlService", "jobConfig": map[string]any{}},
			check: func(t *testing.T, e Execution, err error) {
				if !NotFound(err) || !Permanent(err) || strings.Contains(err.Error(), testToken) {
					t.Errorf("err %v", err)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.execError = tc.execError
			e, err := c.ExecuteService(ctx, tc.group, tc.class, tc.config)
			calls := f.takeCalls()
			wantCalls(t, calls, "POST /api/v1/group/"+tc.group+"/job/execute")
			checkAuth(t, calls, testToken)
			if calls[0].ContentType != "application/json" {
				t.Errorf("Content-Type %q", calls[0].ContentType)
			}
			if !reflect.DeepEqual(calls[0].JSON, tc.wantJSON) {
				t.Errorf("body\n got  %v\n want %v", calls[0].JSON, tc.wantJSON)
			}
			tc.check(t, e, err)
		})
	}
}

func scheduleSpec() ScheduleSpec {
	return ScheduleSpec{
		Name: "monthly-rollup", Cron: "0 2 1 * *", File: "monthly_rollup.py", Content: jobFile,
		Args:         []string{"--env=prod"},
		Params:       map[string]any{"month": "2026-05"},
		Requirements: []string{"pandas==2.0.0"},
		Resources:    Resources{ExecutorMemory: "2g", Conf: map[string]string{"spark.sql.shuffle.partitions": "4"}},
		Description:  "notebooks/monthly_rollup.ipynb",
	}
}

func TestContractEnsureSchedule(t *testing.T) {
	for _, token := range []string{"", testToken} {
		t.Run("token="+map[bool]string{true: "set", false: "none"}[token != ""], func(t *testing.T) {
			f := newFakeIlum(t, token)
			c := New(f.srv.URL, token)
			c.UIURL = "http://localhost:19777"
			ctx := context.Background()
			spec := scheduleSpec()

			s, err := c.EnsureSchedule(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			calls := f.takeCalls()
			wantCalls(t, calls, "GET /api/v1/schedule/name/monthly-rollup", "POST /api/v1/schedule")
			checkAuth(t, calls, token)
			checkFileParts(t, calls[1], "monthly_rollup.py", jobFile)
			for k, v := range map[string]string{
				"name": "monthly-rollup", "clusterName": "default", "language": "PYTHON", "cron": "0 2 1 * *",
				"jobClass": "monthly_rollup", "args": "--env=prod;--month=2026-05", "pyRequirements": "pandas==2.0.0",
				"jobConfig": "spark.sql.shuffle.partitions=4", "executorMemory": "2g", "maxRetries": "0",
			} {
				if calls[1].Form[k] != v {
					t.Errorf("create %s=%q, want %q", k, calls[1].Form[k], v)
				}
			}
			if !s.Created || s.ID != "schedule-0001" || s.URL != "http://localhost:19777/workloads/details/schedule/schedule-0001" {
				t.Errorf("create: %+v", s)
			}

			// Re-delivery: nothing but the lookup.
			s2, err := c.EnsureSchedule(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			wantCalls(t, f.takeCalls(), "GET /api/v1/schedule/name/monthly-rollup")
			if s2.Created || s2.Updated || s2.ID != s.ID || s2.State != "ENABLED" || len(f.schedules) != 1 {
				t.Errorf("repeat: %+v, %d schedules", s2, len(f.schedules))
			}

			// New cron and parameters: update in place.
			spec.Cron = "30 3 * * 1"
			spec.Params["month"] = "2026-06"
			s3, err := c.EnsureSchedule(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			calls = f.takeCalls()
			wantCalls(t, calls, "GET /api/v1/schedule/name/monthly-rollup", "PUT /api/v1/schedule/"+s.ID)
			if calls[1].Form["cron"] != "30 3 * * 1" || calls[1].Form["args"] != "--env=prod;--month=2026-06" || len(calls[1].Files) != 0 {
				t.Errorf("update form %v", calls[1].Form)
			}
			if !s3.Updated || s3.ID != s.ID || f.schedules[s.ID].Cron != "30 3 * * 1" {
				t.Errorf("update: %+v", s3)
			}
			if _, err := c.EnsureSchedule(ctx, spec); err != nil {
				t.Fatal(err)
			}
			wantCalls(t, f.takeCalls(), "GET /api/v1/schedule/name/monthly-rollup")

			// New job file, schedule paused by an operator: replaced, and
			// paused again.
			f.schedules[s.ID].State = "PAUSED"
			spec.Content = []byte("# v2\nprint('rollup')\n")
			s4, err := c.EnsureSchedule(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			calls = f.takeCalls()
			wantCalls(t, calls, "GET /api/v1/schedule/name/monthly-rollup", "DELETE /api/v1/schedule/"+s.ID,
				"POST /api/v1/schedule", "POST /api/v1/schedule/"+s4.ID+"/pause")
			checkFileParts(t, calls[2], "monthly_rollup.py", spec.Content)
			if !s4.Replaced || !s4.Created || s4.ID == s.ID || s4.State != "PAUSED" || len(f.schedules) != 1 || f.schedules[s4.ID].State != "PAUSED" {
				t.Errorf("replacement: %+v, %d schedules", s4, len(f.schedules))
			}
		})
	}
}

func TestContractEnsureScheduleConflictTakesOwnSchedule(t *testing.T) {
	f := newFakeIlum(t, "")
	c := New(f.srv.URL, "")
	ctx := context.Background()
	s, err := c.EnsureSchedule(ctx, scheduleSpec())
	if err != nil {
		t.Fatal(err)
	}
	f.takeCalls()
	f.failNext("GET", "/api/v1/schedule/name/monthly-rollup", 404, `{"message":"not found"}`)
	s2, err := c.EnsureSchedule(ctx, scheduleSpec())
	if err != nil {
		t.Fatal(err)
	}
	wantCalls(t, f.takeCalls(), "GET /api/v1/schedule/name/monthly-rollup", "POST /api/v1/schedule", "GET /api/v1/schedule/name/monthly-rollup")
	if s2.ID != s.ID || s2.Created || len(f.schedules) != 1 {
		t.Errorf("%+v, %d schedules", s2, len(f.schedules))
	}
}

func TestPermanent(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{&StatusError{Status: 400}, true},
		{&StatusError{Status: 401}, true},
		{&StatusError{Status: 402}, true},
		{&StatusError{Status: 404}, true},
		{&StatusError{Status: 408}, false},
		{&StatusError{Status: 409}, true},
		{&StatusError{Status: 425}, false},
		{&StatusError{Status: 429}, false},
		{&StatusError{Status: 500}, false},
		{&StatusError{Status: 503}, false},
		{invalid("x"), true},
		{ErrBadResponse, true},
		{&ExecutionError{Message: "boom"}, false},
		{context.DeadlineExceeded, false},
		{errors.New("connection refused"), false},
	} {
		wrapped := tc.err
		if wrapped != nil {
			wrapped = errors.Join(errors.New("ctx"), tc.err)
		}
		if got := Permanent(wrapped); got != tc.want {
			t.Errorf("Permanent(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	if !strings.Contains((&StatusError{Method: http.MethodGet, Path: "/p", Status: 404, Message: "gone"}).Error(), "GET /p: HTTP 404 Not Found: gone") {
		t.Error("StatusError text")
	}
}

func TestResourcesFromSession(t *testing.T) {
	got := ResourcesFromSession(map[string]any{
		"kind": "pyspark", "driverMemory": "2g", "executorMemory": "4g", "numExecutors": 3,
		"driverCores": float64(2), "executorCores": "1", "queue": "ignored",
		"conf": map[string]any{"spark.kubernetes.container.image": "ilum/spark:4.1.1-delta", "spark.dynamicAllocation.enabled": true},
	})
	want := Resources{DriverMemory: "2g", ExecutorMemory: "4g", NumExecutors: 3, DriverCores: 2, ExecutorCores: 1,
		Conf: map[string]string{"spark.kubernetes.container.image": "ilum/spark:4.1.1-delta", "spark.dynamicAllocation.enabled": "true"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if r := ResourcesFromSession(nil); !reflect.DeepEqual(r, Resources{}) {
		t.Errorf("nil session: %+v", r)
	}
}

func TestParamArgsAndClass(t *testing.T) {
	got, err := ParamArgs(map[string]any{"b": 1.5, "a": "x y", "c": nil, "d": map[string]any{"k": 1}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"--a=x y", "--b=1.5", "--c=null", `--d={"k":1}`}; !slices.Equal(got, want) {
		t.Errorf("ParamArgs = %q, want %q", got, want)
	}
	for _, tc := range [][3]string{
		{"etl_service.py", "EtlService", "etl_service.EtlService"},
		{"etl_service.py", "pkg.mod.EtlService", "pkg.mod.EtlService"},
		{"", "EtlService", "EtlService"},
		{"etl-daily.v2_service.py", "EtlDailyV2Service", "etl_daily_v2_service.EtlDailyV2Service"},
		{"2026_report_service.py", "Nb2026ReportService", "_2026_report_service.Nb2026ReportService"},
	} {
		if got := ServiceJobClass(tc[0], tc[1]); got != tc[2] {
			t.Errorf("ServiceJobClass(%q, %q) = %q, want %q", tc[0], tc[1], got, tc[2])
		}
	}
}
