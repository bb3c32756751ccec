// Package server assembles `nbpipe serve`: the webhook endpoint, the durable
// spool, the worker that runs the pipeline, commit statuses, the audit log,
// health and metrics.
package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/nbpipe/nbpipe/convert"
	"github.com/nbpipe/nbpipe/internal/pipeline"
	"github.com/nbpipe/nbpipe/internal/redact"
	"github.com/nbpipe/nbpipe/internal/trigger"
	"github.com/nbpipe/nbpipe/preview"
	"github.com/nbpipe/nbpipe/publish"
	"github.com/nbpipe/nbpipe/publish/ghapp"
	"github.com/nbpipe/nbpipe/webhook"
)

// Server is a running nbpipe serve.
type Server struct {
	cfg      Config
	log      *slog.Logger
	spool    *webhook.Spool
	proc     *pipeline.Processor
	status   map[webhook.Forge]publish.StatusReporter
	wake     chan struct{}
	draining atomic.Bool
	// halted holds the bookkeeping error that stopped the worker.
	halted   atomic.Pointer[error]
	finMu    sync.Mutex
	finished map[string]bool // processed, but the spool could not retire them
	limits   *limiter
	audit    *os.File
	auditMu  sync.Mutex
	metrics  *metrics
	mux      *http.ServeMux
	// comment keeps the preview comment on pull requests, per forge.
	comment map[webhook.Forge]preview.Commenter
	// runner deploys what was published (Airflow, Ilum); nil when neither
	// is configured.
	runner *trigger.Runner
}

type metrics struct {
	reg        *prometheus.Registry
	deliveries *prometheus.CounterVec
	queue      prometheus.GaugeFunc
	process    prometheus.Histogram
	convert    prometheus.Histogram
	publish    prometheus.Histogram
	commits    prometheus.Counter
	retries    prometheus.Counter
	failures   prometheus.Counter
	dead       prometheus.Counter
	halted     prometheus.Gauge
}

// New prepares a server: state directories, spool, pipeline, metrics.
func New(cfg Config, log *slog.Logger) (*Server, error) {
	// Whatever a library puts in an error, no configured secret and no
	// URL's credentials reach the log.
	log = slog.New(redact.New(cfg.secrets()...).Handler(log.Handler()))
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, err
	}
	sp, err := webhook.OpenSpool(filepath.Join(cfg.StateDir, "spool"))
	if err != nil {
		return nil, err
	}
	audit, err := os.OpenFile(filepath.Join(cfg.StateDir, "audit.jsonl"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, spool: sp, wake: make(chan struct{}, 1), audit: audit, finished: map[string]bool{},
		limits: newLimiter(cfg.RatePerMin, cfg.RatePerHour), status: map[webhook.Forge]publish.StatusReporter{}}
	if cfg.GiteaURL != "" && cfg.GiteaToken != "" {
		s.status[webhook.Gitea] = publish.GiteaStatus{URL: cfg.GiteaURL, Token: cfg.GiteaToken}
	}
	s.comment = map[webhook.Forge]preview.Commenter{}
	if cfg.GiteaURL != "" && cfg.GiteaToken != "" {
		s.comment[webhook.Gitea] = preview.Gitea{URL: cfg.GiteaURL, Token: cfg.GiteaToken}
	}
	if cfg.GitHubToken != "" {
		s.status[webhook.GitHub] = publish.GitHubStatus{Token: cfg.GitHubToken, BaseURL: cfg.GitHubAPI}
		s.comment[webhook.GitHub] = preview.GitHub{Token: cfg.GitHubToken, BaseURL: cfg.GitHubAPI}
	}
	var app *ghapp.App
	if cfg.GitHubAppID != 0 {
		if app, err = ghapp.Load(int64(cfg.GitHubAppID), cfg.GitHubAppKeyFile, cfg.GitHubAPI); err != nil {
			return nil, err
		}
		s.status[webhook.GitHub] = publish.GitHubStatus{TokenFor: app.Token, BaseURL: cfg.GitHubAPI}
		s.comment[webhook.GitHub] = preview.GitHub{TokenFor: app.Token, BaseURL: cfg.GitHubAPI}
	}
	layer, err := convert.LayerFromValues("server config (convert)", cfg.Convert)
	if err != nil {
		return nil, err
	}
	if _, err := convert.Resolve(layer); err != nil {
		return nil, err
	}
	s.proc = pipeline.New(pipeline.Config{
		Layers: []convert.Layer{layer},
		Locked: cfg.LockedKeys,
		Lookup: func(repo string) (pipeline.Source, bool) {
			r, ok := cfg.source(repo)
			if !ok {
				return pipeline.Source{}, false
			}
			tok, host := cfg.sourceToken(r)
			src := pipeline.Source{CloneURL: r.CloneURL, Token: tok, TokenHost: host, TargetDir: r.TargetDir}
			if app != nil && tok == "" {
				src.TokenHost = cfg.githubHost()
				src.TokenFunc = func(ctx context.Context) (string, error) { return app.Token(ctx, repo) }
			}
			return src, true
		},
		TargetTokenFunc:  appTargetToken(app, cfg),
		MaxNotebookBytes: int64(cfg.MaxNotebookSize),
		SSH:              publish.SSH{KeyFile: cfg.SSHKeyFile, KnownHosts: cfg.SSHKnownHosts},
		TargetURL:        cfg.TargetURL, TargetToken: cfg.TargetToken, TargetBranch: cfg.TargetBranch,
		CacheDir: filepath.Join(cfg.StateDir, "git"),
		Author:   publish.Author{Name: "nbpipe", Email: "nbpipe@localhost"},
		Log:      log,
	})
	if err := s.newRunner(); err != nil {
		return nil, err
	}
	s.metrics = newMetrics(s)
	s.mux = http.NewServeMux()
	hook := &webhook.Handler{
		Secrets:  map[webhook.Forge][]byte{},
		Insecure: cfg.Insecure,
		MaxBody:  int64(cfg.MaxBody),
		Filter:   s.filter,
		Intake:   intake{s},
		Log:      log,
	}
	if cfg.GitHubSecret != "" {
		hook.Secrets[webhook.GitHub] = []byte(cfg.GitHubSecret)
	}
	if cfg.GiteaSecret != "" {
		hook.Secrets[webhook.Gitea] = []byte(cfg.GiteaSecret)
	}
	s.mux.Handle("POST /webhook", s.count(hook))
	s.mux.Handle("POST /webhook/{forge}", s.count(hook))
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	s.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if s.draining.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		if err := s.halted.Load(); err != nil {
			http.Error(w, "worker stopped: "+redact.Text((*err).Error()), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	return s, nil
}

// appTargetToken gives the target an installation token when the target is
// a GitHub repository and nbpipe runs as a GitHub App without a target token.
func appTargetToken(app *ghapp.App, cfg Config) func(context.Context) (string, error) {
	if app == nil || cfg.TargetToken != "" {
		return nil
	}
	u, err := url.Parse(cfg.TargetURL)
	if err != nil || !strings.EqualFold(u.Host, cfg.githubHost()) {
		return nil
	}
	repo := strings.TrimSuffix(strings.Trim(u.Path, "/"), ".git")
	return func(ctx context.Context) (string, error) { return app.Token(ctx, repo) }
}

func newMetrics(s *Server) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nbpipe_deliveries_total", Help: "Webhook deliveries by forge, event and outcome."}, []string{"forge", "event", "outcome"})
	m.queue = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "nbpipe_queue_depth", Help: "Accepted pushes not yet processed."}, func() float64 {
		p, _ := s.spool.Pending()
		return float64(len(p))
	})
	m.process = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "nbpipe_process_seconds", Help: "Time to convert and publish one push.", Buckets: prometheus.ExponentialBuckets(0.05, 2, 12)})
	m.convert = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "nbpipe_convert_seconds", Help: "Time to diff and convert one push's notebooks.", Buckets: prometheus.ExponentialBuckets(0.01, 2, 12)})
	m.publish = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "nbpipe_publish_seconds", Help: "Time to commit and push one push's outputs.", Buckets: prometheus.ExponentialBuckets(0.01, 2, 12)})
	m.commits = prometheus.NewCounter(prometheus.CounterOpts{Name: "nbpipe_commits_pushed_total", Help: "Commits pushed to the target repository."})
	m.retries = prometheus.NewCounter(prometheus.CounterOpts{Name: "nbpipe_push_retries_total", Help: "Pushes retried after the target branch moved."})
	m.failures = prometheus.NewCounter(prometheus.CounterOpts{Name: "nbpipe_process_failures_total", Help: "Runs whose processing failed and will be retried."})
	m.dead = prometheus.NewCounter(prometheus.CounterOpts{Name: "nbpipe_dead_letters_total", Help: "Pushes given up after the retry budget (see nbpipe spool list)."})
	m.halted = prometheus.NewGauge(prometheus.GaugeOpts{Name: "nbpipe_worker_halted", Help: "1 when the worker stopped because the state directory cannot record processed pushes."})
	m.reg.MustRegister(m.deliveries, m.queue, m.process, m.convert, m.publish, m.commits, m.retries, m.failures, m.dead, m.halted)
	return m
}

// count records each delivery's outcome from the handler's status code.
func (s *Server) count(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.draining.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		forge, event := "unknown", r.Header.Get("X-GitHub-Event")
		if ev := r.Header.Get("X-Gitea-Event"); ev != "" {
			forge, event = "gitea", ev
		} else if event != "" {
			forge = "github"
		}
		rec := &statusRecorder{ResponseWriter: w, code: 200}
		h.ServeHTTP(rec, r)
		s.metrics.deliveries.WithLabelValues(forge, event, fmt.Sprint(rec.code)).Inc()
	})
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

// filter applies the branch globs, the allow-list and the rate limits.
func (s *Server) filter(ev webhook.PushEvent) string {
	matched := false
	for _, g := range s.cfg.Branches {
		if ok, _ := doublestar.Match(g, ev.TargetBranch()); ok {
			matched = true
		}
	}
	switch {
	case !matched && ev.PullRequest != 0:
		return "pull requests to " + ev.TargetBranch() + " are not previewed (it does not publish)"
	case !matched:
		return "branch " + ev.Branch() + " does not publish"
	case !s.allowed(ev.Repo):
		return "repository " + ev.Repo + " is not allow-listed"
	}
	return ""
}

func (s *Server) allowed(repo string) bool {
	_, ok := s.cfg.source(repo)
	return ok
}

// intake stores a push and wakes the worker. A sender over the rate limit
// is not refused (the forge got a 2xx promise): the push waits until the
// sender is within the limit again, and by then it coalesces with the
// sender's later pushes of the branch.
type intake struct{ s *Server }

func (in intake) Accept(ctx context.Context, ev webhook.PushEvent) error {
	now := time.Now()
	at := in.s.limits.allow(string(ev.Forge)+"/"+ev.Sender, now)
	if at.After(now) {
		in.s.log.Info("push deferred by the rate limit", "delivery", ev.DeliveryID, "sender", ev.Sender, "until", at.Format(time.RFC3339))
	}
	if err := in.s.spool.AcceptAt(ctx, ev, at); err != nil {
		return err
	}
	in.s.poke()
	return nil
}

// Handler is the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.mux }

// Serve listens on l until ctx ends, then drains: new deliveries get 503,
// the pushes in progress finish, pending ones stay in the spool for the next
// start.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{
		Handler: s.mux,
		// Slow senders must not hold connections: headers, then the whole
		// body (forges give up on a delivery after 5-10 s), then idle keep-alives.
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	workerDone := make(chan struct{})
	workCtx, stopWork := context.WithCancel(context.Background())
	go func() {
		defer close(workerDone)
		var wg sync.WaitGroup
		if s.runner != nil {
			wg.Add(1)
			go func() { defer wg.Done(); s.runner.Run(workCtx) }()
		}
		s.work(workCtx)
		wg.Wait()
	}()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		stopWork()
		<-workerDone
		return err
	}
	s.draining.Store(true)
	s.log.Info("draining")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	stopWork()
	<-workerDone
	s.audit.Close()
	return err
}

// work runs the spool. Pushes are grouped in lanes (one source repository's
// branch): a lane's pushes run in order and coalesce into one run at the
// branch's newest commit; different lanes run side by side, at most
// cfg.Workers at once, so a broken source never holds up the others.
func (s *Server) work(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	running := map[string]bool{}
	var mu sync.Mutex
	for {
		if s.halted.Load() != nil {
			<-ctx.Done() // stopped loudly; never loop on a broken state dir
			return
		}
		entries, err := s.spool.Entries()
		wait := time.Hour
		if err != nil {
			s.log.Error("spool unreadable", "err", err)
			wait = 5 * time.Second
		}
		now := time.Now()
		lanes, order := map[string][]webhook.Entry{}, []string{}
		for _, e := range entries {
			if s.isFinished(e.Key) {
				continue
			}
			lane := webhook.Lane(e.Event)
			if _, ok := lanes[lane]; !ok {
				order = append(order, lane)
			}
			if e.NotBefore.After(now) {
				wait = min(wait, e.NotBefore.Sub(now))
				lanes[lane] = append(lanes[lane], webhook.Entry{}) // keep the lane's place
				continue
			}
			lanes[lane] = append(lanes[lane], e)
		}
		mu.Lock()
		for _, lane := range order {
			var ready []webhook.Entry
			for _, e := range lanes[lane] {
				if e.Key != "" {
					ready = append(ready, e)
				}
			}
			if len(ready) == 0 || running[lane] {
				continue
			}
			if len(running) >= s.cfg.Workers {
				break
			}
			running[lane] = true
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.runLane(ctx, lane, ready)
				mu.Lock()
				delete(running, lane)
				mu.Unlock()
				s.poke()
			}()
		}
		mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-time.After(wait):
		}
	}
}

func (s *Server) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// runLane processes a lane's ready pushes as one run at the branch head.
func (s *Server) runLane(ctx context.Context, lane string, entries []webhook.Entry) {
	last := entries[len(entries)-1].Event
	if last.PullRequest != 0 {
		s.runPreview(ctx, entries)
		return
	}
	log := s.log.With("lane", lane, "pushes", len(entries), "after", last.After)
	cur, hasCursor, err := s.spool.Cursor(lane)
	if err != nil {
		s.halt(fmt.Errorf("read the published cursor of %s: %w", lane, err))
		return
	}
	// The pending statuses go out beside the run, not before it: a forge's
	// API round trip is not on the way to the DAG commit. The final status
	// waits for them, so it is never overwritten by a late pending one.
	pending := make(chan struct{})
	go func() {
		defer close(pending)
		for _, e := range entries {
			s.setStatus(ctx, e.Event, publish.StatePending, "converting notebooks", "")
		}
	}()
	defer func() { <-pending }()
	req := pipeline.Request{Event: last, Latest: true}
	for _, e := range entries {
		req.Befores = append(req.Befores, e.Event.Before)
	}
	if hasCursor {
		req.Since = cur.Source
	}
	start := time.Now()
	rep, err := s.proc.Run(ctx, req)
	s.metrics.process.Observe(time.Since(start).Seconds())
	if err != nil {
		<-pending // the error status comes after the pending one
	}
	if s.failed(ctx, log, entries, "", err) {
		return
	}
	if !rep.UpToDate {
		// The deployments are durable before the cursor moves: a crash in
		// between republishes nothing new and finds the same jobs.
		if err := s.enqueue(last, rep); err != nil {
			s.markFinished(entries)
			s.halt(err)
			return
		}
		c := webhook.Cursor{Source: rep.SourceCommit, Target: rep.TargetCommit, Time: time.Now().UTC()}
		if c.Target == "" {
			c.Target = cur.Target
		}
		// Recorded before the pushes are retired: a push that was published
		// is never published again, whatever happens next.
		if err := s.spool.SetCursor(lane, c); err != nil {
			s.markFinished(entries)
			s.halt(err)
			return
		}
	} else if rep.TargetCommit == "" {
		rep.TargetCommit = cur.Target
	}
	s.metrics.convert.Observe(rep.ConvertSeconds)
	s.metrics.publish.Observe(rep.PublishSeconds)
	if rep.TargetCommit != "" && !rep.UpToDate {
		s.metrics.commits.Inc()
	}
	if rep.Tries > 1 {
		s.metrics.retries.Add(float64(rep.Tries - 1))
	}
	state := publish.StateSuccess
	if rep.Failed() > 0 || len(rep.Refused) > 0 {
		state = publish.StateFailure
	}
	s.logReport(log, rep)
	<-pending
	for _, e := range entries {
		desc := rep.Summary()
		if e.Event.After != rep.SourceCommit && !rep.UpToDate {
			desc = "with " + short(rep.SourceCommit) + ": " + desc
		}
		s.setStatus(ctx, e.Event, state, desc, s.targetLink(rep.TargetCommit))
		s.writeAudit(e, rep, nil)
		s.finish(e)
	}
}

// failed settles a run that ended in err, for every push it covered: on
// shutdown they stay pending; a permanent error is reported (on the
// status context name, "" for the publish status) and retires them; any
// other is retried. It reports whether there was an error.
func (s *Server) failed(ctx context.Context, log *slog.Logger, entries []webhook.Entry, name string, err error) bool {
	switch {
	case err == nil:
		return false
	case ctx.Err() != nil:
		return true // shutting down: the pushes stay pending
	case pipeline.Permanent(err):
		log.Warn("push dropped", "err", err)
		for _, e := range entries {
			s.setStatusOn(ctx, e.Event.Forge, e.Event.Repo, e.Event.After, name, publish.StateError, "nbpipe: "+err.Error(), "")
			s.writeAudit(e, nil, err)
			s.finish(e)
		}
	default:
		s.metrics.failures.Inc()
		for _, e := range entries {
			s.retry(ctx, log, e, err)
		}
	}
	return true
}

// retry schedules another attempt with backoff, or after MaxAttempts moves
// the push to the dead letters, where an operator can list, retry or drop it
// (nbpipe spool).
func (s *Server) retry(ctx context.Context, log *slog.Logger, e webhook.Entry, cause error) {
	if e.Attempts+1 >= s.cfg.MaxAttempts {
		log.Error("push failed; giving up", "delivery", e.Event.DeliveryID, "attempts", e.Attempts+1, "err", cause)
		s.setStatus(ctx, e.Event, publish.StateError, fmt.Sprintf("nbpipe gave up after %d attempts: %v", e.Attempts+1, cause), "")
		s.writeAudit(e, nil, fmt.Errorf("dead letter after %d attempts: %w", e.Attempts+1, cause))
		s.metrics.dead.Inc()
		if err := s.spool.Bury(e, cause); err != nil {
			s.markFinished([]webhook.Entry{e})
			s.halt(err)
		}
		return
	}
	delay := min(s.cfg.RetryBase<<min(e.Attempts, 20), s.cfg.RetryMax)
	delay = delay/2 + time.Duration(rand.Int64N(int64(delay/2)+1))
	log.Error("push failed; will retry", "delivery", e.Event.DeliveryID, "attempt", e.Attempts+1, "in", delay.Round(time.Millisecond), "err", cause)
	if err := s.spool.Retry(e, cause, time.Now().Add(delay)); err != nil {
		s.markFinished([]webhook.Entry{e})
		s.halt(err)
	}
}

// finish retires a processed push. If that fails the push must not run
// again: the worker stops loudly instead of looping.
func (s *Server) finish(e webhook.Entry) {
	if err := s.spool.Finish(e); err != nil {
		s.markFinished([]webhook.Entry{e})
		s.halt(err)
	}
}

func (s *Server) markFinished(entries []webhook.Entry) {
	s.finMu.Lock()
	defer s.finMu.Unlock()
	for _, e := range entries {
		s.finished[e.Key] = true
	}
}

func (s *Server) isFinished(key string) bool {
	s.finMu.Lock()
	defer s.finMu.Unlock()
	return s.finished[key]
}

// halt stops the worker after a bookkeeping error: readiness fails, a
// metric and an error log say why, and nothing is processed again until an
// operator fixes the state directory and restarts nbpipe.
func (s *Server) halt(err error) {
	if s.halted.CompareAndSwap(nil, &err) {
		s.metrics.halted.Set(1)
		s.log.Error("worker stopped: the state directory cannot record processed pushes; fix it and restart nbpipe", "err", err)
	}
}

// logReport writes the full report to the log: one line per notebook with
// its files and every finding (dropped cells and lines, warnings, errors).
func (s *Server) logReport(log *slog.Logger, rep *pipeline.Report) {
	for _, nb := range rep.Notebooks {
		findings := make([]string, len(nb.Findings))
		for i, f := range nb.Findings {
			findings[i] = f.String()
		}
		attrs := []any{"notebook", nb.Path, "change", nb.Change, "dag_id", nb.DagID, "files", nb.Files, "removed", nb.Removed, "findings", findings}
		if nb.Error != "" {
			log.Warn("notebook failed", append(attrs, "err", nb.Error)...)
		} else {
			log.Info("notebook converted", attrs...)
		}
	}
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

func (s *Server) setStatus(ctx context.Context, ev webhook.PushEvent, st publish.State, desc, link string) {
	s.setStatusOn(ctx, ev.Forge, ev.Repo, ev.After, "", st, desc, link)
}

// setStatusOn sets a commit status; name "" is nbpipe's own publish status.
func (s *Server) setStatusOn(ctx context.Context, forge webhook.Forge, repo, commit, name string, st publish.State, desc, link string) {
	r, ok := s.status[forge]
	if !ok {
		return
	}
	err := r.SetStatus(ctx, publish.Status{Repo: repo, Commit: commit, State: st, Description: redact.Text(desc), TargetURL: redact.URL(link), Context: name})
	if err != nil {
		s.log.Warn("commit status not set", "repo", repo, "commit", short(commit), "context", name, "err", redact.Text(err.Error()))
	}
}

// targetLink points at the target commit on the forge when the target is a
// plain HTTP(S) repository URL there.
func (s *Server) targetLink(commit string) string {
	if commit == "" || !strings.HasPrefix(s.cfg.TargetURL, "http") {
		return ""
	}
	u, err := url.Parse(strings.TrimSuffix(s.cfg.TargetURL, ".git"))
	if err != nil {
		return ""
	}
	u.User = nil
	return u.String() + "/commit/" + commit
}

// writeAudit appends one JSON line per processed push: when it was
// accepted and finished (for latency), what it was, and its report.
func (s *Server) writeAudit(e webhook.Entry, rep *pipeline.Report, err error) {
	ev := e.Event
	rec := map[string]any{"time": time.Now().UTC().Format(time.RFC3339Nano), "accepted": e.Accepted.Format(time.RFC3339Nano),
		"delivery": ev.DeliveryID, "forge": ev.Forge, "repo": ev.Repo, "ref": ev.Ref, "before": ev.Before, "after": ev.After}
	if rep != nil {
		rec["report"] = rep
	}
	s.appendAudit(rec, err)
}

func (s *Server) appendAudit(rec map[string]any, err error) {
	if err != nil {
		rec["error"] = redact.Text(err.Error())
	}
	line, _ := json.Marshal(rec)
	s.auditMu.Lock()
	defer s.auditMu.Unlock()
	_, _ = s.audit.Write(append(line, '\n'))
}

// limiter allows each sender n pushes a minute and m an hour.
type limiter struct {
	mu      sync.Mutex
	perMin  int
	perHour int
	// minute and hour are the windows (shorter in tests).
	minute, hour time.Duration
	seen         map[string][]time.Time
}

func newLimiter(perMin, perHour int) *limiter {
	return &limiter{perMin: perMin, perHour: perHour, minute: time.Minute, hour: time.Hour, seen: map[string][]time.Time{}}
}

// allow counts a push of sender at now and returns when it may run: now
// when the sender is within both limits, else when the oldest push that
// fills a window leaves it.
func (l *limiter) allow(sender string, now time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	var recent, minute []time.Time
	for _, t := range l.seen[sender] {
		if now.Sub(t) < l.hour {
			recent = append(recent, t)
			if now.Sub(t) < l.minute {
				minute = append(minute, t)
			}
		}
	}
	at := now
	if l.perMin > 0 && len(minute) >= l.perMin {
		at = maxTime(at, minute[len(minute)-l.perMin].Add(l.minute))
	}
	if l.perHour > 0 && len(recent) >= l.perHour {
		at = maxTime(at, recent[len(recent)-l.perHour].Add(l.hour))
	}
	// A deferred push takes its slot at the time it will run.
	l.seen[sender] = append(recent, at)
	sort.Slice(l.seen[sender], func(i, j int) bool { return l.seen[sender][i].Before(l.seen[sender][j]) })
	return at
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
