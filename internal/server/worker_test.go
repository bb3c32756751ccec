package server

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nbpipe/nbpipe/internal/gittest"
	"github.com/nbpipe/nbpipe/webhook"
)

// These tests run the whole server (handler, spool, lanes, pipeline) against
// real git smart-HTTP servers (git http-backend), with signed Gitea
// deliveries as a forge sends them.

const testSecret = "s3cret"

type harness struct {
	t       *testing.T
	git     *gittest.Server
	target  string
	srv     *Server
	base    string
	logs    *syncBuffer
	stop    func()
	sources map[string]string // repo -> clone URL
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func nbJSON(code string) string {
	data, _ := json.Marshal(map[string]any{"nbformat": 4, "nbformat_minor": 5,
		"metadata": map[string]any{"kernelspec": map[string]any{"name": "python3", "language": "python"}},
		"cells":    []any{map[string]any{"cell_type": "code", "metadata": map[string]any{}, "source": code}}})
	return string(data)
}

// newHarness makes a target repository and source repositories; configure
// may change the server's configuration before it starts.
func newHarness(t *testing.T, repos []string, configure func(*Config)) *harness {
	h := &harness{t: t, git: gittest.NewServer(t), logs: &syncBuffer{}, sources: map[string]string{}}
	h.target = h.git.Repo(t, "dags")
	cfg := defaults()
	cfg.GiteaSecret, cfg.StateDir, cfg.TargetURL = testSecret, t.TempDir(), h.target
	cfg.RatePerMin, cfg.RatePerHour = 0, 0
	cfg.RetryBase, cfg.RetryMax = 20*time.Millisecond, 100*time.Millisecond
	for _, r := range repos {
		h.sources[r] = h.git.Repo(t, r)
		cfg.Sources = append(cfg.Sources, SourceRule{Repo: r, CloneURL: h.sources[r], TargetDir: strings.ReplaceAll(r, "/", "-")})
	}
	if configure != nil {
		configure(&cfg)
	}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg, slog.New(slog.NewJSONHandler(h.logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	return h
}

func (h *harness) start() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.t.Fatal(err)
	}
	h.base = "http://" + l.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.srv.Serve(ctx, l) }()
	h.stop = func() { cancel(); <-done }
	h.t.Cleanup(func() {
		h.stop()
		if h.t.Failed() {
			h.t.Logf("server log:\n%s", tailLines(h.logs.String(), 40))
		}
	})
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// deliver sends a signed Gitea push delivery and returns the status code.
func (h *harness) deliver(id, repo, sender, before, after string) int {
	h.t.Helper()
	body, _ := json.Marshal(map[string]any{"ref": "refs/heads/main", "before": before, "after": after,
		"repository": map[string]any{"full_name": repo, "clone_url": h.sources[repo]},
		"sender":     map[string]any{"login": sender, "username": sender}})
	return deliverSigned(h.t, h.base, id, body)
}

func (h *harness) get(path string) (int, string) {
	resp, err := http.Get(h.base + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// targetLog returns the Source-Commit trailers of the target branch, oldest
// first ("" while the branch does not exist).
func (h *harness) targetLog() []string {
	out, err := gittest.Cmd("", "git", "ls-remote", h.target, "refs/heads/main").Output()
	if err != nil || len(out) == 0 {
		return nil
	}
	dir := gittest.Clone(h.t, h.target)
	var shas []string
	for _, line := range strings.Split(gittest.Run(h.t, dir, "git", "log", "--reverse", "--format=%B", "main"), "\n") {
		if sha, ok := strings.CutPrefix(line, "Source-Commit: "); ok {
			shas = append(shas, sha)
		}
	}
	return shas
}

func (h *harness) targetFile(p string) (string, bool) {
	dir := gittest.Clone(h.t, h.target)
	data, err := os.ReadFile(filepath.Join(dir, p))
	return string(data), err == nil
}

func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("not within %v: %s", within, what)
}

// Item 1: a published push whose retirement fails is never published again;
// the worker stops loudly (readiness, metric, error log) instead of looping.
func TestPublishedPushIsNeverRepublishedWhenRetiringFails(t *testing.T) {
	h := newHarness(t, []string{"team/notebooks"}, nil)
	// The spool cannot retire anything: done/ is a file, not a directory
	// (chmod would not stop root).
	done := filepath.Join(h.srv.cfg.StateDir, "spool", "done")
	if err := os.Remove(done); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(done, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	h.start()
	work := gittest.Clone(t, h.sources["team/notebooks"])
	c1 := gittest.Commit(t, work, "v1", map[string]string{"etl.ipynb": nbJSON("x = 1\n")})
	gittest.Run(t, work, "git", "push", "-q", "origin", "main")
	if code := h.deliver("d1", "team/notebooks", "dev", webhook.ZeroSHA, c1); code != http.StatusAccepted {
		t.Fatalf("delivery: %d", code)
	}
	eventually(t, 10*time.Second, "readiness fails after the bookkeeping error", func() bool {
		code, _ := h.get("/readyz")
		return code == http.StatusServiceUnavailable
	})
	time.Sleep(time.Second) // a storm would make dozens of commits by now
	if got := h.targetLog(); len(got) != 1 {
		t.Fatalf("target commits: %d, want exactly 1", len(got))
	}
	if _, body := h.get("/metrics"); !strings.Contains(body, "nbpipe_worker_halted 1") {
		t.Fatal("nbpipe_worker_halted is not 1")
	}
	if !strings.Contains(h.logs.String(), "worker stopped") {
		t.Fatal("no error log says the worker stopped")
	}
	// A second push waits: nothing runs until an operator restarts.
	c2 := gittest.Commit(t, work, "v2", map[string]string{"etl.ipynb": nbJSON("x = 2\n")})
	gittest.Run(t, work, "git", "push", "-q", "origin", "main")
	h.deliver("d2", "team/notebooks", "dev", c1, c2)
	time.Sleep(500 * time.Millisecond)
	if got := h.targetLog(); len(got) != 1 {
		t.Fatalf("a halted worker published: %d commits", len(got))
	}
}

// Item 2: a source that is gone (404) is permanent and does not hold up the
// others; a source whose host is down is retried with backoff, then becomes
// a dead letter that an operator can list and replay.
func TestBrokenSourcesDoNotBlockOthers(t *testing.T) {
	h := newHarness(t, []string{"team/good", "team/gone", "team/down"}, func(c *Config) {
		c.MaxAttempts = 3
		for i := range c.Sources {
			switch c.Sources[i].Repo {
			case "team/gone":
				c.Sources[i].CloneURL = strings.Replace(c.Sources[i].CloneURL, "team/gone", "team/deleted", 1)
			case "team/down":
				c.Sources[i].CloneURL = "http://127.0.0.1:1/team/down.git" // nothing listens
			}
		}
	})
	h.start()
	good := gittest.Clone(t, h.sources["team/good"])
	c := gittest.Commit(t, good, "v1", map[string]string{"etl.ipynb": nbJSON("x = 1\n")})
	gittest.Run(t, good, "git", "push", "-q", "origin", "main")
	some := strings.Repeat("a", 40)
	// The broken sources' pushes arrive first.
	h.deliver("gone-1", "team/gone", "dev", webhook.ZeroSHA, some)
	h.deliver("down-1", "team/down", "dev", webhook.ZeroSHA, some)
	h.deliver("good-1", "team/good", "dev", webhook.ZeroSHA, c)
	eventually(t, 10*time.Second, "the good source is published", func() bool { return len(h.targetLog()) == 1 })
	eventually(t, 10*time.Second, "the down source becomes a dead letter", func() bool {
		dead, _ := h.srv.spool.DeadEntries()
		return len(dead) == 1 && dead[0].Event.Repo == "team/down" && dead[0].Attempts == 3
	})
	eventually(t, 5*time.Second, "the gone source is retired as permanent", func() bool {
		pending, _ := h.srv.spool.Entries()
		return len(pending) == 0
	})
	audit, _ := os.ReadFile(filepath.Join(h.srv.cfg.StateDir, "audit.jsonl"))
	for _, want := range []string{`"repo":"team/gone"`, "repository not found", "dead letter after 3 attempts"} {
		if !bytes.Contains(audit, []byte(want)) {
			t.Errorf("audit log lacks %q:\n%s", want, audit)
		}
	}
	if _, body := h.get("/metrics"); !strings.Contains(body, "nbpipe_dead_letters_total 1") {
		t.Error("nbpipe_dead_letters_total is not 1")
	}
	// The operator replays the dead letter: it is queued again and fails
	// again (the host is still down), with a fresh budget.
	dead, _ := h.srv.spool.DeadEntries()
	if err := h.srv.spool.Revive(dead[0].Key); err != nil {
		t.Fatal(err)
	}
	h.srv.poke()
	eventually(t, 10*time.Second, "the replayed push is tried again", func() bool {
		d, _ := h.srv.spool.DeadEntries()
		return len(d) == 1 && strings.Contains(h.logs.String(), `"attempt":1`)
	})
}

// Item 3: deliveries out of order never leave an older DAG: the branch's
// newest commit is what gets published, and a late delivery of an older
// push publishes nothing.
func TestOutOfOrderDeliveriesKeepTheNewestOutputs(t *testing.T) {
	h := newHarness(t, []string{"team/notebooks"}, nil)
	h.start()
	work := gittest.Clone(t, h.sources["team/notebooks"])
	c1 := gittest.Commit(t, work, "v1", map[string]string{"etl.ipynb": nbJSON("version = 1\n")})
	c2 := gittest.Commit(t, work, "v2", map[string]string{"etl.ipynb": nbJSON("version = 2\n")})
	gittest.Run(t, work, "git", "push", "-q", "origin", "main")
	h.deliver("second", "team/notebooks", "dev", c1, c2)
	eventually(t, 10*time.Second, "v2 published", func() bool { return len(h.targetLog()) == 1 })
	h.deliver("first", "team/notebooks", "dev", webhook.ZeroSHA, c1)
	eventually(t, 10*time.Second, "the late delivery is processed", func() bool {
		p, _ := h.srv.spool.Entries()
		return len(p) == 0
	})
	if got := h.targetLog(); len(got) != 1 || got[0] != c2 {
		t.Fatalf("target commits for sources %v, want only v2 %s", got, c2)
	}
	if dag, _ := h.targetFile("team-notebooks/dags/etl.py"); !strings.Contains(dag, "version = 2") {
		t.Fatalf("the DAG is not v2:\n%s", dag)
	}
}

// Item 4: a push over the rate limit is accepted with a 2xx and published
// once the sender is within the limit again; nothing is lost even when no
// later push comes.
func TestRateLimitedPushIsDeferredNotLost(t *testing.T) {
	h := newHarness(t, []string{"team/notebooks"}, func(c *Config) { c.RatePerMin = 1 })
	h.srv.limits.minute = 5 * time.Second
	h.start()
	work := gittest.Clone(t, h.sources["team/notebooks"])
	c1 := gittest.Commit(t, work, "a", map[string]string{"a.ipynb": nbJSON("a = 1\n")})
	gittest.Run(t, work, "git", "push", "-q", "origin", "main")
	if code := h.deliver("1", "team/notebooks", "dev", webhook.ZeroSHA, c1); code != http.StatusAccepted {
		t.Fatalf("first push: %d", code)
	}
	eventually(t, 10*time.Second, "the first push is published", func() bool { return len(h.targetLog()) == 1 })
	c2 := gittest.Commit(t, work, "b", map[string]string{"b.ipynb": nbJSON("b = 1\n")})
	gittest.Run(t, work, "git", "push", "-q", "origin", "main")
	if code := h.deliver("2", "team/notebooks", "dev", c1, c2); code != http.StatusAccepted {
		t.Fatalf("the rate-limited push got %d, want 202", code)
	}
	eventually(t, 10*time.Second, "the deferred push is published", func() bool {
		_, ok := h.targetFile("team-notebooks/dags/b.py")
		return ok
	})
	if !strings.Contains(h.logs.String(), "push deferred by the rate limit") {
		t.Fatal("the deferral was not logged")
	}
}

// Item 6: a different push that reuses a known delivery id is a new push.
func TestReusedDeliveryIDWithAnotherPushIsProcessed(t *testing.T) {
	h := newHarness(t, []string{"team/notebooks"}, nil)
	h.start()
	work := gittest.Clone(t, h.sources["team/notebooks"])
	c1 := gittest.Commit(t, work, "a", map[string]string{"a.ipynb": nbJSON("a = 1\n")})
	gittest.Run(t, work, "git", "push", "-q", "origin", "main")
	h.deliver("same", "team/notebooks", "dev", webhook.ZeroSHA, c1)
	eventually(t, 10*time.Second, "first published", func() bool { return len(h.targetLog()) == 1 })
	c2 := gittest.Commit(t, work, "b", map[string]string{"b.ipynb": nbJSON("b = 1\n")})
	gittest.Run(t, work, "git", "push", "-q", "origin", "main")
	if code := h.deliver("same", "team/notebooks", "dev", c1, c2); code != http.StatusAccepted {
		t.Fatalf("another push under a known delivery id: %d, want 202", code)
	}
	if code := h.deliver("same", "team/notebooks", "dev", c1, c2); code != http.StatusOK {
		t.Fatalf("the same delivery again: %d, want 200 duplicate", code)
	}
	eventually(t, 10*time.Second, "second published", func() bool { return len(h.targetLog()) == 2 })
}

// Item 7: no URL credentials in the log, statuses or audit.
func TestNoCredentialsInLogs(t *testing.T) {
	h := newHarness(t, []string{"team/notebooks"}, func(c *Config) {
		c.Sources[0].CloneURL = strings.Replace(c.Sources[0].CloneURL, "://", "://bot:tok3n-secret@", 1) + "-missing"
	})
	h.start()
	h.deliver("x", "team/notebooks", "dev", webhook.ZeroSHA, strings.Repeat("b", 40))
	eventually(t, 10*time.Second, "the failing push is handled", func() bool {
		p, _ := h.srv.spool.Entries()
		return len(p) == 0
	})
	audit, _ := os.ReadFile(filepath.Join(h.srv.cfg.StateDir, "audit.jsonl"))
	for name, text := range map[string]string{"log": h.logs.String(), "audit": string(audit)} {
		if strings.Contains(text, "tok3n-secret") {
			t.Errorf("the %s holds the token:\n%s", name, text)
		}
	}
}

// Item 8: the configured tokens go only to their own hosts.
func TestSourceTokenOnlyForItsHost(t *testing.T) {
	cfg := defaults()
	cfg.GiteaURL, cfg.GiteaToken, cfg.GitHubToken = "http://gitea.internal:3000", "gitea-tok", "gh-tok"
	cases := []struct {
		name      string
		rule      SourceRule
		tok, host string
	}{
		{"gitea token to gitea", SourceRule{}, "gitea-tok", "gitea.internal:3000"},
		{"rule token to its clone URL", SourceRule{Token: "r", CloneURL: "https://git.example/x.git"}, "r", "git.example"},
		{"rule token without clone URL to the forge", SourceRule{Token: "r"}, "r", "gitea.internal:3000"},
	}
	for _, c := range cases {
		if tok, host := cfg.sourceToken(c.rule); tok != c.tok || host != c.host {
			t.Errorf("%s: (%q, %q), want (%q, %q)", c.name, tok, host, c.tok, c.host)
		}
	}
	gh := defaults()
	gh.GitHubToken, gh.GitHubAPI = "gh-tok", "https://api.github.com"
	if tok, host := gh.sourceToken(SourceRule{}); tok != "gh-tok" || host != "github.com" {
		t.Errorf("github: (%q, %q)", tok, host)
	}
	ghe := defaults()
	ghe.GitHubToken, ghe.GitHubAPI = "gh-tok", "https://ghe.corp/api/v3"
	if _, host := ghe.sourceToken(SourceRule{}); host != "ghe.corp" {
		t.Errorf("github enterprise host %q", host)
	}
}

// Item 14: sizes take units; what does not parse is refused.
func TestSizesWithUnits(t *testing.T) {
	base := []string{"--gitea-secret", "s", "--state-dir", t.TempDir(), "--target-url", "x"}
	for in, want := range map[string]Size{"25MB": 25_000_000, "25MiB": 25 << 20, "26214400": 26214400, "500k": 500_000} {
		cfg, err := Load(append(base, "--max-body", in), env(nil))
		if err != nil || cfg.MaxBody != want {
			t.Errorf("--max-body %s: %d %v, want %d", in, cfg.MaxBody, err, want)
		}
	}
	for _, bad := range []string{"lots", "25 parsecs", "0", "-1"} {
		if _, err := Load(append(base, "--max-body", bad), env(nil)); err == nil {
			t.Errorf("--max-body %q accepted", bad)
		}
	}
	cfg, err := Load([]string{"--config", writeTemp(t, "gitea_secret: s\nstate_dir: /s\ntarget_url: x\nmax_notebook_size: 5MiB\n")}, env(nil))
	if err != nil || cfg.MaxNotebookSize != 5<<20 {
		t.Errorf("max_notebook_size from the file: %d %v", cfg.MaxNotebookSize, err)
	}
	if d := defaults(); d.MaxBody != webhook.DefaultMaxBody {
		t.Errorf("default max body %d, want the webhook package's %d", d.MaxBody, webhook.DefaultMaxBody)
	}
	_ = fmt.Sprint()
}

// deliverSigned posts a Gitea push delivery signed with testSecret.
func deliverSigned(t *testing.T, base, id string, body []byte) int {
	t.Helper()
	mac := hmac.New(sha256.New, []byte(testSecret))
	mac.Write(body)
	req, _ := http.NewRequest(http.MethodPost, base+"/webhook", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Gitea-Event", "push")
	req.Header.Set("X-Gitea-Delivery", id)
	req.Header.Set("X-Gitea-Signature", hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Pushes queued together run as one, and that run covers every push's
// changes, in whatever order they were accepted (no cursor yet: the run
// diffs from the merge base of their befores).
func TestCoalescedPushesCoverEveryChange(t *testing.T) {
	for _, order := range []string{"oldest first", "newest first"} {
		t.Run(order, func(t *testing.T) { coalesced(t, order == "newest first") })
	}
}

func coalesced(t *testing.T, newestFirst bool) {
	h := newHarness(t, []string{"team/notebooks"}, nil)
	work := gittest.Clone(t, h.sources["team/notebooks"])
	c1 := gittest.Commit(t, work, "a", map[string]string{"a.ipynb": nbJSON("a = 1\n")})
	c2 := gittest.Commit(t, work, "b", map[string]string{"b.ipynb": nbJSON("b = 1\n")})
	c3 := gittest.Commit(t, work, "c", map[string]string{"c.ipynb": nbJSON("c = 1\n"), "a.ipynb": ""})
	gittest.Run(t, work, "git", "push", "-q", "origin", "main")
	pushes := [][2]string{{c1, c2}, {c2, c3}}
	if newestFirst {
		pushes[0], pushes[1] = pushes[1], pushes[0]
	}
	for i, p := range pushes { // accepted before the worker starts
		ev := webhook.PushEvent{Forge: webhook.Gitea, DeliveryID: fmt.Sprint("d", i), Repo: "team/notebooks", Ref: "refs/heads/main", Before: p[0], After: p[1]}
		if err := h.srv.spool.Accept(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	// The first notebook was published by an earlier nbpipe that kept no
	// cursor: the target has a.py, which the third push deleted.
	first := webhook.PushEvent{Forge: webhook.Gitea, DeliveryID: "old", Repo: "team/notebooks", Ref: "refs/heads/main", Before: webhook.ZeroSHA, After: c1}
	if _, err := h.srv.proc.Process(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	h.start()
	eventually(t, 10*time.Second, "both queued pushes are processed", func() bool {
		p, _ := h.srv.spool.Entries()
		return len(p) == 0
	})
	for f, want := range map[string]bool{"a.py": false, "b.py": true, "c.py": true} {
		if _, ok := h.targetFile("team-notebooks/dags/" + f); ok != want {
			t.Errorf("%s present: %v, want %v", f, ok, want)
		}
	}
	if got := h.targetLog(); len(got) != 2 || got[1] != c3 {
		t.Fatalf("target commits for %v, want the seed and one run at %s", got, c3)
	}
}
