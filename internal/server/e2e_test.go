package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
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
	needE2E(t)
	g := startGitea(t)
	api := g.api
	g.createRepo("notebooks")
	g.createRepo("dags")

	// nbpipe serve, as configured by a platform team.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
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
	g.hook("nbpipe/notebooks", "http://"+l.Addr().String()+"/webhook", "s3cret")

	work := t.TempDir()
	gittest.Run(t, "", "git", "clone", "-q", g.withAuth(g.URL+"/nbpipe/notebooks.git"), work)
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
	waitStatus := func(sha string) (state, desc string) {
		st := g.waitFinal("nbpipe/notebooks", sha, "nbpipe", 2*time.Minute)
		return st.Status, st.Description
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

	// A pull request is previewed, never published: a status on its head
	// and one comment that each new push edits in place.
	_, before := api("GET", "/repos/nbpipe/dags/branches/main", nil)
	gittest.Run(t, work, "git", "checkout", "-q", "-b", "feature")
	head1 := gittest.Commit(t, work, "feature v1", map[string]string{
		"daily.ipynb": nb("rows = spark.range(20).count()\n"),
		"oops.ipynb":  `{"nbformat": 4, "cells": [`,
	})
	gittest.Run(t, work, "git", "push", "-q", "origin", "feature")
	code, body := api("POST", "/repos/nbpipe/notebooks/pulls", map[string]any{"head": "feature", "base": "main", "title": "daily v2"})
	if code != 201 {
		t.Fatalf("open pull request: %d %s", code, body)
	}
	var pr struct{ Number int }
	_ = json.Unmarshal(body, &pr)
	st := g.waitFinal("nbpipe/notebooks", head1, PreviewContext, 2*time.Minute)
	if st.Status != "failure" || !strings.Contains(st.Description, "1 notebook(s) would convert, 1 would fail") {
		t.Fatalf("preview status: %+v", st)
	}
	comments := func() []string {
		_, body := api("GET", fmt.Sprintf("/repos/nbpipe/notebooks/issues/%d/comments", pr.Number), nil)
		var cs []struct{ Body string }
		_ = json.Unmarshal(body, &cs)
		var out []string
		for _, c := range cs {
			out = append(out, c.Body)
		}
		return out
	}
	if cs := comments(); len(cs) != 1 || !strings.Contains(cs[0], "oops") || !strings.Contains(cs[0], "daily") {
		t.Fatalf("preview comments: %q", cs)
	}
	head2 := gittest.Commit(t, work, "feature v2", map[string]string{"oops.ipynb": nb("fixed = 1\n")})
	gittest.Run(t, work, "git", "push", "-q", "origin", "feature")
	if st := g.waitFinal("nbpipe/notebooks", head2, PreviewContext, 2*time.Minute); st.Status != "success" || !strings.Contains(st.Description, "0 would fail") {
		t.Fatalf("preview status after the fix: %+v", st)
	}
	if cs := comments(); len(cs) != 1 || !strings.Contains(cs[0], "2 notebook(s) would convert, 0 would fail") {
		t.Fatalf("the comment was not edited in place: %q", cs)
	}
	if _, after := api("GET", "/repos/nbpipe/dags/branches/main", nil); string(after) != string(before) {
		t.Fatal("a pull request preview published to the target branch")
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
