// Package gittest runs a real smart-HTTP git server for tests (Debian's
// `git http-backend` behind net/http/cgi, as a forge serves it) and drives the
// git CLI the way a user or a foreign writer would.
package gittest

import (
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Server is a git smart-HTTP server over a directory of bare repositories.
type Server struct {
	URL, Root string
}

// NewServer starts a server that lives as long as the test.
func NewServer(t testing.TB) *Server {
	t.Helper()
	gitPath, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git not installed")
	}
	root := t.TempDir()
	h := &cgi.Handler{Path: gitPath, Args: []string{"http-backend"}, Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &Server{URL: srv.URL, Root: root}
}

// Repo creates a bare repository that accepts pushes and returns its URL.
func (s *Server) Repo(t testing.TB, name string) string {
	dir := filepath.Join(s.Root, name+".git")
	Run(t, "", "git", "init", "-q", "--bare", "--initial-branch=main", dir)
	Run(t, dir, "git", "config", "http.receivepack", "true")
	return s.URL + "/" + name + ".git"
}

// Run runs a command and returns its output, failing the test on error.
func Run(t testing.TB, dir string, name string, args ...string) string {
	t.Helper()
	out, err := Cmd(dir, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

// Cmd is a command with a fixed git identity.
func Cmd(dir string, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	return cmd
}

// Clone makes a git CLI work tree of url on branch main.
func Clone(t testing.TB, url string) string {
	dir := t.TempDir()
	Run(t, "", "git", "clone", "-q", url, dir)
	Run(t, dir, "git", "checkout", "-q", "-B", "main")
	return dir
}

// Commit writes files (an empty content deletes the file), commits them and
// returns the commit id.
func Commit(t testing.TB, dir, msg string, files map[string]string) string {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(dir, p)
		if content == "" {
			Run(t, dir, "git", "rm", "-q", p)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		Run(t, dir, "git", "add", p)
	}
	Run(t, dir, "git", "commit", "-q", "--allow-empty", "-m", msg)
	return strings.TrimSpace(Run(t, dir, "git", "rev-parse", "HEAD"))
}
