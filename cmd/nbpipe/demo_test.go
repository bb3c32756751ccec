package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nbpipe/nbpipe/internal/gittest"
	"github.com/nbpipe/nbpipe/webhook"
)

// TestDemoHookProcess is not a test: it is the binary source.git's
// post-receive hook runs during TestDemo (the test binary, with `demo hook
// ...` after --), so the hook goes through run as the nbpipe binary's would.
func TestDemoHookProcess(t *testing.T) {
	args := flag.Args()
	if len(args) < 2 || args[0] != "demo" || args[1] != "hook" {
		t.Skip("runs as TestDemo's post-receive hook")
	}
	os.Exit(run(context.Background(), args, os.Stdout, os.Stderr))
}

// demoOutput is the demo's stdout, read while it runs.
type demoOutput struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (o *demoOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

func (o *demoOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// demoWaitFor polls cond until it holds or the deadline passes.
func demoWaitFor(t *testing.T, what string, d time.Duration, cond func() bool, show func() string) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %s:\n%s", what, d, show())
		}
	}
}

// startDemo runs `nbpipe demo --dir dir --listen addr` in-process; stop
// cancels it and returns its exit code.
func startDemo(t *testing.T, dir, addr string) (stdout, stderr *demoOutput, stop func() int) {
	t.Helper()
	stdout, stderr = &demoOutput{}, &demoOutput{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"demo", "--dir", dir, "--listen", addr}, stdout, stderr) }()
	stopped := false
	stop = func() int {
		t.Helper()
		if stopped {
			return 0
		}
		stopped = true
		cancel()
		select {
		case code := <-done:
			return code
		case <-time.After(15 * time.Second):
			t.Fatalf("the demo did not stop:\n%s\n%s", stdout, stderr)
			return -1
		}
	}
	t.Cleanup(func() { stop() })
	return stdout, stderr, stop
}

// TestDemo runs `nbpipe demo` as a newcomer would: the bundled notebooks
// are pushed to the local source repository, its post-receive hook delivers
// a signed Gitea push to the in-process server, and the DAG commit lands in
// the local target and is printed. A second push of an edited notebook
// makes a second DAG commit; a restart reuses the directory.
func TestDemo(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	isolateGit(t) // no git identity: the demo must still commit
	orig := demoHookCommand
	demoHookCommand = func() ([]string, error) {
		return []string{os.Args[0], "-test.run=^TestDemoHookProcess$", "--"}, nil
	}
	t.Cleanup(func() { demoHookCommand = orig })

	dir := filepath.Join(t.TempDir(), "nbpipe-demo")
	d := demoLayout{dir: dir}
	start := time.Now()
	stdout, stderr, stop := startDemo(t, dir, freeAddr(t))
	show := func() string { return stdout.String() + "\n--- stderr:\n" + stderr.String() }
	demoWaitFor(t, "first DAG commit and next steps", 15*time.Second, func() bool {
		return strings.Contains(stdout.String(), "The server keeps running")
	}, show)
	t.Logf("first DAG commit printed after %s", time.Since(start).Round(time.Millisecond))

	first := gittest.Run(t, d.work(), "git", "rev-parse", "HEAD")
	first = strings.TrimSpace(first)
	out := stdout.String()
	for _, want := range []string{
		"remote: nbpipe demo hook: delivered refs/heads/main",
		"as a signed Gitea push: 202 accepted",
		"Source-Repo: demo/notebooks",
		"Source-Commit: " + first,
		"A demo/dags/word_count.py",
		"A demo/dags/fan_out_fan_in.py",
		"A demo/dags/sales_report.py",
		"A demo/.airflowignore",
		"success: 3 notebook(s) converted, 0 failed; published ",
		"cd " + d.work(),
		`"nbpipe serve"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the demo's output lacks %q:\n%s", want, show())
		}
	}
	if got := demoTargetTrailer(t, d); got != first {
		t.Fatalf("dags.git main's Source-Commit is %q, want %q", got, first)
	}
	secret, _ := os.ReadFile(d.secretFile())
	if s := strings.TrimSpace(string(secret)); len(s) != 48 || strings.Contains(show(), s) {
		t.Fatalf("webhook secret %q: wrong length or printed", s)
	}

	// The user's next step: edit a notebook, commit, push.
	nb := filepath.Join(d.work(), "word_count.ipynb")
	data, err := os.ReadFile(nb)
	if err != nil || !bytes.Contains(data, []byte("that is the question")) {
		t.Fatalf("work/word_count.ipynb: %v", err)
	}
	if err := os.WriteFile(nb, bytes.Replace(data, []byte("that is the question"), []byte("that is the answer"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	gittest.Run(t, d.work(), "git", "commit", "-qam", "word count: another line")
	second := strings.TrimSpace(gittest.Run(t, d.work(), "git", "rev-parse", "HEAD"))
	pushed := time.Now()
	gittest.Run(t, d.work(), "git", "push", "-q")
	demoWaitFor(t, "second DAG commit", 15*time.Second, func() bool { return demoTargetTrailer(t, d) == second }, show)
	demoWaitFor(t, "second DAG commit printed", 5*time.Second, func() bool {
		out := stdout.String()
		i := strings.Index(out, "Source-Commit: "+second)
		return i >= 0 && strings.Contains(out[i:], "commit status nbpipe would set")
	}, show)
	t.Logf("second DAG commit printed %s after git push", time.Since(pushed).Round(time.Millisecond))
	out = stdout.String()
	if i := strings.Index(out, "Source-Commit: "+second); !strings.Contains(out[i:], "M demo/dags/word_count.py") ||
		!strings.Contains(out[i:], "success: 1 notebook(s) converted, 0 failed") {
		t.Errorf("the second push's summary:\n%s", out[i:])
	}
	dag := gittest.Run(t, "", "git", "--git-dir", d.target(), "show", "main:demo/dags/word_count.py")
	if !strings.Contains(dag, "that is the answer") {
		t.Errorf("the DAG does not carry the edit:\n%s", dag)
	}
	if code := stop(); code != 0 {
		t.Fatalf("demo exit %d:\n%s", code, show())
	}

	// A restart reuses the directory and shows the last DAG commit.
	stdout, stderr, stop = startDemo(t, dir, freeAddr(t))
	demoWaitFor(t, "restart", 10*time.Second, func() bool { return strings.Contains(stdout.String(), "The server keeps running") }, show)
	if out := stdout.String(); !strings.Contains(out, "reusing the demo in "+dir) || !strings.Contains(out, "Source-Commit: "+second) {
		t.Errorf("restart:\n%s", show())
	}
	if code := stop(); code != 0 {
		t.Fatalf("demo exit %d:\n%s", code, show())
	}

	// A push made while the demo is stopped reaches no server; the next
	// start delivers it.
	data, _ = os.ReadFile(nb)
	if err := os.WriteFile(nb, bytes.Replace(data, []byte("that is the answer"), []byte("that is it"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	gittest.Run(t, d.work(), "git", "commit", "-qam", "offline edit")
	third := strings.TrimSpace(gittest.Run(t, d.work(), "git", "rev-parse", "HEAD"))
	if out := gittest.Run(t, d.work(), "git", "push"); !strings.Contains(out, "not delivered") {
		t.Errorf("the hook did not say the push was not delivered:\n%s", out)
	}
	stdout, stderr, stop = startDemo(t, dir, freeAddr(t))
	demoWaitFor(t, "catch-up DAG commit", 15*time.Second, func() bool { return demoTargetTrailer(t, d) == third }, show)
	demoWaitFor(t, "catch-up printed", 5*time.Second, func() bool { return strings.Contains(stdout.String(), "The server keeps running") }, show)
	if out := stdout.String(); !strings.Contains(out, "while the demo was stopped") || !strings.Contains(out, "Source-Commit: "+third) {
		t.Errorf("catch-up:\n%s", show())
	}
	if code := stop(); code != 0 {
		t.Fatalf("demo exit %d:\n%s", code, show())
	}
	if n := strings.Count(gittest.Run(t, "", "git", "--git-dir", d.target(), "rev-list", "main"), "\n"); n != 3 {
		t.Errorf("dags.git has %d commits, want 3", n)
	}
	t.Logf("TestDemo took %s", time.Since(start).Round(time.Millisecond))
}

// demoTargetTrailer is the Source-Commit trailer of dags.git's main ("" before
// the first commit).
func demoTargetTrailer(t *testing.T, d demoLayout) string {
	out, err := gittest.Cmd("", "git", "--git-dir", d.target(), "log", "-1", "--format=%(trailers:key=Source-Commit,valueonly)", "main").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// TestDemoWithoutHook: when the hook cannot run (a binary that is gone, a
// file system mounted noexec), the demo delivers the first push itself.
func TestDemoWithoutHook(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	isolateGit(t)
	orig := demoHookCommand
	demoHookCommand = func() ([]string, error) { return []string{filepath.Join(t.TempDir(), "gone")}, nil }
	t.Cleanup(func() { demoHookCommand = orig })
	d := demoLayout{dir: filepath.Join(t.TempDir(), "nbpipe-demo")}
	stdout, stderr, stop := startDemo(t, d.dir, "127.0.0.1:0")
	show := func() string { return stdout.String() + "\n--- stderr:\n" + stderr.String() }
	demoWaitFor(t, "DAG commit", 15*time.Second, func() bool { return strings.Contains(stdout.String(), "The server keeps running") }, show)
	head := strings.TrimSpace(gittest.Run(t, d.work(), "git", "rev-parse", "HEAD"))
	if out := stdout.String(); !strings.Contains(out, "did not deliver the push") || demoTargetTrailer(t, d) != head {
		t.Errorf("no direct delivery:\n%s", show())
	}
	if code := stop(); code != 0 {
		t.Fatalf("demo exit %d:\n%s", code, show())
	}
}

// TestDemoHookPayload: the hook's body is a Gitea push the server's parser
// reads as the demo's repository, clone URL and commits.
func TestDemoHookPayload(t *testing.T) {
	commits := []demoGiteaCommit{{ID: strings.Repeat("b", 40), Message: "m\n", Timestamp: "2026-11-30T19:00:00+00:00"}}
	body := demoGiteaPushBody(demoRepo, "file:///tmp/source.git", demoZeroCommit, strings.Repeat("b", 40), "refs/heads/main", commits)
	ev, err := webhook.ParsePush(webhook.Gitea, "d1", body)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Repo != demoRepo || ev.CloneURL != "file:///tmp/source.git" || ev.After != strings.Repeat("b", 40) || ev.Branch() != "main" || ev.Sender != "demo" {
		t.Fatalf("parsed %+v", ev)
	}
}

// TestDemoHelp prints the usage and touches nothing.
func TestDemoHelp(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	for _, args := range [][]string{{"demo", "--help"}, {"demo", "-h", "--dir", dir}} {
		code, stdout, stderr := runCLI(t, args...)
		if code != 0 || !strings.Contains(stdout, "Usage: nbpipe demo") {
			t.Errorf("%v: exit %d\n%s%s", args, code, stdout, stderr)
		}
	}
	if _, err := os.Stat(dir); err == nil {
		t.Error("demo --help created its directory")
	}
	if code, _, stderr := runCLI(t, "demo", "extra"); code != 2 || !strings.Contains(stderr, "Usage: nbpipe demo") {
		t.Errorf("demo extra: exit %d\n%s", code, stderr)
	}
}
