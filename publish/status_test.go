package publish

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// GitHub.com cannot be reached from here: this test checks the request
// go-github sends against GitHub's documented contract for
// POST /repos/{owner}/{repo}/statuses/{sha}. Gitea's status is also checked
// against a real Gitea in the end-to-end test.
func TestStatusRequestsFollowTheForgeContracts(t *testing.T) {
	type seen struct {
		method, path, auth string
		body               map[string]string
	}
	var got seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = seen{method: r.Method, path: r.URL.Path, auth: r.Header.Get("Authorization")}
		_ = json.NewDecoder(r.Body).Decode(&got.body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"id": 1, "state": "success"}`))
	}))
	defer srv.Close()
	long := strings.Repeat("x", 300)
	st := Status{Repo: "team/notebooks", Commit: "abc123", State: StateFailure, Description: long, TargetURL: "http://dags/commit/1"}
	tests := []struct {
		name     string
		reporter StatusReporter
		path     string
		auth     string
	}{
		{"github", GitHubStatus{Token: "tok", BaseURL: srv.URL + "/"}, "/api/v3/repos/team/notebooks/statuses/abc123", "Bearer tok"},
		{"gitea", GiteaStatus{URL: srv.URL, Token: "tok"}, "/api/v1/repos/team/notebooks/statuses/abc123", "token tok"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.reporter.SetStatus(context.Background(), st); err != nil {
				t.Fatal(err)
			}
			if got.method != http.MethodPost || got.path != tc.path || got.auth != tc.auth {
				t.Fatalf("request %s %s auth %q, want POST %s auth %q", got.method, got.path, got.auth, tc.path, tc.auth)
			}
			if got.body["state"] != "failure" || got.body["context"] != "nbpipe" || got.body["target_url"] != st.TargetURL || len([]rune(got.body["description"])) != 140 {
				t.Fatalf("body %v", got.body)
			}
		})
	}
	if err := (GiteaStatus{URL: srv.URL}).SetStatus(context.Background(), Status{Repo: "nope", Commit: "a"}); err == nil {
		t.Fatal("a repository that is not owner/name was accepted")
	}
}
