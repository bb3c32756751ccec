package trigger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/nbpipe/nbpipe/convert"
	"github.com/nbpipe/nbpipe/internal/redact"
	"github.com/nbpipe/nbpipe/publish"
	"github.com/nbpipe/nbpipe/publish/airflow"
	"github.com/nbpipe/nbpipe/publish/ilum"
)

// Runner works the queue: up to Workers jobs at once, each to its end
// (loaded, triggered, run finished) or to a clear failure on the commit.
type Runner struct {
	Queue   *Queue
	Airflow *airflow.Client // nil: Airflow jobs are not created
	Ilum    *ilum.Client    // nil: Ilum jobs are not created
	// Bundle is the Airflow DAG bundle that reads the target repository;
	// BundleDir the directory of the target repository that is its root
	// (GitDagBundle's subdir), "" for the repository root.
	Bundle, BundleDir string
	CreatePools       bool
	LoadTimeout       time.Duration
	RunTimeout        time.Duration
	// Contains reports whether target commit version includes commit.
	Contains func(ctx context.Context, version, commit string) bool
	// Status sets a commit status on the job's source commit.
	Status func(ctx context.Context, j Job, context string, st publish.State, desc, link string)
	// Audit records a job's outcome with its steps and timings.
	Audit       func(j Job, outcome map[string]any, err error)
	Log         *slog.Logger
	Workers     int
	MaxAttempts int
	RetryBase   time.Duration
	RetryMax    time.Duration

	wake    chan struct{}
	once    sync.Once
	mu      sync.Mutex
	running map[string]bool
}

func (r *Runner) init() {
	r.once.Do(func() {
		r.wake = make(chan struct{}, 1)
		r.running = map[string]bool{}
		if r.Workers < 1 {
			r.Workers = 4
		}
		if r.MaxAttempts < 1 {
			r.MaxAttempts = 8
		}
		if r.RetryBase <= 0 {
			r.RetryBase = 2 * time.Second
		}
		if r.RetryMax <= 0 {
			r.RetryMax = 2 * time.Minute
		}
		if r.Log == nil {
			r.Log = slog.Default()
		}
	})
}

// Poke wakes the runner after jobs were added.
func (r *Runner) Poke() {
	r.init()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run works the queue until ctx ends; jobs in progress then stay pending
// and resume at the next start.
func (r *Runner) Run(ctx context.Context) {
	r.init()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		jobs, err := r.Queue.Pending()
		wait := time.Hour
		if err != nil {
			r.Log.Error("trigger queue unreadable", "err", err)
			wait = 5 * time.Second
		}
		now := time.Now()
		for _, j := range jobs {
			if j.NotBefore.After(now) {
				wait = min(wait, j.NotBefore.Sub(now))
				continue
			}
			r.mu.Lock()
			busy := r.running[j.Key] || len(r.running) >= r.Workers
			if !busy {
				r.running[j.Key] = true
			}
			r.mu.Unlock()
			if busy {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.runJob(ctx, j)
				r.mu.Lock()
				delete(r.running, j.Key)
				r.mu.Unlock()
				r.Poke()
			}()
		}
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		case <-time.After(wait):
		}
	}
}

// Drain works the queue until no job is pending, for a caller with no
// server to keep running (the Action). Failed jobs are retried with backoff
// up to MaxAttempts, as by Run. It returns early with ctx's error.
func (r *Runner) Drain(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		r.Run(ctx)
		close(done)
	}()
	defer func() {
		cancel()
		<-done
	}()
	for {
		jobs, err := r.Queue.Pending()
		if err != nil {
			return err
		}
		if len(jobs) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// StatusContext names a job's commit status: one per DAG and kind, beside
// nbpipe's own publish status.
func StatusContext(j Job) string {
	if j.Kind == Airflow {
		return "nbpipe/airflow/" + j.DagID
	}
	return "nbpipe/ilum/" + j.DagID
}

// errFinal marks an outcome that retrying cannot change.
type errFinal struct{ error }

func (e errFinal) Unwrap() error { return e.error }

func (r *Runner) runJob(ctx context.Context, j Job) {
	log := r.Log.With("job", j.Kind, "dag_id", j.DagID, "repo", j.Repo, "source", short(j.SourceCommit))
	started := time.Now()
	var (
		outcome map[string]any
		err     error
	)
	switch j.Kind {
	case Airflow:
		outcome, err = r.airflowJob(ctx, &j)
	default:
		outcome, err = r.ilumJob(ctx, &j)
	}
	if err != nil && ctx.Err() != nil {
		return // shutting down: resume at the next start
	}
	var final errFinal
	if err != nil && !errors.As(err, &final) && j.Attempts+1 < r.MaxAttempts {
		j.Attempts++
		j.LastError = redact.Text(err.Error())
		delay := min(r.RetryBase<<min(j.Attempts-1, 20), r.RetryMax)
		j.NotBefore = time.Now().Add(delay/2 + time.Duration(rand.Int64N(int64(delay/2)+1)))
		log.Warn("deployment failed; will retry", "attempt", j.Attempts, "err", redact.Text(err.Error()))
		if uerr := r.Queue.Update(j); uerr != nil {
			log.Error("trigger queue", "err", uerr)
		}
		return
	}
	if err != nil {
		log.Error("deployment failed", "err", redact.Text(err.Error()))
		if !errors.As(err, &final) {
			r.Status(ctx, j, StatusContext(j), publish.StateError, fmt.Sprintf("gave up after %d attempts: %s", j.Attempts+1, firstLine(err.Error())), j.RunURL)
		}
		j.LastError = redact.Text(err.Error())
	} else {
		log.Info("deployment done", "outcome", outcome)
	}
	if r.Audit != nil {
		if outcome == nil {
			outcome = map[string]any{}
		}
		outcome["started"] = started.UTC().Format(time.RFC3339Nano)
		r.Audit(j, outcome, err)
	}
	if derr := r.Queue.Done(j); derr != nil {
		log.Error("trigger queue", "err", derr)
	}
}

// airflowJob waits for Airflow to load the published version, gates on
// import errors, creates pools, unpauses and triggers, then (with Wait)
// follows the run to its end. Each phase is recorded on the job, so a
// restart after the trigger only waits.
func (r *Runner) airflowJob(ctx context.Context, j *Job) (map[string]any, error) {
	c := StatusContext(*j)
	outcome := map[string]any{}
	if !j.Started {
		r.Status(ctx, *j, c, publish.StatePending, "waiting for Airflow to load "+short(j.TargetCommit), "")
		file := j.File
		if r.BundleDir != "" {
			file = strings.TrimPrefix(file, strings.Trim(r.BundleDir, "/")+"/")
		}
		out, err := r.Airflow.Deploy(ctx, airflow.Deployment{
			DagID: j.DagID, File: file, Bundle: r.Bundle, Commit: j.TargetCommit,
			Contains:    func(v string) bool { return r.Contains(ctx, v, j.TargetCommit) },
			PublishedAt: j.PublishedAt, NewFile: j.NewFile, Scheduled: j.Scheduled,
			Unpause: j.Unpause, Trigger: j.Trigger,
			Pools: j.Pools, CreatePools: r.CreatePools,
			RunID: RunID(j.SourceCommit), Conf: j.Conf,
			Note:        fmt.Sprintf("nbpipe: %s@%s (%s)", j.Repo, short(j.SourceCommit), j.Notebook),
			LoadTimeout: r.LoadTimeout,
		})
		outcome["steps"] = out.Steps
		outcome["bundle_version"] = out.BundleVersion
		var ie *airflow.ImportError
		switch {
		case errors.As(err, &ie):
			r.Status(ctx, *j, c, publish.StateFailure, "Airflow import error, not triggered: "+lastLine(ie.StackTrace), "")
			outcome["stack_trace"] = ie.StackTrace
			return outcome, errFinal{err}
		case errors.Is(err, airflow.ErrNotLoaded), errors.Is(err, airflow.ErrPoolMissing), errors.Is(err, airflow.ErrAuthRefused), errors.Is(err, airflow.ErrForbidden):
			r.Status(ctx, *j, c, publish.StateFailure, firstLine(err.Error()), "")
			return outcome, errFinal{err}
		case err != nil:
			return outcome, err
		}
		j.RunID, j.RunURL, j.Started = out.RunID, out.RunURL, true
		outcome["run_id"], outcome["adopted"], outcome["existing"] = out.RunID, out.Adopted, out.Existing
		if j.RunID == "" { // unpaused only
			r.Status(ctx, *j, c, publish.StateSuccess, "loaded "+short(out.BundleVersion)+" and unpaused", "")
			return outcome, nil
		}
		if !j.Wait {
			r.Status(ctx, *j, c, publish.StateSuccess, "run "+j.RunID+" triggered (not waiting for it)", j.RunURL)
			return outcome, nil
		}
		r.Status(ctx, *j, c, publish.StatePending, "run "+j.RunID+" queued", j.RunURL)
		if err := r.Queue.Update(*j); err != nil {
			return outcome, err
		}
	}
	start := time.Now()
	res, err := r.Airflow.WaitRun(ctx, j.DagID, j.RunID, r.RunTimeout)
	outcome["run_id"], outcome["wait_seconds"], outcome["state"] = j.RunID, time.Since(start).Seconds(), res.State
	switch {
	case errors.Is(err, airflow.ErrRunTimeout):
		r.Status(ctx, *j, c, publish.StateFailure, fmt.Sprintf("run %s still %s after %s", j.RunID, res.State, r.RunTimeout), j.RunURL)
		return outcome, errFinal{err}
	case err != nil:
		return outcome, err
	case res.State == "success":
		r.Status(ctx, *j, c, publish.StateSuccess, "run "+j.RunID+" succeeded", j.RunURL)
		return outcome, nil
	}
	outcome["failed_tasks"], outcome["log_tail"] = res.FailedTasks, res.LogTail
	desc := "run " + j.RunID + " " + res.State
	if len(res.FailedTasks) > 0 {
		desc += " in task " + strings.Join(res.FailedTasks, ", ") + ": " + lastLine(res.LogTail)
	}
	r.Status(ctx, *j, c, publish.StateFailure, desc, j.RunURL)
	return outcome, errFinal{fmt.Errorf("run %s of %s %s; failed tasks %v; log tail:\n%s", j.RunID, j.DagID, res.State, res.FailedTasks, res.LogTail)}
}

// ilumJob submits the single job, creates or updates the service group and
// runs the service, or registers the schedule.
func (r *Runner) ilumJob(ctx context.Context, j *Job) (map[string]any, error) {
	c := StatusContext(*j)
	res := ilum.ResourcesFromSession(j.Session)
	if len(j.SparkConf) > 0 && res.Conf == nil {
		res.Conf = map[string]string{}
	}
	for k, v := range j.SparkConf {
		if _, set := res.Conf[k]; !set {
			res.Conf[k] = v
		}
	}
	file := path.Base(j.File)
	name := j.Name
	if name == "" {
		name = j.DagID
	}
	tags := map[string]string{"nbpipe-repo": j.Repo, "nbpipe-commit": short(j.SourceCommit)}
	var (
		id, link, desc string
		err            error
	)
	switch j.Kind {
	case IlumSingle:
		var job ilum.Job
		job, err = r.Ilum.SubmitJob(ctx, ilum.JobSpec{Name: name, Cluster: j.Cluster, Image: j.Image, File: file, Content: j.Content,
			Params: j.Conf, Requirements: j.Requirements, Resources: res, Tags: tags})
		id, link, desc = job.ID, job.URL, "Ilum job "+job.ID+" submitted"
	case IlumService:
		var g ilum.Group
		g, err = r.Ilum.EnsureService(ctx, ilum.ServiceSpec{Name: name, Cluster: j.Cluster, Image: j.Image, File: file, Content: j.Content,
			Class: convert.ServiceClassName(j.DagID), Requirements: j.Requirements, Resources: res, Tags: tags, Config: j.Conf})
		if err == nil {
			var ex ilum.Execution
			ex, err = r.Ilum.ExecuteService(ctx, g.ID, g.Class, j.Conf)
			id, link = g.ID, g.URL
			desc = fmt.Sprintf("Ilum service group %s %s; executed %s", g.ID, verb(g.Created, g.Replaced, g.Updated), ex.InstanceID)
		}
	case IlumCron:
		var s ilum.Schedule
		s, err = r.Ilum.EnsureSchedule(ctx, ilum.ScheduleSpec{Name: name, Cluster: j.Cluster, Image: j.Image, Cron: j.Cron, File: file, Content: j.Content,
			Params: j.Conf, Requirements: j.Requirements, Resources: res, Tags: tags})
		id, link, desc = s.ID, s.URL, fmt.Sprintf("Ilum schedule %s %s (%s)", s.ID, verb(s.Created, s.Replaced, s.Updated), j.Cron)
	default:
		return nil, errFinal{fmt.Errorf("unknown job kind %q", j.Kind)}
	}
	if err != nil {
		if ilum.Permanent(err) {
			r.Status(ctx, *j, c, publish.StateFailure, "Ilum refused: "+firstLine(err.Error()), "")
			return nil, errFinal{err}
		}
		return nil, err
	}
	r.Status(ctx, *j, c, publish.StateSuccess, desc, link)
	return map[string]any{"id": id, "url": link}, nil
}

func verb(created, replaced, updated bool) string {
	switch {
	case created:
		return "created"
	case replaced:
		return "replaced"
	case updated:
		return "updated"
	}
	return "unchanged"
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndex(s, "\n"); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSpace(s)
}
