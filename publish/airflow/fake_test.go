package airflow

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeAirflow is a test server with just enough of the Airflow 3 REST API
// (in memory, on a fake clock) to drive Deploy through its branches fast.
// The behaviours it imitates were seen on the real Airflow 3.3.2 (see
// TestRealAirflow): trigger answers 200 and 409 for a known run id; unpausing
// a scheduled DAG whose next run time passed starts a scheduled run; a
// reparse fetches the whole bundle.
type fakeAirflow struct {
	t   *testing.T
	mu  sync.Mutex
	now time.Time

	dags    map[string]*DAG
	errors  []ImportError
	runs    map[string][]Run
	pools   map[string]int
	calls   []string
	bodies  map[string][]map[string]any
	nextErr int

	// onReparse runs (locked) when a reparse is asked for.
	onReparse func(f *fakeAirflow)
	// onSleep runs (locked) whenever the client sleeps, after the clock moved.
	onSleep func(f *fakeAirflow)
}

func newFake(t *testing.T) (*fakeAirflow, *Client) {
	f := &fakeAirflow{
		t:      t,
		now:    time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC),
		dags:   map[string]*DAG{},
		runs:   map[string][]Run{},
		pools:  map[string]int{"default_pool": 128},
		bodies: map[string][]map[string]any{},
	}
	srv := httptest.NewServer(f.handler())
	t.Cleanup(srv.Close)
	c := New(srv.URL, TokenAuth("test-token"))
	c.Now = func() time.Time {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.now
	}
	c.Sleep = func(ctx context.Context, d time.Duration) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.now = f.now.Add(d)
		if f.onSleep != nil {
			f.onSleep(f)
		}
		return ctx.Err()
	}
	return f, c
}

func (f *fakeAirflow) count(prefix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

func (f *fakeAirflow) callsOf(method string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		if strings.HasPrefix(c, method+" ") {
			out = append(out, c)
		}
	}
	return out
}

// addDAG puts a DAG of bundle "nbpipe" parsed now at version.
func (f *fakeAirflow) addDAG(id, file, version string, paused bool) *DAG {
	t := f.now
	d := &DAG{DagID: id, IsPaused: paused, BundleName: "nbpipe", BundleVersion: version, RelativeFileloc: file,
		FileToken: "tok-" + id, LastParsedTime: &t}
	f.dags[id] = d
	return d
}

// moveBundle: every DAG of the bundle is parsed anew at version (what a
// bundle refresh does).
func (f *fakeAirflow) moveBundle(version string) {
	t := f.now
	for _, d := range f.dags {
		d.BundleVersion = version
		d.LastParsedTime = &t
	}
}

func (f *fakeAirflow) writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (f *fakeAirflow) handler() http.Handler {
	mux := http.NewServeMux()
	notFound := func(w http.ResponseWriter, what string) {
		f.writeJSON(w, 404, map[string]string{"detail": what + " was not found"})
	}
	mux.HandleFunc("GET /api/v2/dags/{id}", func(w http.ResponseWriter, r *http.Request) {
		d, ok := f.dags[r.PathValue("id")]
		if !ok {
			notFound(w, "DAG")
			return
		}
		f.writeJSON(w, 200, d)
	})
	mux.HandleFunc("GET /api/v2/dags", func(w http.ResponseWriter, r *http.Request) {
		var list []*DAG
		for _, d := range f.dags {
			if b := r.URL.Query().Get("bundle_name"); b == "" || b == d.BundleName {
				list = append(list, d)
			}
		}
		f.writeJSON(w, 200, map[string]any{"dags": list, "total_entries": len(list)})
	})
	mux.HandleFunc("PATCH /api/v2/dags/{id}", func(w http.ResponseWriter, r *http.Request) {
		d, ok := f.dags[r.PathValue("id")]
		if !ok {
			notFound(w, "DAG")
			return
		}
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		if r.URL.Query().Get("update_mask") != "is_paused" {
			f.t.Errorf("PATCH dag without update_mask=is_paused: %s", r.URL.RawQuery)
		}
		wasPaused := d.IsPaused
		d.IsPaused = body["is_paused"].(bool)
		if wasPaused && !d.IsPaused && d.TimetableSummary != "" && d.NextDagrunRunAfter != nil && !d.NextDagrunRunAfter.After(f.now) {
			// What Airflow does: a scheduled DAG starts the run that is due.
			id := "scheduled__" + d.NextDagrunRunAfter.Format(time.RFC3339)
			q := f.now
			f.runs[d.DagID] = append(f.runs[d.DagID], Run{DagRunID: id, DagID: d.DagID, State: "queued", RunType: "scheduled", QueuedAt: &q})
		}
		f.writeJSON(w, 200, d)
	})
	mux.HandleFunc("PUT /api/v2/parseDagFile/{tok}", func(w http.ResponseWriter, r *http.Request) {
		if f.onReparse != nil {
			f.onReparse(f)
		}
		w.WriteHeader(201)
	})
	mux.HandleFunc("GET /api/v2/importErrors", func(w http.ResponseWriter, r *http.Request) {
		f.writeJSON(w, 200, map[string]any{"import_errors": f.errors, "total_entries": len(f.errors)})
	})
	mux.HandleFunc("POST /api/v2/dags/{id}/dagRuns", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		f.bodies[id] = append(f.bodies[id], body)
		if _, ok := body["logical_date"]; !ok {
			f.writeJSON(w, 422, map[string]any{"detail": []map[string]any{{"loc": []string{"body", "logical_date"}, "msg": "Field required", "input": body}}})
			return
		}
		runID, _ := body["dag_run_id"].(string)
		if runID == "" {
			runID = fmt.Sprintf("manual__%d", len(f.runs[id]))
		}
		for _, run := range f.runs[id] {
			if run.DagRunID == runID {
				f.writeJSON(w, 409, map[string]string{"detail": "DAG Run already exists"})
				return
			}
		}
		note, _ := body["note"].(string)
		conf, _ := body["conf"].(map[string]any)
		q := f.now
		run := Run{DagRunID: runID, DagID: id, State: "queued", RunType: "manual", QueuedAt: &q, Note: note, Conf: conf}
		f.runs[id] = append(f.runs[id], run)
		f.writeJSON(w, 200, run)
	})
	mux.HandleFunc("GET /api/v2/dags/{id}/dagRuns/{run}", func(w http.ResponseWriter, r *http.Request) {
		for _, run := range f.runs[r.PathValue("id")] {
			if run.DagRunID == r.PathValue("run") {
				f.writeJSON(w, 200, run)
				return
			}
		}
		notFound(w, "DagRun")
	})
	mux.HandleFunc("PATCH /api/v2/dags/{id}/dagRuns/{run}", func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		runs := f.runs[r.PathValue("id")]
		for i := range runs {
			if runs[i].DagRunID == r.PathValue("run") {
				runs[i].Note, _ = body["note"].(string)
				f.writeJSON(w, 200, runs[i])
				return
			}
		}
		notFound(w, "DagRun")
	})
	mux.HandleFunc("GET /api/v2/dags/{id}/dagRuns", func(w http.ResponseWriter, r *http.Request) {
		var list []Run
		types := r.URL.Query()["run_type"]
		runs := f.runs[r.PathValue("id")]
		for i := len(runs) - 1; i >= 0; i-- { // newest first
			if len(types) == 0 || strings.Contains(strings.Join(types, ","), runs[i].RunType) {
				list = append(list, runs[i])
			}
		}
		f.writeJSON(w, 200, map[string]any{"dag_runs": list, "total_entries": len(list)})
	})
	mux.HandleFunc("GET /api/v2/pools/{name}", func(w http.ResponseWriter, r *http.Request) {
		slots, ok := f.pools[r.PathValue("name")]
		if !ok {
			notFound(w, "Pool")
			return
		}
		f.writeJSON(w, 200, Pool{Name: r.PathValue("name"), Slots: slots})
	})
	mux.HandleFunc("POST /api/v2/pools", func(w http.ResponseWriter, r *http.Request) {
		var p Pool
		json.NewDecoder(r.Body).Decode(&p)
		if _, ok := f.pools[p.Name]; ok {
			f.writeJSON(w, 409, map[string]string{"detail": "exists"})
			return
		}
		f.pools[p.Name] = p.Slots
		f.writeJSON(w, 201, p)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer test-token" {
			f.t.Errorf("%s %s without the bearer token", r.Method, r.URL.Path)
		}
		f.calls = append(f.calls, r.Method+" "+r.URL.Path)
		if f.nextErr != 0 {
			w.WriteHeader(f.nextErr)
			io.WriteString(w, `{"detail":"injected"}`)
			f.nextErr = 0
			return
		}
		mux.ServeHTTP(w, r)
	})
}
