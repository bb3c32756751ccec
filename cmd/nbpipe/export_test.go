package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/nbpipe/nbpipe/internal/gittest"
)

// jupyterNotebook is written as Jupyter writes notebooks (nbformat:
// json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n").
const jupyterNotebook = `{
 "cells": [
  {
   "cell_type": "code",
   "execution_count": null,
   "id": "a1",
   "metadata": {},
   "outputs": [],
   "source": [
    "x = 1 # café <b>\n"
   ]
  }
 ],
 "metadata": {
  "kernelspec": {
   "display_name": "Python 3",
   "language": "python",
   "name": "python3"
  },
  "language_info": {
   "name": "python"
  }
 },
 "nbformat": 4,
 "nbformat_minor": 5
}
`

// isolateGit points git and go-git at an empty home: no user config leaks in.
func isolateGit(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	for _, k := range []string{"GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "SSH_AUTH_SOCK"} {
		t.Setenv(k, "") // restored after the test
		os.Unsetenv(k)
	}
	return home
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestExportSetNbpipeMetadataKeepsTheRestByteForByte(t *testing.T) {
	settings := map[string]any{"dag_id": "sales", "schedule": "@daily", "targets": []string{"airflow", "pyfile"}, "trigger": true}
	out, merged, err := setNbpipeMetadata([]byte(jupyterNotebook), settings, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(jupyterNotebook, `  "language_info": {
   "name": "python"
  }
`, `  "language_info": {
   "name": "python"
  },
  "nbpipe": {
   "dag_id": "sales",
   "schedule": "@daily",
   "targets": [
    "airflow",
    "pyfile"
   ],
   "trigger": true
  }
`, 1)
	if string(out) != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}
	if string(merged) != `{"dag_id":"sales","schedule":"@daily","targets":["airflow","pyfile"],"trigger":true}` {
		t.Errorf("merged %s", merged)
	}
	// Jupyter's own writer leaves the result as it is: saving the notebook in
	// JupyterLab after an export changes nothing.
	if py, err := exec.LookPath("python3"); err == nil {
		f := filepath.Join(t.TempDir(), "nb.ipynb")
		writeFile(t, f, string(out))
		cmd := exec.Command(py, "-c", `import json,sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
sys.stdout.buffer.write((json.dumps(d, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))`, f)
		again, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		if string(again) != string(out) {
			t.Errorf("Jupyter's writer changes the exported notebook:\n%s", again)
		}
	}

	// Existing keys stay (unless unset), set keys change in place.
	out2, _, err := setNbpipeMetadata(out, map[string]any{"schedule": nil, "mode": "per_cell"}, []string{"trigger"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out2), `  "nbpipe": {
   "dag_id": "sales",
   "mode": "per_cell",
   "schedule": null,
   "targets": [
    "airflow",
    "pyfile"
   ]
  }
 },
 "nbformat": 4,`) || strings.Contains(string(out2), "trigger") {
		t.Errorf("second export:\n%s", out2)
	}

	for _, tc := range []struct{ name, in, want string }{
		{"compact", `{"cells":[],"metadata":{"kernelspec":{"name":"python3"}},"nbformat":4,"nbformat_minor":5}`,
			`{"cells":[],"metadata":{"kernelspec":{"name":"python3"}, "nbpipe": {"mode":"batch"}},"nbformat":4,"nbformat_minor":5}`},
		{"empty metadata", "{\n  \"metadata\": {},\n  \"nbformat\": 4\n}\n",
			"{\n  \"metadata\": {\n    \"nbpipe\": {\n      \"mode\": \"batch\"\n    }\n  },\n  \"nbformat\": 4\n}\n"},
		{"sorts first, indent 2", "{\n  \"metadata\": {\n    \"tags\": []\n  }\n}",
			"{\n  \"metadata\": {\n    \"nbpipe\": {\n      \"mode\": \"batch\"\n    },\n    \"tags\": []\n  }\n}"},
		{"windows line ends", "{\r\n \"metadata\": {\r\n  \"kernelspec\": {}\r\n }\r\n}\r\n",
			"{\r\n \"metadata\": {\r\n  \"kernelspec\": {},\r\n  \"nbpipe\": {\r\n   \"mode\": \"batch\"\r\n  }\r\n }\r\n}\r\n"},
		{"replaces a one-line value", "{\n \"metadata\": {\n  \"nbpipe\": {\"mode\": \"per_cell\", \"x\": 1.50}\n }\n}",
			"{\n \"metadata\": {\n  \"nbpipe\": {\n   \"mode\": \"batch\",\n   \"x\": 1.50\n  }\n }\n}"},
	} {
		got, _, err := setNbpipeMetadata([]byte(tc.in), map[string]any{"mode": "batch"}, nil)
		if err != nil || string(got) != tc.want {
			t.Errorf("%s: %v\ngot  %q\nwant %q", tc.name, err, got, tc.want)
		}
	}
	for _, bad := range []string{`[]`, `{"metadata": []}`, `{"metadata": {"nbpipe": "x"}}`, `{"cells": []}`, `{"metadata": {`} {
		if _, _, err := setNbpipeMetadata([]byte(bad), map[string]any{"mode": "batch"}, nil); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// newExportRepo is a git CLI repository with a user identity in its config,
// an initial commit and, besides the notebook, a staged and an unstaged change
// to other files.
func newExportRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	gittest.Run(t, dir, "git", "init", "-q", "--initial-branch=main")
	gittest.Run(t, dir, "git", "config", "user.name", "Ada Author")
	gittest.Run(t, dir, "git", "config", "user.email", "ada@example.com")
	gittest.Commit(t, dir, "init", map[string]string{
		"pipelines/sales.ipynb": jupyterNotebook,
		"pipelines/other.ipynb": goodNotebook,
		"README.md":             "readme\n",
		"util.py":               "a = 1\n",
	})
	writeFile(t, filepath.Join(dir, "staged.txt"), "staged\n")
	gittest.Run(t, dir, "git", "add", "staged.txt")
	writeFile(t, filepath.Join(dir, "README.md"), "readme, edited\n")
	writeFile(t, filepath.Join(dir, "util.py"), "a = 2\n")
	gittest.Run(t, dir, "git", "add", "util.py")
	writeFile(t, filepath.Join(dir, "util.py"), "a = 3\n") // staged a = 2, work tree a = 3
	return dir
}

func TestExportCommitsOnlyTheNotebook(t *testing.T) {
	isolateGit(t)
	dir := newExportRepo(t)
	statusBefore := gittest.Run(t, dir, "git", "status", "--porcelain")
	stagedBefore := gittest.Run(t, dir, "git", "diff", "--cached")
	parent := strings.TrimSpace(gittest.Run(t, dir, "git", "rev-parse", "HEAD"))
	t.Chdir(filepath.Join(dir, "pipelines"))

	code, stdout, stderr := runCLI(t, "export", "sales.ipynb", "--dag-id", "sales_daily", "--schedule", "0 6 * * *",
		"--mode", "per_cell", "--trigger", "--targets", "airflow,pyfile", "--set", "owner=data-team", "--set", "params={region: eu}")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "committed ") || !strings.Contains(stdout, "on main") {
		t.Errorf("stdout: %s", stdout)
	}
	// The commit: the notebook alone, on top of the old HEAD, by the
	// configured user.
	if got := gittest.Run(t, dir, "git", "diff-tree", "--no-commit-id", "--name-only", "-r", "HEAD"); got != "pipelines/sales.ipynb\n" {
		t.Errorf("the commit changes %q, want the notebook alone", got)
	}
	if got := strings.TrimSpace(gittest.Run(t, dir, "git", "rev-parse", "HEAD~1")); got != parent {
		t.Errorf("parent %s, want %s", got, parent)
	}
	if got := gittest.Run(t, dir, "git", "log", "-1", "--format=%an <%ae>|%cn <%ce>|%s"); got != "Ada Author <ada@example.com>|Ada Author <ada@example.com>|Export sales.ipynb with nbpipe\n" {
		t.Errorf("commit: %s", got)
	}
	committed := gittest.Run(t, dir, "git", "show", "HEAD:pipelines/sales.ipynb")
	if committed != readFile(t, filepath.Join(dir, "pipelines", "sales.ipynb")) {
		t.Error("the committed notebook differs from the work tree's")
	}
	for _, want := range []string{`"dag_id": "sales_daily"`, `"schedule": "0 6 * * *"`, `"mode": "per_cell"`, `"trigger": true`, `"owner": "data-team"`, `"region": "eu"`} {
		if !strings.Contains(committed, want) {
			t.Errorf("committed notebook lacks %s:\n%s", want, committed)
		}
	}
	// Everything else is as it was: staged stays staged, unstaged unstaged.
	if got := gittest.Run(t, dir, "git", "status", "--porcelain"); got != statusBefore {
		t.Errorf("git status changed:\nbefore\n%safter\n%s", statusBefore, got)
	}
	if got := gittest.Run(t, dir, "git", "diff", "--cached"); got != stagedBefore {
		t.Errorf("the index changed:\nbefore\n%safter\n%s", stagedBefore, got)
	}
	gittest.Run(t, dir, "git", "fsck", "--strict")
	// The converter reads what was committed.
	if code, out, _ := runCLI(t, "check", "sales.ipynb"); code != 0 {
		t.Errorf("check after export: %d\n%s", code, out)
	}

	// The same export again: nothing to commit.
	code, stdout, _ = runCLI(t, "export", "sales.ipynb", "--dag-id", "sales_daily")
	if code != 0 || !strings.Contains(stdout, "already committed") {
		t.Errorf("second export: %d %s", code, stdout)
	}
	// A linked work tree (git worktree add) of the same repository.
	linked := filepath.Join(t.TempDir(), "linked")
	gittest.Run(t, dir, "git", "worktree", "add", "-q", "-b", "feature", linked)
	writeFile(t, filepath.Join(linked, "scratch.txt"), "staged in the linked tree\n")
	gittest.Run(t, linked, "git", "add", "scratch.txt")
	if code, stdout, stderr := runCLI(t, "export", filepath.Join(linked, "pipelines", "sales.ipynb"), "--schedule", "@hourly"); code != 0 || !strings.Contains(stdout, "on feature") {
		t.Fatalf("export in a linked work tree: %d\n%s%s", code, stdout, stderr)
	}
	if got := gittest.Run(t, dir, "git", "diff-tree", "--no-commit-id", "--name-only", "-r", "feature"); got != "pipelines/sales.ipynb\n" {
		t.Errorf("the linked tree's commit changes %q", got)
	}
	if got := gittest.Run(t, linked, "git", "status", "--porcelain"); got != "A  scratch.txt\n" {
		t.Errorf("linked tree status: %q", got)
	}
	if got := gittest.Run(t, dir, "git", "status", "--porcelain"); got != statusBefore {
		t.Errorf("the main tree changed:\n%s", got)
	}

	// A new notebook in a new directory, in a fresh clone's unborn branch.
	fresh := t.TempDir()
	gittest.Run(t, fresh, "git", "init", "-q", "--initial-branch=trunk")
	gittest.Run(t, fresh, "git", "config", "user.name", "B")
	gittest.Run(t, fresh, "git", "config", "user.email", "b@example.com")
	writeFile(t, filepath.Join(fresh, "a", "b", "new.ipynb"), jupyterNotebook)
	if code, stdout, stderr := runCLI(t, "export", filepath.Join(fresh, "a", "b", "new.ipynb"), "--mode", "batch", "-m", "first"); code != 0 {
		t.Fatalf("export into an empty repository: %d\n%s%s", code, stdout, stderr)
	}
	if got := gittest.Run(t, fresh, "git", "ls-tree", "-r", "--name-only", "trunk"); got != "a/b/new.ipynb\n" {
		t.Errorf("tree: %q", got)
	}
	if got := gittest.Run(t, fresh, "git", "status", "--porcelain"); got != "" {
		t.Errorf("status after the first export: %q", got)
	}
	gittest.Run(t, fresh, "git", "fsck", "--strict")
}

func TestExportRefusesWhatWouldNotConvert(t *testing.T) {
	isolateGit(t)
	dir := newExportRepo(t)
	nb := filepath.Join(dir, "pipelines", "sales.ipynb")
	head := gittest.Run(t, dir, "git", "rev-parse", "HEAD")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--mode", "sideways"}, "mode"},
		{[]string{"--schedule", "every day"}, "schedule"},
		{[]string{"--set", "retrys=3"}, `did you mean "retries"`},
		{[]string{"--dag-id", "other"}, `dag_id "other" is already used by pipelines/other.ipynb`},
		{[]string{"--targets", "airflow,spaceship"}, "spaceship"},
	} {
		code, stdout, stderr := runCLI(t, append([]string{"export", nb}, tc.args...)...)
		if code != 1 || !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, "nothing written") {
			t.Errorf("%v: exit %d, want 1 naming %q\n%s%s", tc.args, code, tc.want, stdout, stderr)
		}
		if readFile(t, nb) != jupyterNotebook {
			t.Fatalf("%v: the notebook was changed", tc.args)
		}
	}
	// A raw front-matter cell wins over metadata.nbpipe: export says so.
	fm := strings.Replace(jupyterNotebook, ` "cells": [
`, ` "cells": [
  {"cell_type": "raw", "metadata": {}, "source": ["---\n", "dag_id: from_front_matter\n", "---\n"]},
`, 1)
	writeFile(t, nb, fm)
	code, _, stderr := runCLI(t, "export", nb, "--dag-id", "wanted")
	if code != 1 || !strings.Contains(stderr, "front matter in cell 1 sets dag_id") || readFile(t, nb) != fm {
		t.Errorf("front matter override: exit %d\n%s", code, stderr)
	}
	// A notebook with an error in its code is not exported.
	writeFile(t, nb, strings.Replace(jupyterNotebook, `x = 1 # café <b>\n`, `val x = 1\n`, 1))
	code, _, stderr = runCLI(t, "export", nb, "--mode", "batch")
	if code != 1 || !strings.Contains(stderr, "pipelines/sales.ipynb:cell 1:line 1: error:") {
		t.Errorf("broken code: exit %d\n%s", code, stderr)
	}
	if got := gittest.Run(t, dir, "git", "rev-parse", "HEAD"); got != head {
		t.Error("a refused export committed")
	}
	// No identity: git's own advice, and the notebook is left as it was.
	writeFile(t, nb, jupyterNotebook)
	gittest.Run(t, dir, "git", "config", "--unset", "user.name")
	code, _, stderr = runCLI(t, "export", nb, "--mode", "batch")
	if code != 1 || !strings.Contains(stderr, "git config --global user.name") || readFile(t, nb) != jupyterNotebook {
		t.Errorf("no identity: exit %d\n%s", code, stderr)
	}
	// Usage errors.
	for _, args := range [][]string{{"export"}, {"export", "a.ipynb", "b.ipynb"}, {"export", "notes.txt"}, {"export", nb, "--no-commit", "--push"}, {"export", nb, "--set", "novalue"}} {
		if code, _, _ := runCLI(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	// --no-commit works outside any repository.
	loose := filepath.Join(t.TempDir(), "loose.ipynb")
	writeFile(t, loose, jupyterNotebook)
	if code, stdout, stderr := runCLI(t, "export", loose, "--no-commit", "--schedule", "@hourly"); code != 0 || !strings.Contains(readFile(t, loose), `"schedule": "@hourly"`) {
		t.Errorf("--no-commit: %d\n%s%s", code, stdout, stderr)
	}
	if code, _, stderr := runCLI(t, "export", loose, "--schedule", "@hourly"); code != 1 || !strings.Contains(stderr, "not in a git repository") {
		t.Errorf("outside a repository: %d %s", code, stderr)
	}
}

// basicAuthProxy puts HTTP Basic authentication in front of the git server,
// as a forge does, and counts the requests that were refused.
func basicAuthProxy(t *testing.T, backend, user, password string) (string, *atomic.Int32) {
	t.Helper()
	u, err := url.Parse(backend)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	var refused atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != password {
			refused.Add(1)
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &refused
}

// TestExportPushUsesGitCredentialHelpers pushes through a server that wants
// HTTP Basic credentials: they come from the user's git credential helper
// (here git's "store" helper, configured in the repository as a user would
// configure it globally), are approved after the push, and a wrong one is
// rejected (erased from the store) and the push fails without a commit lost.
func TestExportPushUsesGitCredentialHelpers(t *testing.T) {
	home := isolateGit(t)
	srv := gittest.NewServer(t)
	direct := srv.Repo(t, "notebooks")
	seed := gittest.Clone(t, direct)
	gittest.Commit(t, seed, "init", map[string]string{"sales.ipynb": jupyterNotebook})
	gittest.Run(t, seed, "git", "push", "-q", "origin", "main")

	authURL, refused := basicAuthProxy(t, srv.URL, "alice", "s3cret")
	remote := authURL + "/notebooks.git"
	dir := t.TempDir()
	store := filepath.Join(home, "git-credentials")
	hostURL, _ := url.Parse(authURL)
	writeFile(t, store, "http://alice:s3cret@"+hostURL.Host+"\n")
	gittest.Run(t, "", "git", "-c", "credential.helper=store --file="+store, "clone", "-q", remote, dir)
	gittest.Run(t, dir, "git", "config", "credential.helper", "store --file="+store)
	gittest.Run(t, dir, "git", "config", "user.name", "Ada Author")
	gittest.Run(t, dir, "git", "config", "user.email", "ada@example.com")
	refused.Store(0)

	code, stdout, stderr := runCLI(t, "export", filepath.Join(dir, "sales.ipynb"), "--schedule", "@daily", "--push")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "pushed ") || !strings.Contains(stdout, "origin main") || strings.Contains(stdout, "s3cret") {
		t.Errorf("stdout: %s", stdout)
	}
	if refused.Load() == 0 {
		t.Error("the server never asked for credentials: the test proves nothing")
	}
	local := strings.TrimSpace(gittest.Run(t, dir, "git", "rev-parse", "HEAD"))
	if got := strings.Fields(gittest.Run(t, seed, "git", "ls-remote", direct, "refs/heads/main"))[0]; got != local {
		t.Fatalf("remote main is %s, want the export commit %s", got, local)
	}
	if got := gittest.Run(t, dir, "git", "status", "-sb"); !strings.HasPrefix(got, "## main...origin/main\n") {
		t.Errorf("the tracking branch was not updated: %q", got)
	}

	// A wrong password in the store: the push fails, the credential is
	// rejected (erased), the commit stays local.
	writeFile(t, store, "http://alice:wrong@"+hostURL.Host+"\n")
	code, stdout, stderr = runCLI(t, "export", filepath.Join(dir, "sales.ipynb"), "--schedule", "@hourly", "--push")
	if code != 1 || !strings.Contains(stderr, "push:") || strings.Contains(stderr, "wrong") {
		t.Errorf("wrong credentials: exit %d\n%s%s", code, stdout, stderr)
	}
	if strings.Contains(readFile(t, store), "wrong") {
		t.Error("the refused credential was not rejected from the helper")
	}
	if !strings.Contains(gittest.Run(t, dir, "git", "show", "HEAD:sales.ipynb"), `"schedule": "@hourly"`) {
		t.Error("the commit was lost when the push failed")
	}

	// Credentials in the remote URL need no helper.
	withToken := strings.Replace(remote, "http://", "http://alice:s3cret@", 1)
	gittest.Run(t, dir, "git", "remote", "set-url", "origin", withToken)
	gittest.Run(t, dir, "git", "config", "--unset", "credential.helper")
	code, stdout, stderr = runCLI(t, "export", filepath.Join(dir, "sales.ipynb"), "--schedule", "@weekly", "--push")
	if code != 0 || strings.Contains(stdout+stderr, "s3cret") {
		t.Fatalf("token in URL: exit %d\n%s%s", code, stdout, stderr)
	}

	// Someone else pushed first: no force, the advice to rebase.
	other := gittest.Clone(t, direct)
	gittest.Commit(t, other, "theirs", map[string]string{"theirs.txt": "x\n"})
	gittest.Run(t, other, "git", "push", "-q", "origin", "main")
	code, _, stderr = runCLI(t, "export", filepath.Join(dir, "sales.ipynb"), "--schedule", "@monthly", "--push")
	if code != 1 || !strings.Contains(stderr, "git pull --rebase") {
		t.Errorf("non-fast-forward: exit %d\n%s", code, stderr)
	}
	if got := strings.TrimSpace(gittest.Run(t, other, "git", "rev-parse", "HEAD")); !strings.HasPrefix(gittest.Run(t, seed, "git", "ls-remote", direct, "refs/heads/main"), got) {
		t.Error("the other writer's commit was overwritten")
	}
}

// TestExportPushOverSSH pushes to an ssh:// remote (gittest's SSH server,
// which runs git-receive-pack for the client key it accepts): with the key
// in ~/.ssh/id_ed25519, then with the key only in an ssh agent
// (SSH_AUTH_SOCK); a host key missing from known_hosts is refused.
func TestExportPushOverSSH(t *testing.T) {
	home := isolateGit(t)
	srv := gittest.NewServer(t)
	direct := srv.Repo(t, "notebooks")
	seed := gittest.Clone(t, direct)
	gittest.Commit(t, seed, "init", map[string]string{"sales.ipynb": jupyterNotebook})
	gittest.Run(t, seed, "git", "push", "-q", "origin", "main")
	sshd := srv.NewSSHServer(t)

	dir := gittest.Clone(t, direct)
	gittest.Run(t, dir, "git", "branch", "-q", "--set-upstream-to=origin/main")
	gittest.Run(t, dir, "git", "remote", "set-url", "origin", sshd.URL("notebooks"))
	gittest.Run(t, dir, "git", "config", "user.name", "Ada Author")
	gittest.Run(t, dir, "git", "config", "user.email", "ada@example.com")
	nb := filepath.Join(dir, "sales.ipynb")
	remoteHead := func() string {
		return strings.Fields(gittest.Run(t, seed, "git", "ls-remote", direct, "refs/heads/main"))[0]
	}

	// An unknown host key: refused, nothing pushed.
	writeFile(t, filepath.Join(home, ".ssh", "known_hosts"), "")
	writeFile(t, filepath.Join(home, ".ssh", "id_ed25519"), string(sshd.ClientKey))
	os.Chmod(filepath.Join(home, ".ssh", "id_ed25519"), 0o600)
	before := remoteHead()
	code, _, stderr := runCLI(t, "export", nb, "--schedule", "@daily", "--push")
	if code != 1 || !strings.Contains(stderr, "key is unknown") || remoteHead() != before {
		t.Fatalf("unknown host key: exit %d\n%s", code, stderr)
	}

	// The key file.
	writeFile(t, filepath.Join(home, ".ssh", "known_hosts"), sshd.KnownHosts+"\n")
	code, stdout, stderr := runCLI(t, "export", nb, "--schedule", "@hourly", "--push")
	if code != 0 || remoteHead() != strings.TrimSpace(gittest.Run(t, dir, "git", "rev-parse", "HEAD")) {
		t.Fatalf("ssh with a key file: exit %d\n%s%s", code, stdout, stderr)
	}

	// The agent, the key nowhere else.
	os.Remove(filepath.Join(home, ".ssh", "id_ed25519"))
	key, err := ssh.ParseRawPrivateKey(sshd.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: key}); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var served atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			served.Add(1)
			go func() { defer c.Close(); _ = agent.ServeAgent(keyring, c) }()
		}
	}()
	t.Setenv("SSH_AUTH_SOCK", sock)
	code, stdout, stderr = runCLI(t, "export", nb, "--schedule", "@weekly", "--push")
	if code != 0 || served.Load() == 0 || remoteHead() != strings.TrimSpace(gittest.Run(t, dir, "git", "rev-parse", "HEAD")) {
		t.Fatalf("ssh with the agent: exit %d, agent connections %d\n%s%s", code, served.Load(), stdout, stderr)
	}

	// Neither: a clear message.
	os.Unsetenv("SSH_AUTH_SOCK")
	code, _, stderr = runCLI(t, "export", nb, "--schedule", "@monthly", "--push")
	if code != 1 || !strings.Contains(stderr, "no ssh agent") {
		t.Errorf("no credentials: exit %d\n%s", code, stderr)
	}
}
