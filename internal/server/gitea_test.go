package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// giteaInstance is a real Gitea (scripts/gitea.sh) for the end-to-end tests.
type giteaInstance struct {
	t                *testing.T
	URL, User, Token string
}

// needE2E skips unless NBPIPE_E2E is set (make test sets it); in CI its
// absence fails.
func needE2E(t *testing.T) {
	if os.Getenv("NBPIPE_E2E") == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("NBPIPE_E2E is not set in CI: make test sets it")
		}
		t.Skip("set NBPIPE_E2E=1 (make test does) to build and run a real Gitea")
	}
}

// startGitea starts a Gitea with its own state and port, stopped when the
// test ends.
func startGitea(t *testing.T) *giteaInstance {
	script := filepath.Join("..", "..", "scripts", "gitea.sh")
	dir := t.TempDir()
	out, err := exec.Command("bash", script, "start", dir).Output()
	if err != nil {
		logs, _ := os.ReadFile(filepath.Join(dir, "gitea.log"))
		t.Fatalf("gitea.sh start: %v\n%s", err, tail(string(logs), 30))
	}
	t.Cleanup(func() { _ = exec.Command("bash", script, "stop", dir).Run() })
	g := &giteaInstance{t: t}
	if err := json.Unmarshal(bytes.TrimSpace(out), g); err != nil {
		t.Fatalf("gitea.sh start printed %q: %v", out, err)
	}
	return g
}

// api calls Gitea's REST API as the admin user.
func (g *giteaInstance) api(method, path string, body any) (int, []byte) {
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
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

func (g *giteaInstance) createRepo(name string) {
	if code, body := g.api("POST", "/user/repos", map[string]any{"name": name, "auto_init": true, "default_branch": "main"}); code != 201 {
		g.t.Fatalf("create repo %s: %d %s", name, code, body)
	}
}

// hook points a repository's push webhook at nbpipe.
func (g *giteaInstance) hook(repo, url, secret string) {
	hook := map[string]any{"type": "gitea", "active": true, "events": []string{"push", "pull_request", "pull_request_sync"},
		"config": map[string]any{"url": url, "content_type": "json", "secret": secret}}
	if code, body := g.api("POST", "/repos/"+repo+"/hooks", hook); code != 201 {
		g.t.Fatalf("create hook: %d %s", code, body)
	}
}

// withAuth puts the admin's token into a clone URL.
func (g *giteaInstance) withAuth(u string) string {
	return strings.Replace(u, "://", "://"+g.User+":"+g.Token+"@", 1)
}

type commitStatus struct {
	Status, Description, Context string
	TargetURL                    string `json:"target_url"`
}

// statuses returns a commit's latest status per context (Gitea's combined
// status).
func (g *giteaInstance) statuses(repo, sha string) map[string]commitStatus {
	code, body := g.api("GET", "/repos/"+repo+"/commits/"+sha+"/status", nil)
	out := map[string]commitStatus{}
	var combined struct{ Statuses []commitStatus }
	if code != 200 || json.Unmarshal(body, &combined) != nil {
		return out
	}
	for _, s := range combined.Statuses {
		out[s.Context] = s
	}
	return out
}

// waitFinal waits until a commit's status context is no longer pending.
func (g *giteaInstance) waitFinal(repo, sha, context string, within time.Duration) commitStatus {
	g.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if s, ok := g.statuses(repo, sha)[context]; ok && s.Status != "pending" {
			return s
		}
		time.Sleep(300 * time.Millisecond)
	}
	g.t.Fatalf("no final %s status on %s within %v; statuses: %+v", context, sha, within, g.statuses(repo, sha))
	return commitStatus{}
}
