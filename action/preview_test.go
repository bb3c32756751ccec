package action

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/sethvargo/go-githubactions"

	"github.com/nbpipe/nbpipe/internal/gittest"
	"github.com/nbpipe/nbpipe/preview"
)

// commentStore is a forge's comments on pull request 7, behind GitHub's
// issue-comment REST calls.
type commentStore struct {
	mu     sync.Mutex
	bodies map[int]string
	posts  int
}

func (s *commentStore) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// The API root is /api/v3, as GitHub Enterprise's GITHUB_API_URL.
	path, ok := strings.CutPrefix(r.URL.Path, "/api/v3")
	if !ok {
		http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
		return
	}
	r.URL.Path = path
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.URL.Path == "/user":
		http.Error(w, `{"message":"Resource not accessible by integration"}`, http.StatusForbidden)
	case r.Method == "GET" && r.URL.Path == "/repos/acme/notebooks/issues/7/comments":
		var out []map[string]any
		for id, b := range s.bodies {
			out = append(out, map[string]any{"id": id, "body": b, "user": map[string]any{"login": "github-actions[bot]", "type": "Bot"}})
		}
		json.NewEncoder(w).Encode(out)
	case r.Method == "POST" && r.URL.Path == "/repos/acme/notebooks/issues/7/comments":
		var in struct{ Body string }
		json.NewDecoder(r.Body).Decode(&in)
		s.posts++
		s.bodies[100+s.posts] = in.Body
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]any{"id": 100 + s.posts})
	case r.Method == "PATCH" && r.URL.Path == "/repos/acme/notebooks/issues/comments/101":
		var in struct{ Body string }
		json.NewDecoder(r.Body).Decode(&in)
		s.bodies[101] = in.Body
		json.NewEncoder(w).Encode(map[string]any{"id": 101})
	default:
		io.Copy(io.Discard, r.Body)
		http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
	}
}

// TestRunPreviewsAPullRequest: on pull_request the Action converts the
// notebooks the pull request changes, publishes nothing, annotates the
// failing notebook, writes the preview as the step summary and keeps one
// comment on the pull request, edited on the next push.
func TestRunPreviewsAPullRequest(t *testing.T) {
	srv := gittest.NewServer(t)
	src := srv.Repo(t, "acme/notebooks")
	target := srv.Repo(t, "dags")
	work := gittest.Clone(t, src)
	base := gittest.Commit(t, work, "main", map[string]string{
		"etl.ipynb": `{"nbformat": 4, "metadata": {}, "cells": [{"cell_type": "code", "metadata": {}, "source": "x = 1"}]}`,
	})
	gittest.Run(t, work, "git", "push", "-q", "origin", "main")
	gittest.Run(t, work, "git", "checkout", "-q", "-b", "feature")
	head := gittest.Commit(t, work, "feature", map[string]string{
		"etl.ipynb":    `{"nbformat": 4, "metadata": {}, "cells": [{"cell_type": "code", "metadata": {}, "source": "x = 2"}]}`,
		"broken.ipynb": `{"nbformat": 4`,
	})
	// A pull request from a fork: its head is only at refs/pull/7/head.
	gittest.Run(t, work, "git", "push", "-q", "origin", "HEAD:refs/pull/7/head")

	store := &commentStore{bodies: map[int]string{}}
	api := httptest.NewServer(store)
	defer api.Close()

	run := func(head string) (map[string]string, string, error) {
		payload, _ := json.Marshal(map[string]any{"action": "synchronize", "number": 7,
			"pull_request": map[string]any{"number": 7, "head": map[string]any{"sha": head, "ref": "feature"}, "base": map[string]any{"sha": base, "ref": "main"}},
			"repository":   map[string]any{"full_name": "acme/notebooks"}})
		env, _ := runEnv(t, string(payload))
		env["GITHUB_EVENT_NAME"] = "pull_request"
		env["GITHUB_SERVER_URL"] = srv.URL
		env["GITHUB_API_URL"] = api.URL + "/api/v3"
		env["INPUT_TARGET-URL"] = target
		env["INPUT_TARGET-DIR"] = "team"
		env["INPUT_TOKEN"] = "tok-1234"
		getenv := func(k string) string { return env[k] }
		var out strings.Builder
		a := githubactions.New(githubactions.WithGetenv(getenv), githubactions.WithWriter(&out))
		err := Run(context.Background(), a, getenv, slog.New(slog.NewTextHandler(io.Discard, nil)))
		return env, out.String(), err
	}
	env, out, err := run(head)
	if err == nil || !strings.Contains(err.Error(), "1 notebook(s) would not convert") {
		t.Fatalf("the step must fail when a notebook would: %v", err)
	}
	if !strings.Contains(out, "::error file=broken.ipynb::broken.ipynb: ") {
		t.Errorf("no annotation on the failing notebook:\n%s", out)
	}
	outputs, _ := os.ReadFile(env["GITHUB_OUTPUT"])
	if !strings.Contains(string(outputs), "converted<<") || !strings.Contains(string(outputs), "failed<<") {
		t.Errorf("outputs:\n%s", outputs)
	}
	sum, _ := os.ReadFile(env["GITHUB_STEP_SUMMARY"])
	for _, want := range []string{preview.Marker, "#### etl\\.ipynb", "| team/dags/etl\\.py | added |", "#### broken\\.ipynb"} {
		if !strings.Contains(string(sum), want) {
			t.Errorf("summary lacks %q:\n%s", want, sum)
		}
	}
	if gittest.Run(t, "", "git", "ls-remote", target) != "" {
		t.Fatal("a preview published to the target")
	}
	if store.posts != 1 || strings.TrimSpace(store.bodies[101]) != strings.TrimSpace(string(sum)) {
		t.Fatalf("comments after the first run: %d posted, %v", store.posts, store.bodies)
	}

	// The next push to the pull request edits the same comment.
	gittest.Run(t, work, "git", "checkout", "-q", "feature")
	head2 := gittest.Commit(t, work, "fix", map[string]string{"broken.ipynb": ""})
	gittest.Run(t, work, "git", "push", "-q", "-f", "origin", "HEAD:refs/pull/7/head")
	if _, _, err := run(head2); err != nil {
		t.Fatalf("second push: %v", err)
	}
	if store.posts != 1 || len(store.bodies) != 1 || strings.Contains(store.bodies[101], "broken") {
		t.Fatalf("comments after the second push (want the one, edited): %d posted, %v", store.posts, store.bodies)
	}
}
