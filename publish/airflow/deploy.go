package airflow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

var (
	// ErrNotLoaded: Airflow did not show the deployed version of the DAG
	// within Deployment.LoadTimeout. The message says what was seen.
	ErrNotLoaded = errors.New("the deployed version is not loaded by Airflow")
	// ErrPoolMissing: a pool the DAG uses does not exist and
	// Deployment.CreatePools is off.
	ErrPoolMissing = errors.New("pool does not exist")
	// ErrRunTimeout: WaitRun gave up before the run ended.
	ErrRunTimeout = errors.New("run did not finish in time")
)

// NewPoolSlots is the size of a pool Deploy creates. A pool caps how many
// tasks use a shared resource at once, and nbpipe cannot know that
// resource's capacity: one slot is the cautious cap that still lets every
// task run (one after another). An operator raises it in Airflow; Deploy
// never changes an existing pool.
const NewPoolSlots = 1

// runIDMarker goes into the note of a scheduled run Deploy adopts, so that
// a repeated Deploy with the same RunID finds it and starts nothing.
const runIDMarker = "nbpipe run id: "

// Deployment is what Deploy does after a DAG file was published.
type Deployment struct {
	DagID  string
	File   string // path of the DAG file relative to the bundle root (the repo root for GitDagBundle)
	Bundle string // bundle name; "" = any
	Commit string // target commit that contains the file
	// Contains reports whether bundleVersion (a commit Airflow parsed)
	// includes Commit (the caller checks git ancestry); nil = equality.
	Contains    func(bundleVersion string) bool
	PublishedAt time.Time // when the commit was pushed (for bundles without versions, and import errors)
	// NewFile says the file did not exist before Commit: any import error
	// of it stamped after PublishedAt is the new version's (no old version
	// can be re-stamped), even when a restarted deployment first sees it.
	NewFile     bool
	Scheduled   bool // the DAG has a schedule (Airflow's own view counts too)
	Unpause     bool
	Trigger     bool
	Pools       []string // pools the DAG's tasks use
	CreatePools bool     // create missing ones (NewPoolSlots slots) instead of failing
	RunID       string   // the run's id; also what makes a repeated Deploy start nothing
	Conf        map[string]any
	Note        string
	LoadTimeout time.Duration // bounded wait for Airflow to have this version (default 3 min)
}

// Step is one timed step of Deploy, for the caller's report.
type Step struct {
	Name    string // load, pools, unpause, trigger, adopt
	Seconds float64
	Detail  string
}

// Outcome is what Deploy did.
type Outcome struct {
	BundleVersion string // the bundle version Airflow parsed the DAG at
	RunID         string // the run of this deployment, "" if none
	RunURL        string
	Existing      bool // the run existed already (a repeated Deploy); nothing was started
	Adopted       bool // the run is the one the scheduler started on unpause, not a triggered one
	Steps         []Step
}

// Deploy runs the sequence that follows a publish:
//
//  1. Wait (at most LoadTimeout) until GET /dags/{id} shows a bundle_version
//     that Contains(Commit) (for a bundle without versions: a last_parsed_time
//     after PublishedAt). Meanwhile, every NudgeInterval, ask for a reparse
//     with the file_token of this DAG or, while Airflow does not know it yet,
//     of another DAG of the same bundle: that makes the dag-processor fetch
//     the bundle now rather than at its refresh_interval. Only a bundle of
//     which Airflow knows no DAG at all waits for the interval. The file's
//     import errors are checked on every round: one that belongs to the new
//     version ends the wait with an *ImportError and nothing is started.
//     Timeout: an error wrapping ErrNotLoaded that says what was seen.
//  2. Pools: each missing one is created (CreatePools) or is an error
//     wrapping ErrPoolMissing.
//  3. Unpause and trigger so that Airflow ends up with exactly the runs that
//     were asked for. Unpausing a scheduled DAG (catchup=False) whose next
//     run time has passed makes the scheduler start a run at once, so
//     unpause-then-trigger would give two:
//     - a run with RunID exists already (or an adopted one carries it in its
//     note): nothing is started, Outcome.Existing;
//     - not paused, or Unpause not asked: trigger (a paused DAG keeps the
//     run queued; the step says so);
//     - paused, Unpause asked, and the scheduler will start a run (Airflow
//     shows a next run time that has passed), no Conf: unpause and adopt the
//     scheduled run that appears (Outcome.Adopted; its note gets Note and
//     the RunID marker); none within AdoptTimeout: trigger;
//     - paused, Unpause asked, otherwise: unpause, then trigger. (With Conf
//     the scheduler's run cannot carry it, so that DAG gets both runs; the
//     step says so.)
//
// Each step is timed in Outcome.Steps.
func (c *Client) Deploy(ctx context.Context, d Deployment) (Outcome, error) {
	var out Outcome
	if d.DagID == "" || d.Commit == "" {
		return out, errors.New("airflow: deploy: DagID and Commit are required")
	}
	step := func(name string, start time.Time, detail string) {
		out.Steps = append(out.Steps, Step{Name: name, Seconds: c.now().Sub(start).Seconds(), Detail: detail})
	}

	t := c.now()
	dag, detail, err := c.waitLoaded(ctx, d)
	step("load", t, detail)
	if err != nil {
		return out, err
	}
	out.BundleVersion = dag.BundleVersion

	if len(d.Pools) > 0 {
		t = c.now()
		var notes []string
		for _, p := range d.Pools {
			if d.CreatePools {
				created, err := c.EnsurePool(ctx, p, NewPoolSlots)
				if err != nil {
					step("pools", t, strings.Join(notes, "; "))
					return out, fmt.Errorf("airflow: deploy %s: %w", d.DagID, err)
				}
				if created {
					notes = append(notes, fmt.Sprintf("created pool %s with %d slot", p, NewPoolSlots))
				} else {
					notes = append(notes, "pool "+p+" exists")
				}
				continue
			}
			_, err := c.GetPool(ctx, p)
			if errors.Is(err, ErrNotFound) {
				step("pools", t, strings.Join(append(notes, "pool "+p+" is missing"), "; "))
				return out, fmt.Errorf("airflow: deploy %s: %w: %q (Airflow never schedules a task of a missing pool; create it in Airflow, or let nbpipe create it)", d.DagID, ErrPoolMissing, p)
			}
			if err != nil {
				return out, fmt.Errorf("airflow: deploy %s: %w", d.DagID, err)
			}
			notes = append(notes, "pool "+p+" exists")
		}
		step("pools", t, strings.Join(notes, "; "))
	}

	if d.Unpause || d.Trigger {
		if err := c.startRuns(ctx, d, dag, &out, step); err != nil {
			return out, fmt.Errorf("airflow: deploy %s: %w", d.DagID, err)
		}
	}
	return out, nil
}

func short(v string) string {
	if len(v) > 12 {
		return v[:12]
	}
	return v
}

// fatal: errors that waiting will not cure (refused auth, 4xx other than
// 404, a cancelled context). Network errors and 5xx are retried.
func fatal(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrAuthRefused) {
		return true
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status >= 400 && ae.Status < 500 && ae.Status != 404 && ae.Status != 429
	}
	return false
}

// waitLoaded is step 1 of Deploy. It returns the DAG as Airflow shows it at
// the new version and a detail line for the step.
func (c *Client) waitLoaded(ctx context.Context, d Deployment) (DAG, string, error) {
	contains := d.Contains
	if contains == nil {
		contains = func(v string) bool { return strings.EqualFold(v, d.Commit) }
	}
	start := c.now()
	deadline := start.Add(orDefault(d.LoadTimeout, 3*time.Minute))
	poll := orDefault(c.PollInterval, time.Second)
	nudgeEvery := orDefault(c.NudgeInterval, 5*time.Second)
	fail := func(err error) (DAG, string, error) {
		return DAG{}, "", fmt.Errorf("airflow: deploy %s: %w", d.DagID, err)
	}

	var (
		lastNudge time.Time
		nudges    int
		// atCommit: Airflow's time of the earliest parse seen of a DAG of the
		// bundle at a version containing Commit. Any parse after it is of the
		// new version (a bundle only moves forward).
		atCommit   *time.Time
		firstLook  = true
		startTrace *string // the file's import error at the first look, if any
	)
	for {
		var seen []string
		dag, err := c.DAG(ctx, d.DagID)
		known := err == nil
		switch {
		case err == nil:
			switch {
			case d.Bundle != "" && dag.BundleName != d.Bundle:
				seen = append(seen, fmt.Sprintf("DAG %s belongs to bundle %q, not %q", d.DagID, dag.BundleName, d.Bundle))
			case dag.BundleVersion != "":
				if contains(dag.BundleVersion) {
					return dag, fmt.Sprintf("bundle %s at %s; %d reparse request(s)", dag.BundleName, short(dag.BundleVersion), nudges), nil
				}
				seen = append(seen, fmt.Sprintf("DAG %s at %s, waiting for %s", d.DagID, short(dag.BundleVersion), short(d.Commit)))
			default: // a bundle without versions
				if dag.LastParsedTime != nil && dag.LastParsedTime.After(d.PublishedAt) {
					return dag, fmt.Sprintf("bundle %s (no versions) parsed at %s; %d reparse request(s)", dag.BundleName, dag.LastParsedTime.Format(time.RFC3339), nudges), nil
				}
				seen = append(seen, fmt.Sprintf("DAG %s last parsed before the publish at %s", d.DagID, d.PublishedAt.Format(time.RFC3339)))
			}
		case errors.Is(err, ErrNotFound):
			seen = append(seen, fmt.Sprintf("DAG %s not known to Airflow yet", d.DagID))
		case fatal(err):
			return DAG{}, "", err
		default:
			seen = append(seen, "Airflow did not answer: "+err.Error())
		}

		bundle := d.Bundle
		if bundle == "" && known {
			bundle = dag.BundleName
		}
		// The bundle's other DAGs: whether the bundle reached the commit, and
		// file tokens for the nudge.
		others, err := c.ListDAGs(ctx, ListOptions{Bundle: bundle, Limit: 50})
		if err != nil && fatal(err) {
			return DAG{}, "", err
		}
		var versions []string
		for _, o := range others {
			if o.BundleVersion == "" {
				continue
			}
			if contains(o.BundleVersion) && o.LastParsedTime != nil && (atCommit == nil || o.LastParsedTime.Before(*atCommit)) {
				t := *o.LastParsedTime
				atCommit = &t
			}
			if !slices.Contains(versions, short(o.BundleVersion)) {
				versions = append(versions, short(o.BundleVersion))
			}
		}
		if !known && len(versions) > 0 {
			seen = append(seen, fmt.Sprintf("bundle %s at %s, waiting for %s", orAny(bundle), strings.Join(versions, ", "), short(d.Commit)))
		}

		if d.File != "" {
			ies, err := c.ImportErrors(ctx, d.Bundle, []string{d.File})
			if err != nil && fatal(err) {
				return DAG{}, "", err
			}
			for i := range ies {
				ie := &ies[i]
				if firstLook && startTrace == nil {
					s := ie.StackTrace
					startTrace = &s
				}
				if newImportError(ie, d, atCommit, startTrace, firstLook, len(others) > 0 || known) {
					ie.StackTrace = firstLines(ie.StackTrace, 15)
					return DAG{}, "import error", ie
				}
				seen = append(seen, fmt.Sprintf("%s has an import error from %s, not yet known to be of commit %s", d.File, ie.Timestamp.Format(time.RFC3339), short(d.Commit)))
			}
		}
		firstLook = false

		if c.now().Sub(lastNudge) >= nudgeEvery {
			var tokens []string
			if known && dag.FileToken != "" {
				tokens = append(tokens, dag.FileToken)
			} else {
				// One DAG per bundle is enough: the reparse fetches its whole bundle.
				var bundles []string
				for _, o := range others {
					if o.FileToken != "" && !slices.Contains(bundles, o.BundleName) {
						bundles = append(bundles, o.BundleName)
						tokens = append(tokens, o.FileToken)
					}
				}
			}
			for _, tok := range tokens {
				if err := c.Reparse(ctx, tok); err != nil && fatal(err) {
					return DAG{}, "", err
				}
			}
			if len(tokens) > 0 {
				nudges++
			}
			lastNudge = c.now()
		}
		if !known && len(others) == 0 {
			seen = append(seen, fmt.Sprintf("Airflow knows no DAG of bundle %s, so no reparse can be asked for: waiting for the bundle's refresh_interval", orAny(bundle)))
		}

		if !c.now().Before(deadline) {
			return fail(fmt.Errorf("%w after %s: %s", ErrNotLoaded, orDefault(d.LoadTimeout, 3*time.Minute), strings.Join(seen, "; ")))
		}
		if err := c.sleep(ctx, poll); err != nil {
			return fail(err)
		}
	}
}

func orAny(bundle string) string {
	if bundle == "" {
		return "(any)"
	}
	return bundle
}

// newImportError decides whether an import error of the deployed file
// belongs to the new version. Airflow re-stamps the error of a broken file
// on every parse (every [dag_processor] min_file_process_interval), also
// while its bundle is still at the old commit, so "timestamp after the
// publish" alone would blame a fix for the error it fixes. It counts when:
//   - the bundle is seen at the commit and the error was stamped after that
//     (a parse after the bundle moved is of the new version); or
//   - Airflow knows no DAG of the bundle at all (nothing older to confuse
//     it with) and the error is stamped after the publish; or
//   - the file had no import error at the first look, or a different one,
//     and this one is stamped after the publish (the old version parsed
//     without it).
func newImportError(ie *ImportError, d Deployment, atCommit *time.Time, startTrace *string, firstLook, bundleKnown bool) bool {
	switch {
	case atCommit != nil && ie.Timestamp.After(*atCommit):
		return true
	case !ie.Timestamp.After(d.PublishedAt):
		return false
	case d.NewFile:
		return true
	case !bundleKnown:
		return true
	case !firstLook && (startTrace == nil || *startTrace != ie.StackTrace):
		return true
	}
	return false
}

func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append(lines[:n], fmt.Sprintf("... (%d more lines)", len(lines)-n))
	}
	return strings.Join(lines, "\n")
}

// startRuns is step 3 of Deploy.
func (c *Client) startRuns(ctx context.Context, d Deployment, dag DAG, out *Outcome, step func(string, time.Time, string)) error {
	paused := dag.IsPaused
	setRun := func(r Run) {
		out.RunID = r.DagRunID
		out.RunURL = c.RunURL(d.DagID, r.DagRunID)
	}
	unpause := func(detail string) error {
		t := c.now()
		if err := c.SetPaused(ctx, d.DagID, false); err != nil {
			return err
		}
		step("unpause", t, detail)
		return nil
	}
	trigger := func(detail string) error {
		t := c.now()
		r, err := c.Trigger(ctx, d.DagID, d.RunID, d.Conf, d.Note)
		if err != nil {
			return err
		}
		setRun(r)
		if r.Existing {
			out.Existing = true
			detail = fmt.Sprintf("run %s exists already (state %s): nothing started", r.DagRunID, r.State)
		} else if detail != "" {
			detail = "triggered run " + r.DagRunID + "; " + detail
		} else {
			detail = "triggered run " + r.DagRunID
		}
		step("trigger", t, detail)
		return nil
	}

	// A run of this deployment from an earlier attempt (a re-delivered push)?
	if d.Trigger && d.RunID != "" {
		t := c.now()
		r, adopted, err := c.findOwnRun(ctx, d.DagID, d.RunID)
		if err != nil {
			return err
		}
		if r != nil {
			setRun(*r)
			out.Existing, out.Adopted = true, adopted
			how := "run " + r.DagRunID
			if adopted {
				how = "the scheduled run " + r.DagRunID + " adopted for " + d.RunID
			}
			step("trigger", t, fmt.Sprintf("%s exists already (state %s): nothing started", how, r.State))
			if d.Unpause && paused {
				return unpause("the DAG had been paused again")
			}
			return nil
		}
	}

	if !d.Trigger { // unpause only
		if !paused {
			step("unpause", c.now(), "already unpaused")
			return nil
		}
		detail := ""
		if c.scheduledRunDue(d, dag) {
			detail = "the scheduler starts the run due now and the following ones"
		}
		return unpause(detail)
	}
	if !paused {
		return trigger("")
	}
	if !d.Unpause {
		return trigger("the DAG is paused, so the run stays queued until it is unpaused")
	}
	due := c.scheduledRunDue(d, dag)
	if !due {
		if err := unpause(""); err != nil {
			return err
		}
		return trigger("")
	}
	if len(d.Conf) > 0 {
		if err := unpause("the scheduler starts its own run now (without this conf)"); err != nil {
			return err
		}
		return trigger("the scheduler also started its run on unpause: a scheduled run cannot carry conf")
	}

	// Adopt the run the scheduler starts on unpause.
	before, err := c.Runs(ctx, d.DagID, RunFilter{Limit: 100})
	if err != nil {
		return err
	}
	if err := unpause("the scheduler starts the run that is due"); err != nil {
		return err
	}
	t := c.now()
	deadline := t.Add(orDefault(c.AdoptTimeout, 30*time.Second))
	for {
		runs, err := c.Runs(ctx, d.DagID, RunFilter{RunType: []string{"scheduled"}, Limit: 20})
		if err != nil {
			return err
		}
		for _, r := range runs {
			if slices.ContainsFunc(before, func(b Run) bool { return b.DagRunID == r.DagRunID }) {
				continue
			}
			setRun(r)
			out.Adopted = true
			detail := fmt.Sprintf("adopted the scheduled run %s the scheduler started on unpause (instead of triggering a second run)", r.DagRunID)
			if d.RunID != "" || d.Note != "" {
				note := d.Note
				if d.RunID != "" {
					note = strings.TrimSpace(note + "\n\n" + runIDMarker + d.RunID)
				}
				if err := c.SetRunNote(ctx, d.DagID, r.DagRunID, note); err != nil {
					detail += "; setting its note failed: " + err.Error()
				}
			}
			step("adopt", t, detail)
			return nil
		}
		if !c.now().Before(deadline) {
			break
		}
		if err := c.sleep(ctx, orDefault(c.PollInterval, time.Second)); err != nil {
			return err
		}
	}
	step("adopt", t, "no scheduled run appeared")
	return trigger(fmt.Sprintf("no scheduled run within %s of the unpause", orDefault(c.AdoptTimeout, 30*time.Second)))
}

// scheduledRunDue: will unpausing make the scheduler start a run at once?
// Yes when the DAG has a schedule and Airflow's next run time has passed.
func (c *Client) scheduledRunDue(d Deployment, dag DAG) bool {
	if !d.Scheduled && dag.TimetableSummary == "" {
		return false
	}
	return dag.NextDagrunRunAfter != nil && !dag.NextDagrunRunAfter.After(c.now().Add(2*time.Second))
}

// findOwnRun looks for the run of an earlier Deploy with this runID: a run
// with that id, or a scheduled run adopted for it (the id in its note).
func (c *Client) findOwnRun(ctx context.Context, dagID, runID string) (*Run, bool, error) {
	r, err := c.Run(ctx, dagID, runID)
	if err == nil {
		return &r, false, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return nil, false, err
	}
	runs, err := c.Runs(ctx, dagID, RunFilter{RunType: []string{"scheduled"}, Limit: 100})
	if err != nil {
		return nil, false, err
	}
	for _, r := range runs {
		for _, line := range strings.Split(r.Note, "\n") {
			if strings.TrimSpace(line) == runIDMarker+runID {
				return &r, true, nil
			}
		}
	}
	return nil, false, nil
}

// RunResult is how a run ended (or where it stood when WaitRun gave up).
type RunResult struct {
	Run         Run
	State       string
	FailedTasks []string // tasks in state failed
	LogTail     string   // the last ~20 lines of the first failed task's log
}

// WaitRun polls a run until it ends or timeout passes (1 s, growing by half
// up to 10 s between looks). A failed run comes with its failed tasks and
// the tail of the first one's log. On timeout the error wraps ErrRunTimeout
// and the result holds the last state seen.
func (c *Client) WaitRun(ctx context.Context, dagID, runID string, timeout time.Duration) (RunResult, error) {
	deadline := c.now().Add(timeout)
	wait := time.Second
	for {
		r, err := c.Run(ctx, dagID, runID)
		if err != nil && fatal(err) {
			return RunResult{}, err
		}
		if err == nil && r.Final() {
			res := RunResult{Run: r, State: r.State}
			if r.State == "failed" {
				if err := c.failure(ctx, &res); err != nil {
					return res, err
				}
			}
			return res, nil
		}
		if !c.now().Before(deadline) {
			res := RunResult{Run: r, State: r.State}
			if err != nil {
				return res, fmt.Errorf("airflow: wait for run %s of %s: %w after %s: %v", runID, dagID, ErrRunTimeout, timeout, err)
			}
			return res, fmt.Errorf("airflow: wait for run %s of %s: %w after %s (state %s)", runID, dagID, ErrRunTimeout, timeout, r.State)
		}
		if err := c.sleep(ctx, min(wait, deadline.Sub(c.now())+time.Millisecond)); err != nil {
			return RunResult{Run: r, State: r.State}, err
		}
		wait = min(wait*3/2, 10*time.Second)
	}
}

func (c *Client) failure(ctx context.Context, res *RunResult) error {
	tis, err := c.TaskInstances(ctx, res.Run.DagID, res.Run.DagRunID)
	if err != nil {
		return err
	}
	var first *TaskInstance
	for i := range tis {
		if tis[i].State == "failed" {
			res.FailedTasks = append(res.FailedTasks, tis[i].TaskID)
			if first == nil {
				first = &tis[i]
			}
		}
	}
	if first == nil {
		return nil
	}
	text, err := c.TaskLog(ctx, res.Run.DagID, res.Run.DagRunID, first.TaskID, first.TryNumber)
	if err != nil {
		res.LogTail = "(log not available: " + err.Error() + ")"
		return nil
	}
	res.LogTail = logTail(text, 20)
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// logTail is the last n lines of a rendered task log, without the stump of
// a traceback the cut leaves at the top (its "  File" lines and the
// exception line that closes them): on Airflow 3.3.2 with a GitDagBundle and
// no git connection, every task log carries an info-level
// AirflowNotFoundException for git_default just before the task's own
// output.
func logTail(s string, n int) string {
	lines := strings.Split(lastLines(s, n), "\n")
	if len(lines) < len(strings.Split(strings.TrimRight(s, "\n"), "\n")) && strings.HasPrefix(lines[0], "  ") {
		i := 0
		for i < len(lines) && strings.HasPrefix(lines[i], "  ") {
			i++
		}
		if i+1 < len(lines) {
			lines = lines[i+1:]
		}
	}
	return strings.Join(lines, "\n")
}
