package server

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/nbpipe/nbpipe/internal/pipeline"
	"github.com/nbpipe/nbpipe/internal/trigger"
	"github.com/nbpipe/nbpipe/publish"
	"github.com/nbpipe/nbpipe/publish/airflow"
	"github.com/nbpipe/nbpipe/publish/ilum"
	"github.com/nbpipe/nbpipe/webhook"
)

// newRunner sets up the deployments after publishing when Airflow or Ilum
// is configured.
func (s *Server) newRunner() error {
	a, il := s.cfg.Airflow, s.cfg.Ilum
	if a.URL == "" && il.URL == "" {
		return nil
	}
	q, err := trigger.OpenQueue(filepath.Join(s.cfg.StateDir, "triggers"))
	if err != nil {
		return err
	}
	r := &trigger.Runner{
		Queue: q, Bundle: a.Bundle, BundleDir: a.BundleDir, CreatePools: a.CreatePools,
		LoadTimeout: a.LoadTimeout, RunTimeout: a.RunTimeout,
		Contains: s.proc.TargetContains,
		Status: func(ctx context.Context, j trigger.Job, name string, st publish.State, desc, link string) {
			s.setStatusOn(ctx, j.Forge, j.Repo, j.SourceCommit, name, st, desc, link)
		},
		Audit:     s.auditJob,
		Log:       s.log.With("component", "deploy"),
		RetryBase: s.cfg.RetryBase, RetryMax: s.cfg.RetryMax, MaxAttempts: s.cfg.MaxAttempts,
	}
	if a.URL != "" {
		r.Airflow = airflow.New(a.URL, trigger.AirflowAuth(a.Token, a.JWTSecret, a.JWTSubject, a.JWTRole, a.Username, a.Password))
		if a.UIURL != "" {
			r.Airflow.UIURL = a.UIURL
		}
	}
	if il.URL != "" {
		r.Ilum = ilum.New(il.URL, il.Token)
		if il.UIURL != "" {
			r.Ilum.UIURL = il.UIURL
		}
	}
	s.runner = r
	return nil
}

// enqueue stores the deployments a published push asks for: for each
// converted notebook, its Airflow DAG when it says trigger: true, and its
// Ilum targets.
func (s *Server) enqueue(ev webhook.PushEvent, rep *pipeline.Report) error {
	if s.runner == nil || rep.TargetHead == "" {
		return nil
	}
	jobs := trigger.Jobs(ev.Forge, rep, s.runner.Airflow != nil, s.runner.Ilum != nil, time.Now().UTC())
	if len(jobs) == 0 {
		return nil
	}
	n, err := s.runner.Queue.Add(jobs...)
	if err != nil {
		return fmt.Errorf("queue deployments: %w", err)
	}
	s.log.Info("deployments queued", "new", n, "of", len(jobs), "source", short(rep.SourceCommit))
	s.runner.Poke()
	return nil
}

// auditJob appends a deployment's outcome, with every step and its timing,
// to the audit log.
func (s *Server) auditJob(j trigger.Job, outcome map[string]any, err error) {
	rec := map[string]any{"time": time.Now().UTC().Format(time.RFC3339Nano), "published": j.PublishedAt.Format(time.RFC3339Nano), "deployment": j.Kind, "forge": j.Forge, "repo": j.Repo,
		"source_commit": j.SourceCommit, "target_commit": j.TargetCommit, "notebook": j.Notebook, "dag_id": j.DagID,
		"run_id": j.RunID, "run_url": j.RunURL, "attempts": j.Attempts + 1, "outcome": outcome}
	s.appendAudit(rec, err)
}
