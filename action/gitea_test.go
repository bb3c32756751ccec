package action

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sethvargo/go-githubactions"

	"github.com/nbpipe/nbpipe/internal/gittest"
	"github.com/nbpipe/nbpipe/preview"
)

// TestRunPreviewOnRealGitea: the Action under Gitea Actions
// (GITEA_ACTIONS=true) on a real pull request in a real Gitea
// (scripts/gitea.sh): the head is fetched from refs/pull/N/head as Gitea
// keeps it, nothing is published, and the preview is one comment through
// Gitea's API, edited on the next push.
func TestRunPreviewOnRealGitea(t *testing.T) {
	if os.Getenv("NBPIPE_E2E") == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("NBPIPE_E2E is not set in CI: make test sets it")
		}
		t.Skip("set NBPIPE_E2E=1 (make test does) to build and run a real Gitea")
	}
	script := filepath.Join("..", "scripts", "gitea.sh")
	dir := t.TempDir()
	out, err := exec.Command("bash", script, "start", dir).Output()
	if err != nil {
		logs, _ := os.ReadFile(filepath.Join(dir, "gitea.log"))
		t.Fatalf("gitea.sh start: %v\n%s", err, logs)
	}
	t.Cleanup(func() { _ = exec.Command("bash", script, "stop", dir).Run() })
	var g struct{ URL, User, Token string }
	if err := json.Unmarshal(bytes.TrimSpace(out), &g); err != nil {
		t.Fatalf("gitea.sh start printed %q: %v", out, err)
	}
	g.URL = strings.TrimSuffix(g.URL, "/")
	api := func(method, path string, body any, want int) []byte {
		t.Helper()
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
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, data)
		}
		return data
	}
	for _, name := range []string{"notebooks", "dags"} {
		api("POST", "/user/repos", map[string]any{"name": name, "auto_init": true, "default_branch": "main"}, 201)
	}
	auth := func(u string) string { return strings.Replace(u, "://", "://"+g.User+":"+g.Token+"@", 1) }
	repo := g.User + "/notebooks"
	work := gittest.Clone(t, auth(g.URL+"/"+repo+".git"))
	gittest.Run(t, work, "git", "checkout", "-q", "-b", "feature")
	gittest.Commit(t, work, "notebooks", map[string]string{
		"etl.ipynb":    `{"nbformat": 4, "metadata": {}, "cells": [{"cell_type": "code", "metadata": {}, "source": "x = 1"}]}`,
		"broken.ipynb": `{"nbformat": 4`,
	})
	gittest.Run(t, work, "git", "push", "-q", "origin", "feature")
	var pr struct {
		Number int
		Head   struct{ Sha string }
		Base   struct{ Sha string }
	}
	body := api("POST", "/repos/"+repo+"/pulls", map[string]any{"head": "feature", "base": "main", "title": "etl"}, 201)
	if err := json.Unmarshal(body, &pr); err != nil || pr.Number == 0 {
		t.Fatalf("pull request: %v %s", err, body)
	}
	// The event file as Gitea Actions writes it for the pull request.
	event := func() string {
		var full map[string]any
		json.Unmarshal(api("GET", fmt.Sprintf("/repos/%s/pulls/%d", repo, pr.Number), nil, 200), &full)
		payload, _ := json.Marshal(map[string]any{"action": "synchronized", "number": pr.Number, "pull_request": full,
			"repository": map[string]any{"full_name": repo}})
		return string(payload)
	}
	run := func() (string, error) {
		env, _ := runEnv(t, event())
		env["GITHUB_EVENT_NAME"] = "pull_request"
		env["GITHUB_REPOSITORY"] = repo
		env["GITHUB_SERVER_URL"] = g.URL
		env["GITHUB_API_URL"] = g.URL + "/api/v1"
		env["GITEA_ACTIONS"] = "true"
		env["INPUT_TOKEN"] = g.Token
		env["INPUT_TARGET-URL"] = auth(g.URL + "/" + g.User + "/dags.git")
		getenv := func(k string) string { return env[k] }
		var out strings.Builder
		a := githubactions.New(githubactions.WithGetenv(getenv), githubactions.WithWriter(&out))
		err := Run(context.Background(), a, getenv, slog.New(slog.NewTextHandler(io.Discard, nil)))
		return out.String(), err
	}
	comments := func() []string {
		var cs []struct {
			Body string
			User struct{ Login string }
		}
		json.Unmarshal(api("GET", fmt.Sprintf("/repos/%s/issues/%d/comments", repo, pr.Number), nil, 200), &cs)
		var out []string
		for _, c := range cs {
			if strings.HasPrefix(c.Body, preview.Marker) {
				out = append(out, c.Body)
			}
		}
		return out
	}
	dagsHead := func() string {
		var b struct{ Commit struct{ ID string } }
		json.Unmarshal(api("GET", "/repos/"+g.User+"/dags/branches/main", nil, 200), &b)
		return b.Commit.ID
	}
	before := dagsHead()

	out1, err := run()
	if err == nil || !strings.Contains(err.Error(), "1 notebook(s) would not convert") {
		t.Fatalf("first run: %v\n%s", err, out1)
	}
	if !strings.Contains(out1, "::error file=broken.ipynb::") {
		t.Errorf("no annotation on broken.ipynb:\n%s", out1)
	}
	if cs := comments(); len(cs) != 1 || !strings.Contains(cs[0], "#### broken\\.ipynb") || !strings.Contains(cs[0], "| dags/etl\\.py | added |") {
		t.Fatalf("comments after the first run: %q", cs)
	}

	// A push to the pull request that fixes the notebook.
	gittest.Commit(t, work, "fix", map[string]string{"broken.ipynb": ""})
	gittest.Run(t, work, "git", "push", "-q", "origin", "feature")
	if out, err := run(); err != nil {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	if cs := comments(); len(cs) != 1 || strings.Contains(cs[0], "broken") {
		t.Fatalf("comments after the second push (want the one, edited): %q", cs)
	}
	if after := dagsHead(); after != before {
		t.Fatalf("a preview published to the dags repository: %s -> %s", before, after)
	}
}
