package action

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sethvargo/go-githubactions"

	"github.com/nbpipe/nbpipe/internal/gittest"
)

// TestRunOnAPushEvent runs the entrypoint the way a runner does: the
// documented GITHUB_* variables, INPUT_* inputs, an event file, and the
// output and step-summary files. The repositories are real git servers.
func TestRunOnAPushEvent(t *testing.T) {
	srv := gittest.NewServer(t)
	src := srv.Repo(t, "team/notebooks")
	target := srv.Repo(t, "dags")
	work := gittest.Clone(t, src)
	after := gittest.Commit(t, work, "notebooks", map[string]string{
		"etl.ipynb":    `{"nbformat": 4, "metadata": {}, "cells": [{"cell_type": "code", "metadata": {}, "source": "x = 1"}]}`,
		"broken.ipynb": `{"nbformat": 4`,
	})
	gittest.Run(t, work, "git", "push", "-q", "origin", "main")

	dir := t.TempDir()
	event := filepath.Join(dir, "event.json")
	payload, _ := json.Marshal(map[string]any{"ref": "refs/heads/main", "before": strings.Repeat("0", 40), "after": after,
		"repository": map[string]any{"full_name": "team/notebooks"}, "sender": map[string]any{"login": "dev"}})
	if err := os.WriteFile(event, payload, 0o644); err != nil {
		t.Fatal(err)
	}
	outputs, summary := filepath.Join(dir, "output"), filepath.Join(dir, "summary")
	for _, f := range []string{outputs, summary} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{
		"GITHUB_EVENT_NAME": "push", "GITHUB_EVENT_PATH": event, "GITHUB_REPOSITORY": "team/notebooks",
		"GITHUB_SERVER_URL": srv.URL, "GITHUB_RUN_ID": "7", "GITHUB_RUN_ATTEMPT": "1",
		"GITHUB_OUTPUT": outputs, "GITHUB_STEP_SUMMARY": summary, "RUNNER_TEMP": t.TempDir(),
		"INPUT_TARGET-URL": target, "INPUT_TARGET-DIR": "team", "INPUT_MODE": "per_cell",
	}
	getenv := func(k string) string { return env[k] }
	a := githubactions.New(githubactions.WithGetenv(getenv), githubactions.WithWriter(io.Discard))
	err := Run(context.Background(), a, getenv, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "1 notebook(s) converted, 1 failed") {
		t.Fatalf("the step must fail when a notebook failed, after publishing the rest: %v", err)
	}
	out, _ := os.ReadFile(outputs)
	for _, want := range []string{"converted<<", "failed<<", "target-commit<<"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("outputs lack %s:\n%s", want, out)
		}
	}
	sum, _ := os.ReadFile(summary)
	if !strings.Contains(string(sum), "| etl.ipynb | added | converted | team/dags/etl.py |") || !strings.Contains(string(sum), "**failed**") {
		t.Fatalf("step summary:\n%s", sum)
	}
	check := gittest.Clone(t, target)
	dag, err := os.ReadFile(filepath.Join(check, "team", "dags", "etl.py"))
	if err != nil || !strings.Contains(string(dag), "# source-commit: "+after) {
		t.Fatalf("DAG not published: %v", err)
	}
	msg := gittest.Run(t, check, "git", "log", "-1", "--format=%B")
	if !strings.Contains(msg, "Source-Commit: "+after) {
		t.Fatalf("commit message:\n%s", msg)
	}

	// Other events are ignored.
	env["GITHUB_EVENT_NAME"] = "pull_request"
	if err := Run(context.Background(), a, getenv, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatalf("pull_request: %v", err)
	}
}

// runEnv is a runner's environment for an event file holding body.
func runEnv(t *testing.T, body string) (map[string]string, string) {
	t.Helper()
	dir := t.TempDir()
	event := filepath.Join(dir, "event.json")
	if err := os.WriteFile(event, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	outputs, summary := filepath.Join(dir, "output"), filepath.Join(dir, "summary")
	for _, f := range []string{outputs, summary} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return map[string]string{
		"GITHUB_EVENT_NAME": "push", "GITHUB_EVENT_PATH": event, "GITHUB_REPOSITORY": "acme/notebooks",
		"GITHUB_SERVER_URL": "http://127.0.0.1:1", "GITHUB_RUN_ID": "7", "GITHUB_RUN_ATTEMPT": "1",
		"GITHUB_OUTPUT": outputs, "GITHUB_STEP_SUMMARY": summary, "RUNNER_TEMP": t.TempDir(),
		"INPUT_TARGET-URL": "http://127.0.0.1:1/dags.git",
	}, summary
}

// TestRunRefusesAnEventThatIsNotAPush: an event file holding null, {}, []
// or a string is a clear error, not a panic (which exits 2 with a stack).
func TestRunRefusesAnEventThatIsNotAPush(t *testing.T) {
	for _, body := range []string{"null", "{}", "[]", `"push"`, "", "{"} {
		t.Run(body, func(t *testing.T) {
			env, _ := runEnv(t, body)
			getenv := func(k string) string { return env[k] }
			var out strings.Builder
			a := githubactions.New(githubactions.WithGetenv(getenv), githubactions.WithWriter(&out))
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("Run panicked on an event file holding %q: %v", body, r)
					}
				}()
				err = Run(context.Background(), a, getenv, slog.New(slog.NewTextHandler(io.Discard, nil)))
			}()
			if err == nil {
				t.Fatalf("Run accepted an event file holding %q", body)
			}
			if !strings.Contains(err.Error(), "event") {
				t.Fatalf("the error does not say the event file is at fault: %v", err)
			}
		})
	}
}
