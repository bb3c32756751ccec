// Package server assembles `nbpipe serve`: the webhook endpoint, the durable
// spool, the worker that runs the pipeline, commit statuses, the audit log,
// health and metrics.
package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/nbpipe/nbpipe/convert"
	"github.com/nbpipe/nbpipe/internal/pipeline"
	"github.com/nbpipe/nbpipe/publish"
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
	limits   *limiter
	audit    *os.File
	auditMu  sync.Mutex
	metrics  *metrics
	mux      *http.ServeMux
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
}

// New prepares a server: state directories, spool, pipeline, metrics.
func New(cfg Config, log *slog.Logger) (*Server, error) {
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
	s := &Server{cfg: cfg, log: log, spool: sp, wake: make(chan struct{}, 1), audit: audit,
		limits: newLimiter(cfg.RatePerMin, cfg.RatePerHour), status: map[webhook.Forge]publish.StatusReporter{}}
	if cfg.GiteaURL != "" && cfg.GiteaToken != "" {
		s.status[webhook.Gitea] = publish.GiteaStatus{URL: cfg.GiteaURL, Token: cfg.GiteaToken}
	}
	if cfg.GitHubToken != "" {
		s.status[webhook.GitHub] = publish.GitHubStatus{Token: cfg.GitHubToken, BaseURL: cfg.GitHubAPI}
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
			tok := r.Token
			if tok == "" {
				tok = cfg.GiteaToken
			}
			return pipeline.Source{CloneURL: r.CloneURL, Token: tok, TargetDir: r.TargetDir}, true
		},
		TargetURL: cfg.TargetURL, TargetToken: cfg.TargetToken, TargetBranch: cfg.TargetBranch,
		CacheDir: filepath.Join(cfg.StateDir, "git"),
		Author:   publish.Author{Name: "nbpipe", Email: "nbpipe@localhost"},
		Log:      log,
	})
	s.metrics = newMetrics(s)
	s.mux = http.NewServeMux()
	hook := &webhook.Handler{
		Secrets:  map[webhook.Forge][]byte{},
		Insecure: cfg.Insecure,
		MaxBody:  cfg.MaxBody,
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
		fmt.Fprintln(w, "ready")
	})
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	return s, nil
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
	m.failures = prometheus.NewCounter(prometheus.CounterOpts{Name: "nbpipe_process_failures_total", Help: "Pushes whose processing failed and will be retried."})
	m.reg.MustRegister(m.deliveries, m.queue, m.process, m.convert, m.publish, m.commits, m.retries, m.failures)
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
		if ok, _ := doublestar.Match(g, ev.Branch()); ok {
			matched = true
		}
	}
	switch {
	case !matched:
		return "branch " + ev.Branch() + " does not publish"
	case !s.allowed(ev.Repo):
		return "repository " + ev.Repo + " is not allow-listed"
	case !s.limits.allow(string(ev.Forge)+"/"+ev.Sender, time.Now()):
		return "rate limit for sender " + ev.Sender
	}
	return ""
}

func (s *Server) allowed(repo string) bool {
	_, ok := s.cfg.source(repo)
	return ok
}

// intake stores a push and wakes the worker.
type intake struct{ s *Server }

func (in intake) Accept(ctx context.Context, ev webhook.PushEvent) error {
	if err := in.s.spool.Accept(ctx, ev); err != nil {
		return err
	}
	select {
	case in.s.wake <- struct{}{}:
	default:
	}
	return nil
}

// Handler is the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.mux }

// Serve listens on l until ctx ends, then drains: new deliveries get 503,
// the current push finishes, pending ones stay in the spool for the next
// start.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second}
	workerDone := make(chan struct{})
	workCtx, stopWork := context.WithCancel(context.Background())
	go func() { defer close(workerDone); s.work(workCtx) }()
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

// work processes the spool: oldest push first, one at a time (one writer per
// target branch). A push that fails for a transient reason stays pending and
// is retried with backoff; one with a permanent error is reported and retired.
func (s *Server) work(ctx context.Context) {
	backoff := time.Second
	for {
		pending, err := s.spool.Pending()
		if err != nil {
			s.log.Error("spool unreadable", "err", err)
		}
		progressed := false
		for _, ev := range pending {
			if ctx.Err() != nil {
				return
			}
			if s.handle(ctx, ev) {
				progressed = true
			} else {
				break // keep order: retry this one first
			}
		}
		wait := time.Hour
		if len(pending) > 0 && !progressed {
			wait, backoff = backoff, min(backoff*2, 5*time.Minute)
		} else {
			backoff = time.Second
			if len(pending) > 0 {
				wait = 0
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-time.After(wait):
		}
	}
}

// handle processes one push; it reports whether the push is finished.
func (s *Server) handle(ctx context.Context, ev webhook.PushEvent) bool {
	log := s.log.With("delivery", ev.DeliveryID, "repo", ev.Repo, "after", ev.After)
	s.setStatus(ctx, ev, publish.StatePending, "converting notebooks", "")
	start := time.Now()
	rep, err := s.proc.Process(ctx, ev)
	s.metrics.process.Observe(time.Since(start).Seconds())
	if pipeline.Permanent(err) {
		log.Warn("push dropped", "err", err)
		s.setStatus(ctx, ev, publish.StateError, "nbpipe: "+err.Error(), "")
		s.writeAudit(ev, nil, err)
		_ = s.spool.Done(ev)
		return true
	}
	if err != nil {
		if ctx.Err() != nil {
			return false
		}
		s.metrics.failures.Inc()
		log.Error("push failed; will retry", "err", err)
		return false
	}
	s.metrics.convert.Observe(rep.ConvertSeconds)
	s.metrics.publish.Observe(rep.PublishSeconds)
	if rep.TargetCommit != "" {
		s.metrics.commits.Inc()
	}
	if rep.Tries > 1 {
		s.metrics.retries.Add(float64(rep.Tries - 1))
	}
	state := publish.StateSuccess
	if rep.Failed() > 0 || len(rep.Refused) > 0 {
		state = publish.StateFailure
	}
	s.setStatus(ctx, ev, state, rep.Summary(), s.targetLink(rep.TargetCommit))
	s.writeAudit(ev, rep, nil)
	// The full report in the log too: one line per notebook with its files
	// and every finding (dropped cells and lines, warnings, errors).
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
	if err := s.spool.Done(ev); err != nil {
		log.Error("spool", "err", err)
	}
	return true
}

func (s *Server) setStatus(ctx context.Context, ev webhook.PushEvent, st publish.State, desc, link string) {
	r, ok := s.status[ev.Forge]
	if !ok {
		return
	}
	if err := r.SetStatus(ctx, publish.Status{Repo: ev.Repo, Commit: ev.After, State: st, Description: desc, TargetURL: link}); err != nil {
		s.log.Warn("commit status not set", "delivery", ev.DeliveryID, "err", err)
	}
}

// targetLink points at the target commit on the forge when the target is a
// plain HTTP(S) repository URL there.
func (s *Server) targetLink(commit string) string {
	if commit == "" || !strings.HasPrefix(s.cfg.TargetURL, "http") {
		return ""
	}
	base := strings.TrimSuffix(s.cfg.TargetURL, ".git")
	if i := strings.Index(base, "@"); i >= 0 && strings.Contains(base[:i], "://") {
		base = base[:strings.Index(base, "://")+3] + base[i+1:]
	}
	return base + "/commit/" + commit
}

// writeAudit appends one JSON line per processed push.
func (s *Server) writeAudit(ev webhook.PushEvent, rep *pipeline.Report, err error) {
	rec := map[string]any{"time": time.Now().UTC().Format(time.RFC3339), "delivery": ev.DeliveryID, "forge": ev.Forge, "repo": ev.Repo, "ref": ev.Ref, "before": ev.Before, "after": ev.After}
	if rep != nil {
		rec["report"] = rep
	}
	if err != nil {
		rec["error"] = err.Error()
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
	seen    map[string][]time.Time
}

func newLimiter(perMin, perHour int) *limiter {
	return &limiter{perMin: perMin, perHour: perHour, seen: map[string][]time.Time{}}
}

func (l *limiter) allow(sender string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	var recent []time.Time
	minute := 0
	for _, t := range l.seen[sender] {
		if now.Sub(t) < time.Hour {
			recent = append(recent, t)
			if now.Sub(t) < time.Minute {
				minute++
			}
		}
	}
	if (l.perMin > 0 && minute >= l.perMin) || (l.perHour > 0 && len(recent) >= l.perHour) {
		l.seen[sender] = recent
		return false
	}
	l.seen[sender] = append(recent, now)
	return true
}
