package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// preCommitVersion is the pre-commit (PyPI) the hook is tested with.
const preCommitVersion = "4.7.0"

// needPythonTier returns NBPIPE_VENV (scripts/pyenv.sh's venv, set by make
// test): without it the test skips, and in CI it fails.
func needPythonTier(t *testing.T) string {
	t.Helper()
	venv := os.Getenv("NBPIPE_VENV")
	if venv == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("CI is set but NBPIPE_VENV is not: the Python tier must run in CI (make test sets it from scripts/pyenv.sh)")
		}
		t.Skip("NBPIPE_VENV is not set: skipping the Python tier (make test sets it from scripts/pyenv.sh)")
	}
	return venv
}

// lockFile holds an exclusive flock on path until the test ends, so parallel
// test processes build a shared cache once.
func lockFile(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() })
}

// preCommit returns the pre-commit executable of a venv cached in
// ~/.cache/nbpipe/precommit-venv, created once (under a lock) with the Python
// tier's interpreter and pre-commit from PyPI.
func preCommit(t *testing.T, venv string) string {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(cache, "nbpipe", "precommit-venv")
	lockFile(t, dir+".lock")
	exe := filepath.Join(dir, "bin", "pre-commit")
	if out, err := exec.Command(exe, "--version").Output(); err == nil && strings.TrimSpace(string(out)) == "pre-commit "+preCommitVersion {
		return exe
	}
	start := time.Now()
	_ = os.RemoveAll(dir)
	for _, args := range [][]string{
		{filepath.Join(venv, "bin", "python"), "-m", "venv", dir},
		{filepath.Join(dir, "bin", "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", "pre-commit==" + preCommitVersion},
	} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			_ = os.RemoveAll(dir)
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	t.Logf("installed pre-commit %s into %s in %v", preCommitVersion, dir, time.Since(start).Round(time.Millisecond))
	return exe
}

// gitIn runs git in dir with a clean environment and a fixed identity.
func gitIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=nbpipe test", "-c", "user.email=test@nbpipe.invalid", "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main"}, args...)...)
	cmd.Dir = dir
	cmd.Env = cleanGitEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// cleanGitEnv is the environment without the GIT_* variables a surrounding
// git (a hook, a rebase) may have set.
func cleanGitEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") {
			env = append(env, kv)
		}
	}
	return env
}

// snapshotRepository commits the working tree of this repository (tracked and
// untracked files, .gitignore respected) into a new repository, as the hook's
// consumers would clone it; it returns the directory and the commit.
func snapshotRepository(t *testing.T) (string, string) {
	t.Helper()
	root, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skip("not in a git checkout:", err)
	}
	src := strings.TrimSpace(string(root))
	list, err := exec.Command("git", "-C", src, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	for _, f := range strings.Split(strings.TrimRight(string(list), "\x00"), "\x00") {
		data, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			continue // deleted in the working tree
		}
		st, _ := os.Stat(filepath.Join(src, f))
		p := filepath.Join(dst, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, st.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	gitIn(t, dst, "init", "-q")
	gitIn(t, dst, "add", "-A")
	gitIn(t, dst, "commit", "-q", "-m", "snapshot")
	return dst, gitIn(t, dst, "rev-parse", "HEAD")
}

// TestPreCommitHookRunsNbpipeCheck runs the real pre-commit (PyPI) against a
// throwaway repository whose .pre-commit-config.yaml points at a snapshot of
// this repository: pre-commit builds nbpipe from .pre-commit-hooks.yaml
// (language: golang, with the Go on PATH), a bad notebook fails with its
// finding line, a good one passes, and an installed hook stops a git commit.
func TestPreCommitHookRunsNbpipeCheck(t *testing.T) {
	pc := preCommit(t, needPythonTier(t))
	hookRepo, rev := snapshotRepository(t)

	proj := t.TempDir()
	gitIn(t, proj, "init", "-q")
	writeFile(t, filepath.Join(proj, ".pre-commit-config.yaml"), "repos:\n  - repo: "+hookRepo+"\n    rev: "+rev+"\n    hooks:\n      - id: nbpipe-check\n")
	writeFile(t, filepath.Join(proj, "good.ipynb"), goodNotebook)
	writeFile(t, filepath.Join(proj, "notebooks", "bad.ipynb"), badNotebook)
	writeFile(t, filepath.Join(proj, "README.md"), "not a notebook\n")
	// .py files reach the hook; only Jupytext notebooks are checked.
	writeFile(t, filepath.Join(proj, "util.py"), "# %%\ndef helper():\n    return 1\n")
	writeFile(t, filepath.Join(proj, "notebooks", "bad_script.py"), "# ---\n# jupyter:\n#   kernelspec:\n#     name: python3\n# ---\n\n# %%\nval total = 1\n")
	gitIn(t, proj, "add", "-A")

	// Share the Go module cache: pre-commit points GOPATH at its own
	// environment, which would download every module again (measured: 27 s
	// cold against 3 s with the cache).
	gomodcache, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	env := append(cleanGitEnv(), "PRE_COMMIT_HOME="+t.TempDir(), "GOMODCACHE="+strings.TrimSpace(string(gomodcache)),
		"PRE_COMMIT_COLOR=never", "GIT_AUTHOR_NAME=nbpipe test", "GIT_AUTHOR_EMAIL=test@nbpipe.invalid",
		"GIT_COMMITTER_NAME=nbpipe test", "GIT_COMMITTER_EMAIL=test@nbpipe.invalid")
	run := func(name string, args ...string) (int, string) {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir, cmd.Env = proj, env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		err := cmd.Run()
		t.Logf("%s %s: %v", filepath.Base(name), strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), out.String()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, out.String()
	}

	// The first run builds the hook's environment (go install ./...).
	code, out := run(pc, "run", "--files", "good.ipynb", "README.md")
	if code != 0 || !regexpMatch(`nbpipe check\.+Passed`, out) {
		t.Fatalf("good notebook: exit %d\n%s", code, out)
	}
	code, out = run(pc, "run", "--files", "good.ipynb", "notebooks/bad.ipynb")
	if code != 1 || !regexpMatch(`nbpipe check\.+Failed`, out) ||
		!strings.Contains(out, "\nnotebooks/bad.ipynb:cell 2:line 2: error: ") {
		t.Fatalf("bad notebook: exit %d, want 1 with its finding line\n%s", code, out)
	}
	if strings.Contains(out, "good.ipynb:") {
		t.Errorf("the good notebook has a finding:\n%s", out)
	}
	code, out = run(pc, "run", "--files", "util.py", "notebooks/bad_script.py")
	if code != 1 || !strings.Contains(out, "\nnotebooks/bad_script.py:cell 1:line 1: error: ") || strings.Contains(out, "util.py:") {
		t.Fatalf("a bad Jupytext script and a module: exit %d, want 1 with the script's finding only\n%s", code, out)
	}
	code, out = run(pc, "run", "--files", "README.md")
	if code != 0 || !regexpMatch(`nbpipe check\.+\(no files to check\)Skipped`, out) {
		t.Errorf("a non-notebook reached the hook: exit %d\n%s", code, out)
	}

	// As a git hook: the commit with the bad notebook is refused, the one
	// without it goes through.
	if code, out := run(pc, "install"); code != 0 {
		t.Fatalf("pre-commit install: %d\n%s", code, out)
	}
	code, out = run("git", "commit", "-q", "-m", "both")
	if code == 0 || !strings.Contains(out, "notebooks/bad.ipynb:cell 2:line 2: error: ") {
		t.Fatalf("git commit with a bad notebook: exit %d\n%s", code, out)
	}
	gitIn(t, proj, "rm", "-q", "--cached", "notebooks/bad.ipynb", "notebooks/bad_script.py")
	if code, out := run("git", "commit", "-q", "-m", "good only"); code != 0 {
		t.Fatalf("git commit of the good notebook: exit %d\n%s", code, out)
	}
	if files := gitIn(t, proj, "ls-tree", "-r", "--name-only", "HEAD"); strings.Contains(files, "bad") || !strings.Contains(files, "good.ipynb") || !strings.Contains(files, "util.py") {
		t.Errorf("committed: %s", files)
	}
}

func regexpMatch(pattern, s string) bool { return regexp.MustCompile(pattern).MatchString(s) }
