package airflow

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	c1 = "1111111111111111111111111111111111111111"
	c2 = "2222222222222222222222222222222222222222"
	c3 = "3333333333333333333333333333333333333333"
	c4 = "4444444444444444444444444444444444444444"
)

func stepNames(o Outcome) []string {
	var s []string
	for _, st := range o.Steps {
		s = append(s, st.Name)
	}
	return s
}

func findStep(o Outcome, name string) Step {
	for _, st := range o.Steps {
		if st.Name == name {
			return st
		}
	}
	return Step{}
}

// The new DAG is unknown, so Deploy nudges with another DAG of the bundle,
// and accepts neither an intermediate commit nor anything but Commit.
func TestDeployNudgesUntilExactCommitWithFakeAirflow(t *testing.T) {
	f, c := newFake(t)
	f.addDAG("seed", "seed.py", c1, true)
	reparses := 0
	f.onReparse = func(f *fakeAirflow) {
		reparses++
		switch reparses {
		case 1:
			f.moveBundle(c2) // an older push arrived first
		case 2:
			f.moveBundle(c3)
			f.addDAG("new", "pipelines/new.py", c3, true)
		}
	}
	out, err := c.Deploy(context.Background(), Deployment{
		DagID: "new", File: "pipelines/new.py", Bundle: "nbpipe", Commit: c3, PublishedAt: f.now,
		Unpause: true, Trigger: true, RunID: "nbpipe-1", Conf: map[string]any{"a": 1.0}, Note: "from nbpipe",
	})
	if err != nil {
		t.Fatal(err)
	}
	if out.BundleVersion != c3 || out.RunID != "nbpipe-1" || out.Existing || out.Adopted {
		t.Errorf("outcome %+v", out)
	}
	if !strings.HasSuffix(out.RunURL, "/dags/new/runs/nbpipe-1") {
		t.Errorf("RunURL %s", out.RunURL)
	}
	if got := stepNames(out); !slices.Equal(got, []string{"load", "unpause", "trigger"}) {
		t.Errorf("steps %v", got)
	}
	if reparses != 2 || f.count("PUT /api/v2/parseDagFile/tok-seed") != 2 {
		t.Errorf("reparses %d, calls %v", reparses, f.callsOf("PUT"))
	}
	if s := findStep(out, "load"); s.Seconds != 6 || !strings.Contains(s.Detail, "333333333333") {
		t.Errorf("load step %+v (want 6 s on the fake clock: the 2nd nudge at 5 s, seen at the next look)", s)
	}
	b := f.bodies["new"][0]
	if v, ok := b["logical_date"]; !ok || v != nil {
		t.Errorf("trigger body %v: logical_date must be present and null", b)
	}
	if b["dag_run_id"] != "nbpipe-1" || b["note"] != "from nbpipe" || b["conf"].(map[string]any)["a"] != 1.0 {
		t.Errorf("trigger body %v", b)
	}
	patch, post := slices.Index(f.calls, "PATCH /api/v2/dags/new"), slices.Index(f.calls, "POST /api/v2/dags/new/dagRuns")
	if patch < 0 || post < patch {
		t.Errorf("unpause must come before the trigger: %v", f.calls)
	}
}

func TestDeployWaitsWithFakeAirflow(t *testing.T) {
	cases := []struct {
		name     string
		setup    func(f *fakeAirflow)
		d        Deployment
		wantErr  error
		errHas   []string
		reparses int
		loadSecs float64
	}{
		{
			name: "bundle version past the commit (Contains)",
			setup: func(f *fakeAirflow) {
				f.addDAG("new", "new.py", c1, false)
				f.onReparse = func(f *fakeAirflow) { f.moveBundle(c4) }
			},
			d:        Deployment{Contains: func(v string) bool { return v == c3 || v == c4 }},
			reparses: 1, loadSecs: 1,
		},
		{
			name: "empty bundle waits for the refresh interval, no nudge",
			setup: func(f *fakeAirflow) {
				start := f.now
				f.onSleep = func(f *fakeAirflow) {
					if f.now.Sub(start) >= 30*time.Second && f.dags["new"] == nil {
						f.addDAG("new", "new.py", c3, false)
					}
				}
			},
			reparses: 0, loadSecs: 30,
		},
		{
			name:    "empty bundle timeout says why",
			d:       Deployment{LoadTimeout: 10 * time.Second},
			wantErr: ErrNotLoaded,
			errHas:  []string{"DAG new not known to Airflow yet", "knows no DAG of bundle nbpipe", "refresh_interval", "after 10s"},
		},
		{
			name:     "old version timeout says what was seen",
			setup:    func(f *fakeAirflow) { f.addDAG("new", "new.py", c1, false) },
			d:        Deployment{LoadTimeout: 12 * time.Second},
			wantErr:  ErrNotLoaded,
			errHas:   []string{"DAG new at 111111111111, waiting for 333333333333"},
			reparses: 3,
		},
		{
			name: "unknown DAG timeout names the bundle's version",
			setup: func(f *fakeAirflow) {
				f.addDAG("seed", "seed.py", c2, false)
			},
			d:        Deployment{LoadTimeout: 3 * time.Second},
			wantErr:  ErrNotLoaded,
			errHas:   []string{"bundle nbpipe at 222222222222, waiting for 333333333333"},
			reparses: 1,
		},
		{
			name: "bundle without versions: parsed after the publish",
			setup: func(f *fakeAirflow) {
				f.addDAG("new", "new.py", "", false)
				f.onReparse = func(f *fakeAirflow) {
					t := f.now.Add(time.Second)
					f.dags["new"].LastParsedTime = &t
				}
			},
			d:        Deployment{PublishedAt: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)},
			reparses: 1, loadSecs: 1,
		},
		{
			name: "new import error",
			setup: func(f *fakeAirflow) {
				f.addDAG("seed", "seed.py", c1, false)
				f.onReparse = func(f *fakeAirflow) {
					f.moveBundle(c3)
					f.errors = []ImportError{{ID: 7, Timestamp: f.now.Add(time.Second), Filename: "new.py", BundleName: "nbpipe",
						StackTrace: "Traceback (most recent call last):\n" + strings.Repeat("  frame\n", 20) + "ModuleNotFoundError: No module named 'not_a_module'\n"}}
				}
			},
			errHas:   []string{"new.py (bundle nbpipe) fails to import", "Traceback", "(7 more lines)"},
			reparses: 1,
		},
		{
			name: "a lingering import error the commit fixes is not blamed on it",
			setup: func(f *fakeAirflow) {
				f.addDAG("seed", "seed.py", c1, false)
				f.errors = []ImportError{{ID: 3, Timestamp: f.now.Add(-time.Minute), Filename: "new.py", BundleName: "nbpipe", StackTrace: "old error"}}
				f.onSleep = func(f *fakeAirflow) {
					if len(f.errors) > 0 {
						f.errors[0].Timestamp = f.now // the old version parsed again
					}
				}
				reparses := 0
				f.onReparse = func(f *fakeAirflow) {
					if reparses++; reparses == 3 {
						f.moveBundle(c3)
						f.errors = nil
						f.addDAG("new", "new.py", c3, false)
					}
				}
			},
			reparses: 3, loadSecs: 11,
		},
		{
			name: "a lingering import error with another trace after the publish is the new one",
			setup: func(f *fakeAirflow) {
				f.addDAG("seed", "seed.py", c1, false)
				f.errors = []ImportError{{ID: 3, Timestamp: f.now.Add(-time.Minute), Filename: "new.py", BundleName: "nbpipe", StackTrace: "old error"}}
				f.onSleep = func(f *fakeAirflow) {
					if f.now.Sub(f.errors[0].Timestamp) > 3*time.Second {
						f.errors[0].Timestamp = f.now
						f.errors[0].StackTrace = "NameError: the new error"
					}
				}
			},
			errHas:   []string{"NameError: the new error"},
			reparses: 1,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, c := newFake(t)
			if tc.setup != nil {
				tc.setup(f)
			}
			d := tc.d
			d.DagID, d.File, d.Bundle, d.Commit, d.Trigger, d.RunID = "new", "new.py", "nbpipe", c3, true, "r1"
			if d.PublishedAt.IsZero() {
				d.PublishedAt = f.now
			}
			out, err := c.Deploy(context.Background(), d)
			if len(tc.errHas) > 0 || tc.wantErr != nil {
				if err == nil {
					t.Fatalf("no error; outcome %+v", out)
				}
				if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
					t.Errorf("error %v is not %v", err, tc.wantErr)
				}
				for _, s := range tc.errHas {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error lacks %q:\n%v", s, err)
					}
				}
				if f.count("POST /api/v2/dags/new/dagRuns") != 0 {
					t.Error("triggered despite the error")
				}
			} else if err != nil {
				t.Fatal(err)
			} else if s := findStep(out, "load"); s.Seconds != tc.loadSecs {
				t.Errorf("load took %v s on the fake clock, want %v", s.Seconds, tc.loadSecs)
			}
			if n := f.count("PUT /api/v2/parseDagFile/"); n != tc.reparses {
				t.Errorf("%d reparse requests, want %d", n, tc.reparses)
			}
		})
	}
}

func TestDeployImportErrorIsTyped(t *testing.T) {
	f, c := newFake(t)
	f.errors = []ImportError{{ID: 1, Timestamp: f.now.Add(time.Second), Filename: "new.py", BundleName: "nbpipe", StackTrace: "boom"}}
	_, err := c.Deploy(context.Background(), Deployment{DagID: "new", File: "new.py", Bundle: "nbpipe", Commit: c3, PublishedAt: f.now, Trigger: true})
	var ie *ImportError
	if !errors.As(err, &ie) || ie.StackTrace != "boom" || ie.Filename != "new.py" {
		t.Fatalf("err = %v", err)
	}
}

// The unpause/trigger branches: which calls are made and which runs exist.
func TestDeployUnpauseTriggerWithFakeAirflow(t *testing.T) {
	past := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	future := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name        string
		paused      bool
		timetable   string
		next        *time.Time
		d           Deployment
		wantSteps   []string
		wantRuns    []string // run types, oldest first
		adopted     bool
		detailHas   string
		noDAGPatch  bool
		triggerSent bool
	}{
		{name: "unscheduled paused: unpause then trigger", paused: true,
			d: Deployment{Unpause: true, Trigger: true}, wantSteps: []string{"load", "unpause", "trigger"}, wantRuns: []string{"manual"}, triggerSent: true},
		{name: "scheduled paused due: adopt the scheduler's run", paused: true, timetable: "0 0 * * *", next: &past,
			d: Deployment{Scheduled: true, Unpause: true, Trigger: true, Note: "deployed by nbpipe"}, wantSteps: []string{"load", "unpause", "adopt"}, wantRuns: []string{"scheduled"}, adopted: true,
			detailHas: "adopted the scheduled run scheduled__2026-11-30T00:00:00Z"},
		{name: "scheduled paused due with conf: both runs", paused: true, timetable: "0 0 * * *", next: &past,
			d: Deployment{Scheduled: true, Unpause: true, Trigger: true, Conf: map[string]any{"k": "v"}}, wantSteps: []string{"load", "unpause", "trigger"}, wantRuns: []string{"scheduled", "manual"},
			detailHas: "cannot carry conf", triggerSent: true},
		{name: "scheduled paused, next run in the future: unpause then trigger", paused: true, timetable: "0 0 * * *", next: &future,
			d: Deployment{Scheduled: true, Unpause: true, Trigger: true}, wantSteps: []string{"load", "unpause", "trigger"}, wantRuns: []string{"manual"}, triggerSent: true},
		{name: "scheduled already unpaused: trigger", paused: false, timetable: "0 0 * * *", next: &past,
			d: Deployment{Scheduled: true, Unpause: true, Trigger: true}, wantSteps: []string{"load", "trigger"}, wantRuns: []string{"manual"}, noDAGPatch: true, triggerSent: true},
		{name: "paused, trigger without unpause: queued", paused: true,
			d: Deployment{Trigger: true}, wantSteps: []string{"load", "trigger"}, wantRuns: []string{"manual"}, noDAGPatch: true, triggerSent: true,
			detailHas: "stays queued until it is unpaused"},
		{name: "unpause only, scheduled: the scheduler's run", paused: true, timetable: "0 0 * * *", next: &past,
			d: Deployment{Scheduled: true, Unpause: true}, wantSteps: []string{"load", "unpause"}, wantRuns: []string{"scheduled"}},
		{name: "neither", paused: true, d: Deployment{}, wantSteps: []string{"load"}, noDAGPatch: true},
		{name: "no scheduled run appears: trigger after the adopt wait", paused: true, next: &past,
			d: Deployment{Scheduled: true, Unpause: true, Trigger: true}, wantSteps: []string{"load", "unpause", "adopt", "trigger"}, wantRuns: []string{"manual"}, triggerSent: true,
			detailHas: "no scheduled run within 30s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, c := newFake(t)
			dag := f.addDAG("d", "d.py", c3, tc.paused)
			dag.TimetableSummary, dag.NextDagrunRunAfter = tc.timetable, tc.next
			d := tc.d
			d.DagID, d.File, d.Bundle, d.Commit, d.PublishedAt, d.RunID = "d", "d.py", "nbpipe", c3, f.now, "nbpipe-7"
			out, err := c.Deploy(context.Background(), d)
			if err != nil {
				t.Fatal(err)
			}
			if got := stepNames(out); !slices.Equal(got, tc.wantSteps) {
				t.Errorf("steps %v, want %v (%+v)", got, tc.wantSteps, out.Steps)
			}
			var types []string
			for _, r := range f.runs["d"] {
				types = append(types, r.RunType)
			}
			if !slices.Equal(types, tc.wantRuns) {
				t.Errorf("runs %v, want %v", types, tc.wantRuns)
			}
			if out.Adopted != tc.adopted {
				t.Errorf("Adopted = %v", out.Adopted)
			}
			if (f.count("POST /api/v2/dags/d/dagRuns") > 0) != tc.triggerSent {
				t.Errorf("trigger sent: %v, want %v", !tc.triggerSent, tc.triggerSent)
			}
			if tc.noDAGPatch && f.count("PATCH /api/v2/dags/d") > 0 {
				t.Errorf("unexpected PATCH: %v", f.callsOf("PATCH"))
			}
			if tc.detailHas != "" {
				var all []string
				for _, s := range out.Steps {
					all = append(all, s.Detail)
				}
				if !strings.Contains(strings.Join(all, " | "), tc.detailHas) {
					t.Errorf("step details %q lack %q", all, tc.detailHas)
				}
			}
			if len(tc.wantRuns) > 0 && d.Trigger {
				if out.RunID == "" || out.RunURL == "" {
					t.Errorf("outcome %+v without the run", out)
				}
			}
			if tc.adopted {
				note := f.runs["d"][0].Note
				if note != "deployed by nbpipe\n\nnbpipe run id: nbpipe-7" {
					t.Errorf("adopted run's note %q", note)
				}
			}

			// The same Deploy again (a re-delivered push) starts nothing.
			if !d.Trigger {
				return
			}
			before := len(f.runs["d"])
			posts := f.count("POST /api/v2/dags/d/dagRuns")
			again, err := c.Deploy(context.Background(), d)
			if err != nil {
				t.Fatal(err)
			}
			if !again.Existing || again.RunID != out.RunID || again.Adopted != out.Adopted {
				t.Errorf("second deploy %+v, first %+v", again, out)
			}
			if len(f.runs["d"]) != before || f.count("POST /api/v2/dags/d/dagRuns") != posts {
				t.Errorf("the second deploy started a run: %d -> %d runs", before, len(f.runs["d"]))
			}
		})
	}
}

func TestDeployPoolsWithFakeAirflow(t *testing.T) {
	f, c := newFake(t)
	f.addDAG("d", "d.py", c3, false)
	d := Deployment{DagID: "d", File: "d.py", Commit: c3, Trigger: true, RunID: "r", Pools: []string{"default_pool", "spark"}}
	_, err := c.Deploy(context.Background(), d)
	if !errors.Is(err, ErrPoolMissing) || !strings.Contains(err.Error(), `"spark"`) || !strings.Contains(err.Error(), "never schedules") {
		t.Fatalf("err = %v", err)
	}
	if f.count("POST ") != 0 {
		t.Errorf("calls %v", f.callsOf("POST"))
	}
	d.CreatePools = true
	out, err := c.Deploy(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	if f.pools["spark"] != NewPoolSlots || f.pools["default_pool"] != 128 {
		t.Errorf("pools %v", f.pools)
	}
	if s := findStep(out, "pools"); s.Detail != "pool default_pool exists; created pool spark with 1 slot" {
		t.Errorf("pools step %+v", s)
	}
	if out.RunID != "r" {
		t.Errorf("outcome %+v", out)
	}
}

func TestDeployFailsFastOnForbiddenWithFakeAirflow(t *testing.T) {
	f, c := newFake(t)
	f.nextErr = 403
	_, err := c.Deploy(context.Background(), Deployment{DagID: "d", Commit: c3, Trigger: true})
	if !errors.Is(err, ErrForbidden) || errors.Is(err, ErrAuthRefused) {
		t.Fatalf("err = %v", err)
	}
	if len(f.calls) != 1 {
		t.Errorf("calls %v", f.calls)
	}
}

func TestDeployRetriesServerErrorsWithFakeAirflow(t *testing.T) {
	f, c := newFake(t)
	f.addDAG("d", "d.py", c3, false)
	f.nextErr = 503
	out, err := c.Deploy(context.Background(), Deployment{DagID: "d", Commit: c3})
	if err != nil {
		t.Fatal(err)
	}
	if out.BundleVersion != c3 {
		t.Errorf("outcome %+v", out)
	}
}
