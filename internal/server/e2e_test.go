package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nbpipe/nbpipe/internal/gittest"
)

// TestEndToEndOnRealGitea runs nbpipe serve against a real Gitea (built from
// the Go module proxy by scripts/gitea.sh): a webhook on the source
// repository, git pushes of notebooks, DAG commits in the target repository,
// commit statuses on the source commits.
func TestEndToEndOnRealGitea(t *testing.T) {
	if os.Getenv("NBPIPE_E2E") == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("NBPIPE_E2E is not set in CI: make test sets it")
		}
		t.Skip("set NBPIPE_E2E=1 (make test does) to build and run a real Gitea")
	}
	script := filepath.Join("..", "..", "scripts", "gitea.sh")
	dir := t.TempDir()
	out, err := exec.Command("bash", script, "start", dir).Output()
	if err != nil {
		logs, _ := os.ReadFile(filepath.Join(dir, "gitea.log"))
		t.Fatalf("gitea.sh start: %v\n%s", err, tail(string(logs), 30))
	}
	t.Cleanup(func() { _ = exec.Command("bash", script, "stop", dir).Run() })
	var g struct{ URL, User, Token string }
	if err := json.Unmarshal(bytes.TrimSpace(out), &g); err != nil {
		t.Fatalf("gitea.sh start printed %q: %v", out, err)
	}
	api := func(method, path string, body any) (int, []byte) {
		var rd io.Reader
		if body != nil {
			data, _ := json.Marshal(body)
			rd = bytes.NewReader(data)
		}
		req, _ := http.NewRequest(method, g.URL+"/api/v1"+path, rd)
		req.Header.Set("Authorization", "token "+g.Token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, data
	}
	for _, repo := range []map[string]any{{"name": "notebooks", "auto_init": true, "default_branch": "main"}, {"name": "dags", "auto_init": true, "default_branch": "main"}} {
		if code, body := api("POST", "/user/repos", repo); code != 201 {
			t.Fatalf("create repo: %d %s", code, body)
		}
	}

	// nbpipe serve, as configured by a platform team.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	auth := func(u string) string { return strings.Replace(u, "://", "://"+g.User+":"+g.Token+"@", 1) }
	cfg := defaults()
	cfg.GiteaSecret = "s3cret"
	cfg.StateDir = t.TempDir()
	cfg.TargetURL = g.URL + "/nbpipe/dags.git"
	cfg.TargetToken, cfg.GiteaURL, cfg.GiteaToken = g.Token, g.URL, g.Token
	cfg.Sources = []SourceRule{{Repo: "nbpipe/notebooks", CloneURL: g.URL + "/{repo}.git", TargetDir: "{name}"}}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	srv, err := New(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, l) }()
	defer func() {
		cancel()
		<-served
		if t.Failed() {
			t.Logf("nbpipe logs:\n%s", tail(logs.String(), 60))
		}
	}()
	hook := map[string]any{"type": "gitea", "active": true, "events": []string{"push"},
		"config": map[string]any{"url": "http://" + l.Addr().String() + "/webhook", "content_type": "json", "secret": "s3cret"}}
	if code, body := api("POST", "/repos/nbpipe/notebooks/hooks", hook); code != 201 {
		t.Fatalf("create hook: %d %s", code, body)
	}

	work := t.TempDir()
	gittest.Run(t, "", "git", "clone", "-q", auth(g.URL+"/nbpipe/notebooks.git"), work)
	nb := func(code string) string {
		data, _ := json.Marshal(map[string]any{"nbformat": 4, "nbformat_minor": 5, "metadata": map[string]any{},
			"cells": []any{map[string]any{"cell_type": "code", "metadata": map[string]any{}, "source": code}}})
		return string(data)
	}
	push := func(msg string, files map[string]string, renames ...[2]string) string {
		for _, r := range renames {
			gittest.Run(t, work, "git", "mv", r[0], r[1])
		}
		sha := gittest.Commit(t, work, msg, files)
		gittest.Run(t, work, "git", "push", "-q", "origin", "main")
		return sha
	}
	// waitStatus polls the source commit's combined status until nbpipe has
	// set a final one.
	waitStatus := func(sha string) (state, desc string) {
		deadline := time.Now().Add(2 * time.Minute)
		for time.Now().Before(deadline) {
			code, body := api("GET", "/repos/nbpipe/notebooks/commits/"+sha+"/statuses", nil)
			var sts []struct{ Status, Description, Context, TargetURL string }
			if code == 200 && json.Unmarshal(body, &sts) == nil {
				for _, s := range sts {
					if s.Context == "nbpipe" && s.Status != "pending" {
						return s.Status, s.Description
					}
				}
			}
			time.Sleep(300 * time.Millisecond)
		}
		t.Fatalf("no final nbpipe status on %s", sha)
		return "", ""
	}
	targetFile := func(p string) (string, bool) {
		code, body := api("GET", "/repos/nbpipe/dags/raw/"+p+"?ref=main", nil)
		return string(body), code == 200
	}

	// Push 1: a good notebook, a broken one, one with a secret.
	first := push("add notebooks", map[string]string{
		"etl.ipynb":    nb("rows = spark.range(5).count()\n"),
		"broken.ipynb": `{"nbformat": 4, "cells": [`,
		"leaky.ipynb":  nb("password = \"hunter2hunter2\"\n"),
	})
	state, desc := waitStatus(first)
	if state != "failure" || !strings.Contains(desc, "1 notebook(s) converted, 2 failed") {
		t.Fatalf("status on the first push: %s %q", state, desc)
	}
	dag, ok := targetFile("notebooks/dags/etl.py")
	if !ok || !strings.Contains(dag, "# source-commit: "+first) || !strings.Contains(dag, "# notebook: etl.ipynb") {
		t.Fatalf("notebooks/dags/etl.py:\n%s", dag)
	}
	for _, p := range []string{"notebooks/dags/broken.py", "notebooks/dags/leaky.py"} {
		if _, ok := targetFile(p); ok {
			t.Fatalf("%s was published", p)
		}
	}
	_, body := api("GET", "/repos/nbpipe/dags/commits?sha=main&limit=1", nil)
	if !strings.Contains(string(body), "Source-Commit: "+first) || !strings.Contains(string(body), "Source-Repo: nbpipe/notebooks") {
		t.Fatalf("target commit lacks the trailers: %s", body)
	}

	// Push 2: rename and modify etl, fix broken, delete leaky.
	second := push("rename, fix, delete", map[string]string{
		"broken.ipynb": nb("fixed = True\n"),
		"leaky.ipynb":  "",
		"daily.ipynb":  nb("rows = spark.range(10).count()\n"),
	}, [2]string{"etl.ipynb", "renamed.ipynb"})
	state, desc = waitStatus(second)
	if state != "success" {
		t.Fatalf("status on the second push: %s %q", state, desc)
	}
	if _, ok := targetFile("notebooks/dags/etl.py"); ok {
		t.Fatal("the renamed notebook's old DAG is still there")
	}
	for _, p := range []string{"notebooks/dags/renamed.py", "notebooks/dags/broken.py", "notebooks/dags/daily.py"} {
		if _, ok := targetFile(p); !ok {
			t.Fatalf("%s missing after the second push", p)
		}
	}
	if !strings.Contains(logs.String(), "notebook converted") || !strings.Contains(logs.String(), "notebook=broken.ipynb") {
		t.Fatalf("the per-notebook report is not in the log:\n%s", tail(logs.String(), 30))
	}
	audit, _ := os.ReadFile(filepath.Join(cfg.StateDir, "audit.jsonl"))
	if n := strings.Count(string(audit), "\n"); n != 2 {
		t.Fatalf("audit log has %d lines, want 2:\n%s", n, audit)
	}
	if strings.Contains(logs.String(), g.Token) || strings.Contains(string(audit), g.Token) {
		t.Fatal("the token appears in the logs or the audit log")
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
