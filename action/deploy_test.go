package action

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/sethvargo/go-githubactions"

	"github.com/nbpipe/nbpipe/internal/airflowtest"
	"github.com/nbpipe/nbpipe/internal/gittest"
	"github.com/nbpipe/nbpipe/publish/airflow"
)

// TestActionTriggersRealAirflow runs the Action's push path against a real
// git server and a real Airflow 3 whose GitDagBundle reads the dags
// repository: with airflow-url set, a notebook that says trigger: true is
// loaded, unpaused and triggered (run id nbpipe__<commit>), the summary
// lists the deployment with its link, and the Airflow secret appears
// nowhere in what the Action prints. A re-run of the job starts no second
// run.
func TestActionTriggersRealAirflow(t *testing.T) {
	if os.Getenv("NBPIPE_E2E") == "" {
		t.Skip("NBPIPE_E2E not set: starts a real Airflow")
	}
	venv := airflowtest.NeedVenv(t)
	srv := gittest.NewServer(t)
	src, target := srv.Repo(t, "acme/notebooks"), srv.Repo(t, "dags")
	dags := gittest.Clone(t, target)
	// A DAG of the platform team's: Airflow parses a new file of the
	// bundle at once when asked through a DAG it already has; an empty
	// bundle waits for its refresh interval.
	gittest.Commit(t, dags, "platform DAG", map[string]string{"platform/healthcheck.py": "from airflow.sdk import DAG\n" +
		"from airflow.providers.standard.operators.empty import EmptyOperator\n\n" +
		"with DAG(\"platform_healthcheck\", schedule=None):\n    EmptyOperator(task_id=\"ok\")\n"})
	gittest.Run(t, dags, "git", "push", "-q", "origin", "main")
	af := airflowtest.Start(t, venv, target, "300")

	work := gittest.Clone(t, src)
	after := gittest.Commit(t, work, "a pipeline", map[string]string{
		"pipelines/act_run.ipynb": `{"nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": {"name": "python3", "language": "python"},
		 "nbpipe": {"trigger": true, "wait": false}}, "cells": [{"cell_type": "code", "metadata": {}, "source": "x = 1\n"}]}`,
	})
	gittest.Run(t, work, "git", "push", "-q", "origin", "main")
	payload, _ := json.Marshal(map[string]any{"ref": "refs/heads/main", "before": strings.Repeat("0", 40), "after": after,
		"repository": map[string]any{"full_name": "acme/notebooks"}, "sender": map[string]any{"login": "dev"}})

	runAction := func() (string, string, error) {
		env, summary := runEnv(t, string(payload))
		env["GITHUB_SERVER_URL"] = srv.URL
		env["INPUT_TARGET-URL"] = target
		env["INPUT_AIRFLOW-URL"] = af.URL
		env["INPUT_AIRFLOW-JWT-SECRET"] = af.JWTSecret
		env["INPUT_AIRFLOW-BUNDLE"] = af.Bundle
		env["INPUT_DEPLOY-TIMEOUT"] = "8m"
		getenv := func(k string) string { return env[k] }
		var out strings.Builder
		a := githubactions.New(githubactions.WithGetenv(getenv), githubactions.WithWriter(&out))
		err := Run(context.Background(), a, getenv, slog.New(slog.NewTextHandler(&out, nil)))
		sum, _ := os.ReadFile(summary)
		return out.String(), string(sum), err
	}
	out, sum, err := runAction()
	if err != nil {
		t.Fatalf("action: %v\n%s\n%s", err, out, sum)
	}
	runID := "nbpipe__" + after[:12]
	if !strings.Contains(sum, "#### Deployments") || !strings.Contains(sum, `nbpipe/airflow/act\_run | success`) || !strings.Contains(sum, "/dags/act_run/runs/"+runID) {
		t.Fatalf("summary:\n%s\nlog:\n%s", sum, out)
	}
	if strings.Contains(out+sum, af.JWTSecret) {
		t.Fatal("the Airflow secret reached the Action's output")
	}
	c := airflow.New(af.URL, airflow.SecretAuth(af.JWTSecret, "nbpipe", "OP"))
	runs, err := c.Runs(context.Background(), "act_run", airflow.RunFilter{})
	if err != nil || len(runs) != 1 || runs[0].DagRunID != runID {
		t.Fatalf("Airflow runs of act_run: %+v %v", runs, err)
	}
	dag, err := c.DAG(context.Background(), "act_run")
	if err != nil || dag.IsPaused {
		t.Fatalf("act_run still paused: %+v %v", dag, err)
	}

	// The job again (a re-run): nothing is published, nothing triggered.
	out, sum, err = runAction()
	if err != nil || strings.Contains(sum, "#### Deployments") {
		t.Fatalf("re-run: %v\n%s\n%s", err, out, sum)
	}
	if runs, err := c.Runs(context.Background(), "act_run", airflow.RunFilter{}); err != nil || len(runs) != 1 {
		t.Fatalf("a re-run started a second run: %+v %v", runs, err)
	}
}
