package action

import (
	"archive/tar"
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nbpipe/nbpipe/internal/gittest"
)

// actVersion is the nektos/act release the container test runs workflows
// with (built from the Go module proxy; TESTING.md).
const actVersion = "v0.2.89"

// TestContainerActionUnderAct is the Action for real: the image built from
// the Dockerfile, run by a real workflow under nektos/act on a private
// Docker engine (scripts/docker.sh), on a push event, against a real git
// server on loopback. It checks the target commit, the step's outputs as
// the workflow sees them, the step summary and the failing notebook's
// annotation. Then a pull_request workflow previews a pull request twice
// (two pushes to it): nothing is published, and one comment is created on
// a loopback server speaking GitHub's issue-comment REST calls, then edited.
//
// No image registry is reachable, so the Dockerfile's base images are local
// stand-ins, made with `docker import` from files of this machine and
// tagged with the names its FROM lines use (their ARG defaults), so the
// Dockerfile builds as it is, with the classic builder:
//   - golang:1.26 (GO_IMAGE): this machine's Go toolchain (the go command,
//     compile/link/asm, std's sources without tests) at /usr/local/go, Debian's
//     busybox-static as /bin/sh and the coreutils, GOPROXY=off and a module
//     cache holding nbpipe's dependencies (so `go mod download` in the
//     Dockerfile works offline), and a Go build cache warmed by building
//     nbpipe with the Dockerfile's flags (so the dependencies are not
//     compiled again on every run).
//   - gcr.io/distroless/static-debian12:nonroot (BASE_IMAGE): this machine's
//     /etc/ssl/certs/ca-certificates.crt, /etc/passwd and /etc/group naming
//     root and nonroot (65532), /tmp, USER 65532, as distroless has.
//   - the job image for act's ubuntu-latest: busybox-static and its applets,
//     /tmp and /etc/passwd.
//
// Warm (act and the Go caches built, under ~/.cache/nbpipe/action-e2e) it
// takes about 35 s on overlay2; on a vfs-only kernel several minutes.
func TestContainerActionUnderAct(t *testing.T) {
	if os.Getenv("NBPIPE_E2E") == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("NBPIPE_E2E is not set in CI: make test sets it")
		}
		t.Skip("set NBPIPE_E2E=1 (make test does) to build the Action's image and run it under act on a private Docker engine")
	}
	if runtime.GOOS != "linux" {
		t.Skip("the private Docker engine runs on Linux only")
	}
	start := time.Now()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	cache := cacheDir(t)
	dockerHost := startEngine(t, root)
	t.Logf("engine up (%s, storage %s)", time.Since(start).Round(time.Millisecond), strings.TrimSpace(docker(t, dockerHost, "", "info", "--format", "{{.Driver}}")))

	// act builds in the background while the images are made.
	actBin := make(chan string, 1)
	actErr := make(chan error, 1)
	go func() {
		bin, err := buildAct(cache)
		actBin <- bin
		actErr <- err
	}()

	goImage, baseImage := dockerfileBases(t, filepath.Join(root, "Dockerfile"))
	busybox := findBusybox(t)
	tag := fmt.Sprintf("nbpipe-test:action-%d", time.Now().UnixNano())
	jobImage := "nbpipe-test/job:local"
	t0 := time.Now()
	modCache, goCache := warmGoCaches(t, root, cache)
	t.Logf("module and build caches for the golang stand-in ready (%s)", time.Since(t0).Round(time.Millisecond))

	for _, s := range []struct {
		tag string
		img imageTar
	}{{baseImage, standInStatic(t)}, {jobImage, standInJob(t, busybox)}, {goImage, standInGo(t, busybox, modCache, goCache)}} {
		t0 = time.Now()
		if err := flocked(filepath.Join(cache, ".go.lock"), syscall.LOCK_SH, func() error {
			buildContext(t, dockerHost, s.tag, s.img)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		t.Logf("stand-in %s built (%s)", s.tag, time.Since(t0).Round(time.Millisecond))
	}

	t0 = time.Now()
	docker(t, dockerHost, root, "build", "--target", "action", "-t", tag, "--build-arg", "VERSION=e2e", ".")
	docker(t, dockerHost, root, "build", "-t", tag+"-server", "--build-arg", "VERSION=e2e", ".")
	t.Logf("nbpipe images built from the Dockerfile (%s)", time.Since(t0).Round(time.Millisecond))
	if v := strings.TrimSpace(docker(t, dockerHost, "", "run", "--rm", "--network", "none", tag+"-server", "version")); v != "nbpipe e2e" {
		t.Fatalf("the server image's nbpipe version: %q", v)
	}
	if u := strings.TrimSpace(docker(t, dockerHost, "", "image", "inspect", "--format", "{{.Config.User}}", tag+"-server")); u != "65532:65532" {
		t.Fatalf("the server image runs as %q, not non-root 65532:65532", u)
	}
	if u := strings.TrimSpace(docker(t, dockerHost, "", "image", "inspect", "--format", "{{.Config.User}}", tag)); u != "0:0" && u != "" && u != "root" {
		t.Fatalf("the action image runs as %q; GitHub runs Docker actions as root", u)
	}

	// The repositories: a source with a notebook that converts and one that
	// does not, and an empty target.
	srv := gittest.NewServer(t)
	src := srv.Repo(t, "acme/notebooks")
	target := srv.Repo(t, "dags")
	work := gittest.Clone(t, src)
	after := gittest.Commit(t, work, "notebooks", map[string]string{
		"notebooks/etl.ipynb":    `{"nbformat": 4, "metadata": {}, "cells": [{"cell_type": "code", "metadata": {}, "source": "x = 1"}]}`,
		"notebooks/broken.ipynb": `{"nbformat": 4`,
	})
	gittest.Run(t, work, "git", "push", "-q", "origin", "main")

	// The workflow repository act runs: a workflow using the action from
	// this working tree (its action.yml, image pointed at the image just
	// built), GITHUB_REPOSITORY from its origin remote.
	wf := t.TempDir()
	actionYML, err := os.ReadFile(filepath.Join(root, "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	imageLine := regexp.MustCompile(`(?m)^(\s*image:\s*)docker://\S+\s*$`)
	if !imageLine.Match(actionYML) {
		t.Fatalf("action.yml names no prebuilt image (runs.image: docker://...):\n%s", actionYML)
	}
	local := imageLine.ReplaceAll(actionYML, []byte("${1}docker://"+tag))
	writeFile(t, filepath.Join(wf, ".github", "actions", "nbpipe", "action.yml"), string(local))
	writeFile(t, filepath.Join(wf, ".github", "workflows", "nbpipe.yml"), fmt.Sprintf(workflow, target))
	writeFile(t, filepath.Join(wf, ".github", "workflows", "preview.yml"), fmt.Sprintf(previewWorkflow, target))
	gittest.Run(t, wf, "git", "init", "-q", "--initial-branch=main")
	gittest.Run(t, wf, "git", "remote", "add", "origin", "https://github.com/acme/notebooks.git")
	gittest.Run(t, wf, "git", "add", ".")
	gittest.Run(t, wf, "git", "commit", "-q", "-m", "workflow")
	event, _ := json.Marshal(map[string]any{"ref": "refs/heads/main", "before": strings.Repeat("0", 40), "after": after,
		"repository": map[string]any{"full_name": "acme/notebooks", "default_branch": "main"}, "sender": map[string]any{"login": "dev"}})
	writeFile(t, filepath.Join(wf, "event.json"), string(event))

	bin, err := <-actBin, <-actErr
	if err != nil {
		t.Fatalf("building act %s: %v", actVersion, err)
	}
	act := func(event, workflowFile, eventFile string, env ...string) ([]byte, time.Duration) {
		t.Helper()
		args := []string{event, "-W", workflowFile, "-e", eventFile,
			"-P", "ubuntu-latest=" + jobImage, "--pull=false", "--network", "host", "--no-cache-server",
			"--action-offline-mode", "--container-daemon-socket", "-", "--reuse", "--json"}
		for _, e := range env {
			args = append(args, "--env", e)
		}
		home := t.TempDir()
		cmd := exec.Command(bin, args...)
		cmd.Dir = wf
		cmd.Env = append(os.Environ(), "DOCKER_HOST="+dockerHost, "HOME="+home, "XDG_CONFIG_HOME="+home, "XDG_CACHE_HOME="+filepath.Join(home, "cache"))
		t0 := time.Now()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("act %s: %v\n%s", event, err, tail(string(out), 60))
		}
		return out, time.Since(t0)
	}
	out, actTime := act("push", ".github/workflows/nbpipe.yml", "event.json", "GITHUB_SERVER_URL="+srv.URL)
	t.Logf("act ran the push workflow in %s (the whole test so far %s)", actTime.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	logs := parseActLog(t, out)

	// The outputs, as the next job of the workflow read them.
	outputs := map[string]string{}
	for _, l := range logs {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l.Msg), "NBPIPE-OUT "); ok {
			k, val, _ := strings.Cut(v, "=")
			outputs[k] = val
		}
	}
	check := gittest.Clone(t, target)
	head := strings.TrimSpace(gittest.Run(t, check, "git", "rev-parse", "HEAD"))
	if outputs["target-commit"] != head {
		t.Errorf("output target-commit = %q, the target's head is %s (outputs %v)", outputs["target-commit"], head, outputs)
	}
	if outputs["converted"] != "1" || outputs["failed"] != "1" || outputs["outcome"] != "failure" {
		t.Errorf("outputs %v: want converted=1 failed=1 and the step failed (a notebook failed)", outputs)
	}
	dag, err := os.ReadFile(filepath.Join(check, "team", "dags", "etl.py"))
	if err != nil || !strings.Contains(string(dag), "# source-commit: "+after) {
		t.Errorf("the DAG is not in the target: %v", err)
	}
	if msg := gittest.Run(t, check, "git", "log", "-1", "--format=%B"); !strings.Contains(msg, "Source-Commit: "+after) {
		t.Errorf("target commit message:\n%s", msg)
	}

	// The annotation, as act parsed the workflow command.
	var annotated bool
	for _, l := range logs {
		if l.Command == "error" && l.KV["file"] == "notebooks/broken.ipynb" && strings.Contains(l.Arg, "notebooks/broken.ipynb") {
			annotated = true
		}
	}
	if !annotated {
		t.Errorf("no ::error annotation with file=notebooks/broken.ipynb in act's log:\n%s", tail(string(out), 40))
	}

	// The step summary: the convert job's last step was the action, so its
	// GITHUB_STEP_SUMMARY file is what the action wrote (--reuse keeps the
	// job's volume).
	sum := stepSummary(t, dockerHost, jobImage)
	for _, want := range []string{"### nbpipe: 1 notebook\\(s\\) converted\\, 1 failed", `| notebooks/etl\.ipynb | added | converted | team/dags/etl\.py |`, `| notebooks/broken\.ipynb | added | **failed**: `} {
		if !strings.Contains(sum, want) {
			t.Errorf("step summary lacks %q:\n%s", want, sum)
		}
	}

	// A pull request: its head (a fork's, at refs/pull/7/head only)
	// changes etl and fixes broken. The preview publishes nothing and keeps
	// one comment, edited on the next push.
	targetHead := head
	gittest.Run(t, work, "git", "checkout", "-q", "-b", "feature")
	pr1 := gittest.Commit(t, work, "feature", map[string]string{
		"notebooks/etl.ipynb": `{"nbformat": 4, "metadata": {}, "cells": [{"cell_type": "code", "metadata": {}, "source": "x = 2"}]}`,
	})
	gittest.Run(t, work, "git", "push", "-q", "origin", "HEAD:refs/pull/7/head")
	store := &commentStore{bodies: map[int]string{}}
	api := httptest.NewServer(store)
	defer api.Close()
	prEvent := func(head string) {
		ev, _ := json.Marshal(map[string]any{"action": "synchronize", "number": 7,
			"pull_request": map[string]any{"number": 7, "head": map[string]any{"sha": head, "ref": "feature"}, "base": map[string]any{"sha": after, "ref": "main"}},
			"repository":   map[string]any{"full_name": "acme/notebooks"}})
		writeFile(t, filepath.Join(wf, "pr.json"), string(ev))
	}
	prEvent(pr1)
	out, prTime := act("pull_request", ".github/workflows/preview.yml", "pr.json", "GITHUB_SERVER_URL="+srv.URL, "GITHUB_API_URL="+api.URL+"/api/v3")
	t.Logf("act ran the pull_request workflow in %s", prTime.Round(time.Millisecond))
	store.mu.Lock()
	posts, bodies := store.posts, maps.Clone(store.bodies)
	store.mu.Unlock()
	if posts != 1 || len(bodies) != 1 || !strings.Contains(bodies[101], "#### notebooks/etl\\.ipynb") || !strings.Contains(bodies[101], "| team/dags/etl\\.py | modified |") {
		t.Fatalf("after the first pull_request run: %d comment(s) posted: %v\n%s", posts, bodies, tail(string(out), 30))
	}
	gittest.Run(t, work, "git", "checkout", "-q", "-b", "feature2", pr1)
	pr2 := gittest.Commit(t, work, "more", map[string]string{
		"notebooks/new.ipynb": `{"nbformat": 4, "metadata": {}, "cells": [{"cell_type": "code", "metadata": {}, "source": "n = 1"}]}`,
	})
	gittest.Run(t, work, "git", "push", "-q", "-f", "origin", "HEAD:refs/pull/7/head")
	prEvent(pr2)
	out, prTime2 := act("pull_request", ".github/workflows/preview.yml", "pr.json", "GITHUB_SERVER_URL="+srv.URL, "GITHUB_API_URL="+api.URL+"/api/v3")
	store.mu.Lock()
	posts, bodies = store.posts, maps.Clone(store.bodies)
	store.mu.Unlock()
	if posts != 1 || len(bodies) != 1 || !strings.Contains(bodies[101], "#### notebooks/new\\.ipynb") {
		t.Fatalf("after the second push: %d comment(s) posted (want the one, edited): %v\n%s", posts, bodies, tail(string(out), 30))
	}
	check = gittest.Clone(t, target)
	if h := strings.TrimSpace(gittest.Run(t, check, "git", "rev-parse", "HEAD")); h != targetHead {
		t.Fatalf("a preview published: the target moved from %s to %s", targetHead, h)
	}
	t.Logf("act runs: push %s, pull_request %s and %s; whole test %s", actTime.Round(time.Millisecond), prTime.Round(time.Millisecond), prTime2.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}

// previewWorkflow runs the action on pull requests; %s is the target URL.
const previewWorkflow = `name: nbpipe preview
on: pull_request
jobs:
  preview:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: ./.github/actions/nbpipe
        with:
          target-url: %s
          target-dir: team
          token: tok-preview
`

// workflow is the workflow file act runs; %s is the target URL. The action
// step may fail (a notebook does), so the job goes on to hand its outputs to
// the report job, which prints them.
const workflow = `name: nbpipe
on: push
jobs:
  convert:
    runs-on: ubuntu-latest
    outputs:
      target-commit: ${{ steps.nb.outputs.target-commit }}
      converted: ${{ steps.nb.outputs.converted }}
      failed: ${{ steps.nb.outputs.failed }}
      outcome: ${{ steps.nb.outcome }}
    steps:
      - uses: actions/checkout@v4
      - id: nb
        uses: ./.github/actions/nbpipe
        continue-on-error: true
        with:
          target-url: %s
          target-dir: team
          token: ""
  report:
    needs: convert
    runs-on: ubuntu-latest
    steps:
      - shell: sh
        run: |
          echo "NBPIPE-OUT target-commit=${{ needs.convert.outputs.target-commit }}"
          echo "NBPIPE-OUT converted=${{ needs.convert.outputs.converted }}"
          echo "NBPIPE-OUT failed=${{ needs.convert.outputs.failed }}"
          echo "NBPIPE-OUT outcome=${{ needs.convert.outputs.outcome }}"
`

type actLine struct {
	Msg     string            `json:"msg"`
	Command string            `json:"command"`
	KV      map[string]string `json:"kvPairs"`
	Arg     string            `json:"arg"`
	Job     string            `json:"job"`
}

func parseActLog(t *testing.T, out []byte) []actLine {
	var lines []actLine
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l actLine
		if json.Unmarshal(sc.Bytes(), &l) == nil {
			lines = append(lines, l)
		}
	}
	return lines
}

// stepSummary reads the convert job's SUMMARY.md from its env volume.
func stepSummary(t *testing.T, dockerHost, image string) string {
	t.Helper()
	vols := strings.Fields(docker(t, dockerHost, "", "volume", "ls", "-q"))
	for _, v := range vols {
		if !strings.Contains(v, "convert") || !strings.HasSuffix(v, "-env") {
			continue
		}
		return docker(t, dockerHost, "", "run", "--rm", "--network", "none", "-v", v+":/act:ro", image, "cat", "/act/workflow/SUMMARY.md")
	}
	t.Fatalf("no env volume of the convert job among %v", vols)
	return ""
}

// startEngine starts a private Docker engine for this run, or skips loudly
// when none can be started (scripts/docker.sh installs docker.io first).
func startEngine(t *testing.T, root string) string {
	t.Helper()
	// Short: the engine's unix sockets live under it.
	dir, err := os.MkdirTemp("/tmp", "nbd")
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(root, "scripts", "docker.sh")
	out, err := exec.Command("bash", script, "start", dir).Output()
	if err != nil {
		var logs []byte
		if ee, ok := err.(*exec.ExitError); ok {
			logs = ee.Stderr
		}
		_ = os.RemoveAll(dir)
		t.Skipf("\n%s\nNO DOCKER ENGINE COULD BE STARTED: the container Action was NOT tested.\nscripts/docker.sh start: %v\n%s\n%s",
			strings.Repeat("!", 78), err, tail(string(logs), 20), strings.Repeat("!", 78))
	}
	t.Cleanup(func() {
		t0 := time.Now()
		out, err := exec.Command("bash", script, "stop", dir).CombinedOutput()
		if err != nil {
			t.Logf("docker.sh stop: %v", err)
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("the engine's directory: %v", err)
		}
		t.Logf("engine stopped and removed (%s):\n%s", time.Since(t0).Round(time.Millisecond), strings.TrimSpace(string(out)))
	})
	return strings.TrimSpace(string(out))
}

func docker(t *testing.T, dockerHost, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("docker", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+dockerHost, "DOCKER_BUILDKIT=0")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("docker %s: %v\n%s\n%s", strings.Join(args, " "), err, tail(stdout.String(), 30), tail(stderr.String(), 30))
	}
	return stdout.String()
}

// cacheDir is where the build caches live across runs (only they are
// shared, under a lock).
func cacheDir(t *testing.T) string {
	base := os.Getenv("NBPIPE_CACHE")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			t.Fatal(err)
		}
		base = filepath.Join(home, ".cache", "nbpipe")
	}
	dir := filepath.Join(base, "action-e2e")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// locked runs f holding an exclusive lock on file.
func locked(file string, f func() error) error { return flocked(file, syscall.LOCK_EX, f) }

// flocked runs f holding a lock (LOCK_EX or LOCK_SH) on file: the caches
// are written under an exclusive lock and read into an image under a
// shared one, so a parallel run never changes them mid-read.
func flocked(file string, how int, f func() error) error {
	l, err := os.OpenFile(file, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer l.Close()
	if err := syscall.Flock(int(l.Fd()), how); err != nil {
		return err
	}
	defer syscall.Flock(int(l.Fd()), syscall.LOCK_UN)
	return f()
}

// buildAct installs act from the Go module proxy once per machine.
func buildAct(cache string) (string, error) {
	dir := filepath.Join(cache, "act-"+actVersion)
	bin := filepath.Join(dir, "act")
	err := locked(filepath.Join(cache, ".act.lock"), func() error {
		if _, err := os.Stat(bin); err == nil {
			return nil
		}
		cmd := exec.Command("go", "install", "github.com/nektos/act@"+actVersion)
		cmd.Env = append(os.Environ(), "GOBIN="+dir, "CGO_ENABLED=0")
		cmd.Dir = os.TempDir()
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go install github.com/nektos/act@%s: %v\n%s", actVersion, err, out)
		}
		return nil
	})
	return bin, err
}

// dockerfileBases reads the default base images from the Dockerfile's ARGs.
func dockerfileBases(t *testing.T, path string) (goImage, baseImage string) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	args := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^ARG (\w+)=(\S+)\s*$`).FindAllStringSubmatch(string(data), -1) {
		args[m[1]] = m[2]
	}
	goImage, baseImage = args["GO_IMAGE"], args["BASE_IMAGE"]
	if goImage == "" || baseImage == "" {
		t.Fatalf("the Dockerfile has no ARG GO_IMAGE=... and ARG BASE_IMAGE=... defaults (%v)", args)
	}
	for _, from := range regexp.MustCompile(`(?m)^FROM (\S+)`).FindAllStringSubmatch(string(data), -1) {
		switch from[1] {
		case "${GO_IMAGE}", "${BASE_IMAGE}", "runtime", "build":
		default:
			t.Fatalf("the Dockerfile uses base image %s, which has no stand-in here", from[1])
		}
	}
	return goImage, baseImage
}

// findBusybox finds a statically linked busybox (Debian's busybox-static),
// installing it when there is none.
func findBusybox(t *testing.T) string {
	for attempt := 0; attempt < 2; attempt++ {
		for _, p := range []string{"/bin/busybox", "/usr/bin/busybox"} {
			if isStatic(p) {
				return p
			}
		}
		if attempt == 0 {
			if out, err := exec.Command("apt-get", "install", "-y", "-qq", "busybox-static").CombinedOutput(); err != nil {
				t.Fatalf("no static busybox, and apt-get install busybox-static failed: %v\n%s", err, out)
			}
		}
	}
	t.Fatal("busybox-static installed, but no static /bin/busybox")
	return ""
}

// isStatic reports whether path is an ELF executable without an
// interpreter (so it runs in an image with nothing else).
func isStatic(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}

// warmGoCaches fills a module cache with nbpipe's dependencies (from this
// machine's module cache, else the proxy) and a build cache with them
// compiled as the Dockerfile compiles them (CGO_ENABLED=0, -trimpath, so the
// cache keys do not depend on where the modules are).
func warmGoCaches(t *testing.T, root, cache string) (modCache, goCache string) {
	modCache, goCache = filepath.Join(cache, "gomod"), filepath.Join(cache, "gocache")
	err := locked(filepath.Join(cache, ".go.lock"), func() error {
		proxy := "https://proxy.golang.org,direct"
		if p, err := exec.Command("go", "env", "GOPROXY").Output(); err == nil && strings.TrimSpace(string(p)) != "" {
			proxy = strings.TrimSpace(string(p))
		}
		if host, err := exec.Command("go", "env", "GOMODCACHE").Output(); err == nil {
			if dl := filepath.Join(strings.TrimSpace(string(host)), "cache", "download"); dirExists(dl) {
				proxy = "file://" + dl + "," + proxy
			}
		}
		env := append(os.Environ(), "GOMODCACHE="+modCache, "GOCACHE="+goCache, "GOFLAGS=-modcacherw", "GOPROXY="+proxy, "CGO_ENABLED=0", "GOTOOLCHAIN=local")
		for _, args := range [][]string{{"mod", "download"}, {"build", "-trimpath", "-o", os.DevNull, "./cmd/nbpipe"}} {
			cmd := exec.Command("go", args...)
			cmd.Dir, cmd.Env = root, env
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return modCache, goCache
}

func dirExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// imageTar is an image made from local files: its root file system and
// its config (Dockerfile instructions docker import takes: ENV, USER,
// WORKDIR, CMD).
type imageTar struct {
	config []string
	files  []tarEntry
}

type tarEntry struct {
	name     string // path in the image, without the leading /
	hostPath string // a file or a directory tree to add
	content  string // or literal content
	link     string // or a symlink target
	dir      bool   // or an empty directory
	mode     int64
	skip     func(rel string) bool
}

func standInStatic(t *testing.T) imageTar {
	return imageTar{
		config: []string{"USER 65532:65532"},
		files: []tarEntry{
			{name: "etc/ssl/certs/ca-certificates.crt", hostPath: "/etc/ssl/certs/ca-certificates.crt", mode: 0o644},
			{name: "etc/passwd", content: "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n", mode: 0o644},
			{name: "etc/group", content: "root:x:0:\nnonroot:x:65532:\n", mode: 0o644},
			{name: "tmp", dir: true, mode: 0o1777},
			{name: "home/nonroot", dir: true, mode: 0o755},
			{name: "root", dir: true, mode: 0o700},
		},
	}
}

func busyboxEntries(t *testing.T, busybox string) []tarEntry {
	out, err := exec.Command(busybox, "--list").Output()
	if err != nil {
		t.Fatalf("%s --list: %v", busybox, err)
	}
	es := []tarEntry{{name: "bin/busybox", hostPath: busybox, mode: 0o755}}
	for _, applet := range strings.Fields(string(out)) {
		if applet != "busybox" {
			es = append(es, tarEntry{name: "bin/" + applet, link: "busybox"})
		}
	}
	return append(es,
		tarEntry{name: "usr/bin/env", link: "/bin/busybox"},
		tarEntry{name: "tmp", dir: true, mode: 0o1777},
		tarEntry{name: "root", dir: true, mode: 0o700},
		tarEntry{name: "etc/passwd", content: "root:x:0:0:root:/root:/bin/sh\n", mode: 0o644},
		tarEntry{name: "etc/group", content: "root:x:0:\n", mode: 0o644},
	)
}

func standInJob(t *testing.T, busybox string) imageTar {
	return imageTar{
		config: []string{"ENV PATH=/usr/bin:/bin", `CMD ["sh"]`},
		files:  busyboxEntries(t, busybox),
	}
}

func standInGo(t *testing.T, busybox, modCache, goCache string) imageTar {
	goroot := strings.TrimSpace(string(must(exec.Command("go", "env", "GOROOT").Output())))
	files := busyboxEntries(t, busybox)
	// What go build needs of GOROOT: the go command, the compiler and
	// linker, std's sources (not the tools' own in src/cmd, nor tests).
	noTests := func(rel string) bool {
		return strings.HasSuffix(rel, "_test.go") || rel == "testdata" || strings.HasSuffix(rel, "/testdata")
	}
	tools := map[string]bool{"compile": true, "link": true, "asm": true, "buildid": true, "pack": true, "cgo": true}
	for _, d := range []struct {
		name string
		skip func(string) bool
	}{
		{"bin/go", nil},
		{"pkg/tool", func(rel string) bool { return strings.Count(rel, "/") == 1 && !tools[filepath.Base(rel)] }},
		{"pkg/include", nil},
		{"src", func(rel string) bool { return rel == "cmd" || noTests(rel) }},
		{"lib", nil},
		{"go.env", nil},
		{"VERSION", nil},
	} {
		if _, err := os.Stat(filepath.Join(goroot, d.name)); err == nil {
			files = append(files, tarEntry{name: "usr/local/go/" + d.name, hostPath: filepath.Join(goroot, d.name), skip: d.skip})
		}
	}
	files = append(files,
		tarEntry{name: "go/pkg/mod", hostPath: modCache, skip: func(rel string) bool { return strings.HasPrefix(rel, "cache/vcs") || noTests(rel) }},
		tarEntry{name: "root/.cache/go-build", hostPath: goCache},
		tarEntry{name: "etc/ssl/certs/ca-certificates.crt", hostPath: "/etc/ssl/certs/ca-certificates.crt", mode: 0o644},
	)
	return imageTar{
		config: []string{
			"ENV PATH=/usr/local/go/bin:/go/bin:/usr/bin:/bin GOPATH=/go GOMODCACHE=/go/pkg/mod GOCACHE=/root/.cache/go-build HOME=/root GOTOOLCHAIN=local GOPROXY=off",
			"WORKDIR /go",
		},
		files: files,
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// buildContext makes image tag from an imageTar: its root file system
// streamed to `docker import` (one layer, applied once: much faster on vfs
// than a build context copied into a layer), its config as --change lines.
func buildContext(t *testing.T, dockerHost, tag string, img imageTar) {
	t.Helper()
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeRootfs(pw, img)) }()
	args := []string{"import"}
	for _, c := range img.config {
		args = append(args, "--change", c)
	}
	cmd := exec.Command("docker", append(args, "-", tag)...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+dockerHost)
	cmd.Stdin = pr
	out, err := cmd.CombinedOutput()
	_ = pr.CloseWithError(io.EOF)
	if err != nil {
		t.Fatalf("docker import %s (stand-in): %v\n%s", tag, err, tail(string(out), 20))
	}
}

func writeRootfs(w io.Writer, img imageTar) error {
	tw := tar.NewWriter(w)
	add := func(h *tar.Header, body io.Reader) error {
		h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "", ""
		h.ModTime = time.Unix(0, 0)
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if body != nil {
			_, err := io.Copy(tw, body)
			return err
		}
		return nil
	}
	dirs := map[string]bool{}
	var parents func(name string) error
	parents = func(name string) error {
		d := filepath.Dir(name)
		if d == "." || d == "/" || dirs[d] {
			return nil
		}
		if err := parents(d); err != nil {
			return err
		}
		dirs[d] = true
		return add(&tar.Header{Name: d + "/", Mode: 0o755, Typeflag: tar.TypeDir}, nil)
	}
	for _, e := range img.files {
		if err := parents(e.name); err != nil {
			return err
		}
		name := e.name
		switch {
		case e.link != "":
			if err := add(&tar.Header{Name: name, Linkname: e.link, Typeflag: tar.TypeSymlink, Mode: 0o777}, nil); err != nil {
				return err
			}
		case e.dir:
			dirs[e.name] = true
			if err := add(&tar.Header{Name: name + "/", Mode: e.mode, Typeflag: tar.TypeDir}, nil); err != nil {
				return err
			}
		case e.hostPath == "":
			if err := add(&tar.Header{Name: name, Mode: e.mode, Size: int64(len(e.content)), Typeflag: tar.TypeReg}, strings.NewReader(e.content)); err != nil {
				return err
			}
		default:
			err := filepath.WalkDir(e.hostPath, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				rel, _ := filepath.Rel(e.hostPath, p)
				rel = filepath.ToSlash(rel)
				if e.skip != nil && rel != "." && e.skip(rel) {
					if d.IsDir() {
						return filepath.SkipDir
					}
					return nil
				}
				dst := name
				if rel != "." {
					dst = name + "/" + rel
				}
				info, err := os.Lstat(p)
				if err != nil {
					return err
				}
				switch {
				case info.IsDir():
					dirs[dst] = true
					return add(&tar.Header{Name: dst + "/", Mode: int64(info.Mode().Perm()) | 0o200, Typeflag: tar.TypeDir}, nil)
				case info.Mode()&fs.ModeSymlink != 0:
					target, err := os.Readlink(p)
					if err != nil {
						return err
					}
					return add(&tar.Header{Name: dst, Linkname: target, Typeflag: tar.TypeSymlink, Mode: 0o777}, nil)
				case info.Mode().IsRegular():
					f, err := os.Open(p)
					if err != nil {
						return err
					}
					defer f.Close()
					mode := int64(info.Mode().Perm())
					if e.mode != 0 {
						mode = e.mode
					}
					return add(&tar.Header{Name: dst, Mode: mode, Size: info.Size(), Typeflag: tar.TypeReg}, f)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
