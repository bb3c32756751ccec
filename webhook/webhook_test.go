package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The payloads are the project's own (testdata, see its README.md), shaped
// after the documented GitHub and Gitea deliveries; the tests sign them as
// the forges do. GitHub.com cannot be reached from here: these payloads and
// GitHub's documented signature scheme stand in for it. The recorded public
// payloads in ../shared/fixtures/webhooks are an extra tier (recorded_test.go)
// that skips when that folder is absent.

// payload reads a file of testdata; it is part of the repository, so a
// missing one is a failure, never a skip.
func payload(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func sign256(body, secret []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func sign1(body, secret []byte) string {
	m := hmac.New(sha1.New, secret)
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

var secret = []byte("s3cret")

// githubHeaders and giteaHeaders are the headers each forge sends (Gitea
// sends GitHub's too).
func githubHeaders(event, id string, body []byte) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("X-GitHub-Event", event)
	h.Set("X-GitHub-Delivery", id)
	h.Set("X-Hub-Signature-256", "sha256="+sign256(body, secret))
	h.Set("X-Hub-Signature", "sha1="+sign1(body, secret))
	return h
}

func giteaHeaders(event, id string, body []byte) http.Header {
	h := githubHeaders(event, id, body)
	h.Set("X-Gitea-Event", event)
	h.Set("X-Gitea-Delivery", id)
	h.Set("X-Gitea-Signature", sign256(body, secret))
	return h
}

func TestVerifyAndRoute(t *testing.T) {
	body := payload(t, "gitea-push.json")
	tests := []struct {
		name    string
		headers func() http.Header
		forge   Forge
		ok      bool
	}{
		{"github signed", func() http.Header { return githubHeaders("push", "g1", body) }, GitHub, true},
		{"github wrong secret", func() http.Header {
			h := githubHeaders("push", "g1", body)
			h.Set("X-Hub-Signature-256", "sha256="+sign256(body, []byte("other")))
			return h
		}, GitHub, false},
		{"github sha1 only is refused", func() http.Header {
			h := githubHeaders("push", "g1", body)
			h.Del("X-Hub-Signature-256")
			return h
		}, GitHub, false},
		{"github no signature", func() http.Header {
			h := githubHeaders("push", "g1", body)
			h.Del("X-Hub-Signature-256")
			h.Del("X-Hub-Signature")
			return h
		}, GitHub, false},
		{"github signature of other bytes", func() http.Header { return githubHeaders("push", "g1", append([]byte(" "), body...)) }, GitHub, false},
		{"gitea routed on X-Gitea-Event before X-GitHub-Event", func() http.Header { return giteaHeaders("push", "t1", body) }, Gitea, true},
		{"gitea wrong signature even though X-Hub-Signature-256 is right", func() http.Header {
			h := giteaHeaders("push", "t1", body)
			h.Set("X-Gitea-Signature", sign256(body, []byte("other")))
			return h
		}, Gitea, false},
		{"gitea prefixed signature is not Gitea's format", func() http.Header {
			h := giteaHeaders("push", "t1", body)
			h.Set("X-Gitea-Signature", "sha256="+sign256(body, secret))
			return h
		}, Gitea, false},
		{"gitea empty signature (hook without secret)", func() http.Header {
			h := giteaHeaders("push", "t1", body)
			h.Set("X-Gitea-Signature", "")
			return h
		}, Gitea, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.headers()
			d, ok := identify(h)
			if !ok || d.forge != tc.forge {
				t.Fatalf("identify = %+v %v, want forge %s", d, ok, tc.forge)
			}
			err := verify(d.forge, h, body, secret)
			if (err == nil) != tc.ok {
				t.Fatalf("verify = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, errSignature) {
				t.Fatalf("error %v does not wrap errSignature", err)
			}
		})
	}
	if _, ok := identify(http.Header{"Content-Type": {"application/json"}}); ok {
		t.Fatal("a request without event headers was identified")
	}
}

func TestParsePushFixtures(t *testing.T) {
	const (
		ghClone = "https://github.com/acme/notebooks.git"
		gtClone = "https://gitea.acme.example/acme/notebooks.git"
	)
	tests := []struct {
		file    string
		forge   Forge
		want    PushEvent
		branch  string
		created bool
		deleted bool
	}{
		{"github-push.json", GitHub, PushEvent{Repo: "acme/notebooks", CloneURL: ghClone, Ref: "refs/heads/main",
			Before: "86f7e437faa5a7fce15d1ddcb9eaeaea377667b8", After: "e9d71f5ee7c92d6dc9e92ffdad17b8bd49418f98", Sender: "ada-l"}, "main", false, false},
		{"github-push-new-branch.json", GitHub, PushEvent{Repo: "acme/notebooks", CloneURL: ghClone, Ref: "refs/heads/feature/etl-v2",
			Before: ZeroSHA, After: "84a516841ba77a5b4648de2cd0dfcb30ea46dbb4", Sender: "ada-l"}, "feature/etl-v2", true, false},
		{"github-push-forced.json", GitHub, PushEvent{Repo: "acme/notebooks", CloneURL: ghClone, Ref: "refs/heads/main",
			Before: "3c363836cf4e16666669a25da280a1865c2d2874", After: "58e6b3a414a1e090dfc6029add0f3555ccba127f", Forced: true, Sender: "ada-l"}, "main", false, false},
		{"github-push-branch-deleted.json", GitHub, PushEvent{Repo: "acme/notebooks", CloneURL: ghClone, Ref: "refs/heads/old-experiment",
			Before: "4a0a19218e082a343a1b17e5333409af9d98f0f5", After: ZeroSHA, Sender: "ada-l"}, "old-experiment", false, true},
		{"github-push-tag-deleted.json", GitHub, PushEvent{Repo: "acme/notebooks", CloneURL: ghClone, Ref: "refs/tags/v0.1.0",
			Before: "54fd1711209fb1c0781092374132c66e79e2241b", After: ZeroSHA, Sender: "ada-l"}, "", false, true},
		{"gitea-push.json", Gitea, PushEvent{Repo: "acme/notebooks", CloneURL: gtClone, Ref: "refs/heads/main",
			Before: "27d5482eebd075de44389774fce28c69f45c8a75", After: "042dc4512fa3d391c5170cf3aa61e6a638f84342", Sender: "ada"}, "main", false, false},
		{"gitea-push-new-branch.json", Gitea, PushEvent{Repo: "acme/notebooks", CloneURL: gtClone, Ref: "refs/heads/scratch",
			Before: ZeroSHA, After: "5c2dd944dde9e08881bef0894fe7b22a5c9c4b06", Sender: "ada"}, "scratch", true, false},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			ev, err := parsePush(delivery{forge: tc.forge, event: "push", id: "d-1"}, payload(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			tc.want.Forge, tc.want.DeliveryID = tc.forge, "d-1"
			if ev != tc.want {
				t.Fatalf("got  %+v\nwant %+v", ev, tc.want)
			}
			if ev.Branch() != tc.branch || ev.Created() != tc.created || ev.Deleted() != tc.deleted {
				t.Fatalf("branch %q created %v deleted %v", ev.Branch(), ev.Created(), ev.Deleted())
			}
		})
	}
	for _, bad := range []string{`{`, `{"ref": "refs/heads/x"}`, `{"ref": "refs/heads/x", "after": "zz", "repository": {"full_name": "a/b"}}`} {
		if _, err := parsePush(delivery{forge: Gitea}, []byte(bad)); err == nil {
			t.Errorf("parsePush(%s) accepted an invalid payload", bad)
		}
	}
}

// memIntake records accepted events; fail makes it refuse.
type memIntake struct {
	mu     sync.Mutex
	events []PushEvent
	fail   error
}

func (m *memIntake) Accept(_ context.Context, ev PushEvent) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.events = append(m.events, ev)
	return nil
}

func post(t *testing.T, h http.Handler, headers http.Header, body []byte) (*httptest.ResponseRecorder, reply) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(body))
	req.Header = headers
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var rep reply
	_ = json.Unmarshal(rec.Body.Bytes(), &rep)
	return rec, rep
}

func TestHandler(t *testing.T) {
	push := payload(t, "gitea-push.json")
	ghPush := payload(t, "github-push.json")
	ping := payload(t, "github-ping.json")
	tagDel := payload(t, "github-push-tag-deleted.json")
	pr := payload(t, "github-pull-request-opened.json")
	prClosed := []byte(strings.Replace(string(pr), `"action": "opened"`, `"action": "closed"`, 1))
	if string(prClosed) == string(pr) {
		t.Fatal("the fixture's action is not written as expected")
	}
	branchDel := payload(t, "github-push-branch-deleted.json")
	forced := payload(t, "github-push-forced.json")
	giteaNew := payload(t, "gitea-push-new-branch.json")
	giteaPR := payload(t, "gitea-pull-request.json")
	giteaDel := payload(t, "gitea-delete.json")
	secrets := map[Forge][]byte{GitHub: secret, Gitea: secret}
	tests := []struct {
		name     string
		handler  *Handler
		headers  http.Header
		body     []byte
		code     int
		status   string
		accepted int
	}{
		{"gitea push accepted", &Handler{Secrets: secrets}, giteaHeaders("push", "a", push), push, 202, "accepted", 1},
		{"github push accepted", &Handler{Secrets: secrets}, githubHeaders("push", "b", ghPush), ghPush, 202, "accepted", 1},
		{"ping answered", &Handler{Secrets: secrets}, githubHeaders("ping", "c", ping), ping, 200, "pong", 0},
		{"pull request accepted for a preview", &Handler{Secrets: secrets}, githubHeaders("pull_request", "d", pr), pr, 202, "accepted", 1},
		{"closed pull request ignored", &Handler{Secrets: secrets}, githubHeaders("pull_request", "d2", prClosed), prClosed, 202, "ignored", 0},
		{"pull request to a branch that does not publish", &Handler{Secrets: secrets, Filter: func(ev PushEvent) string {
			if ev.TargetBranch() != "release" {
				return "branch " + ev.TargetBranch() + " does not publish"
			}
			return ""
		}}, githubHeaders("pull_request", "d3", pr), pr, 202, "ignored", 0},
		{"tag push ignored", &Handler{Secrets: secrets}, githubHeaders("push", "e", tagDel), tagDel, 202, "ignored", 0},
		{"bad signature refused", &Handler{Secrets: secrets}, githubHeaders("push", "f", []byte("x")), ghPush, 401, "error", 0},
		{"no secret fails closed", &Handler{}, githubHeaders("push", "g", ghPush), ghPush, 401, "error", 0},
		{"no secret with the insecure flag", &Handler{Insecure: true}, githubHeaders("push", "h", ghPush), ghPush, 202, "accepted", 1},
		{"body over the cap", &Handler{Secrets: secrets, MaxBody: 100}, githubHeaders("push", "i", ghPush), ghPush, 413, "error", 0},
		{"filtered push ignored", &Handler{Secrets: secrets, Filter: func(PushEvent) string { return "branch not configured" }}, githubHeaders("push", "j", ghPush), ghPush, 202, "ignored", 0},
		{"malformed push refused", &Handler{Secrets: secrets}, githubHeaders("push", "k", []byte(`{"ref":1}`)), []byte(`{"ref":1}`), 400, "error", 0},
		{"forced push accepted", &Handler{Secrets: secrets}, githubHeaders("push", "l", forced), forced, 202, "accepted", 1},
		{"branch deletion ignored", &Handler{Secrets: secrets}, githubHeaders("push", "m", branchDel), branchDel, 202, "ignored", 0},
		{"gitea new branch accepted", &Handler{Secrets: secrets}, giteaHeaders("push", "n", giteaNew), giteaNew, 202, "accepted", 1},
		{"gitea pull request accepted for a preview", &Handler{Secrets: secrets}, giteaHeaders("pull_request", "o", giteaPR), giteaPR, 202, "accepted", 1},
		{"gitea delete event ignored", &Handler{Secrets: secrets}, giteaHeaders("delete", "p", giteaDel), giteaDel, 202, "ignored", 0},
		{"unknown sender", &Handler{Secrets: secrets}, http.Header{"Content-Type": {"application/json"}}, ghPush, 400, "error", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := &memIntake{}
			tc.handler.Intake = in
			rec, rep := post(t, tc.handler, tc.headers, tc.body)
			if rec.Code != tc.code || rep.Status != tc.status {
				t.Fatalf("got %d %+v, want %d %s", rec.Code, rep, tc.code, tc.status)
			}
			if len(in.events) != tc.accepted {
				t.Fatalf("intake got %d events, want %d", len(in.events), tc.accepted)
			}
		})
	}
	t.Run("GET refused", func(t *testing.T) {
		rec := httptest.NewRecorder()
		(&Handler{Secrets: secrets}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/webhook", nil))
		if rec.Code != http.StatusMethodNotAllowed {
			t.Fatalf("GET: %d", rec.Code)
		}
	})
	t.Run("intake failure is 503 so the forge redelivers", func(t *testing.T) {
		h := Handler{Secrets: secrets, Intake: &memIntake{fail: errors.New("disk full")}}
		rec, _ := post(t, &h, giteaHeaders("push", "z", push), push)
		if rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("got %d", rec.Code)
		}
	})
}

func TestSpoolDurableAndDeduplicated(t *testing.T) {
	dir := t.TempDir()
	sp, err := OpenSpool(dir)
	if err != nil {
		t.Fatal(err)
	}
	h := &Handler{Secrets: map[Forge][]byte{Gitea: secret}, Intake: sp}
	push := payload(t, "gitea-push.json")
	for i, want := range []string{"accepted", "duplicate"} {
		rec, rep := post(t, h, giteaHeaders("push", "same-id", push), push)
		if rep.Status != want {
			t.Fatalf("delivery %d: %d %+v, want %s", i, rec.Code, rep, want)
		}
	}
	// The same push in another delivery (a manual redelivery) is a duplicate.
	if _, rep := post(t, h, giteaHeaders("push", "redelivered", push), push); rep.Status != "duplicate" {
		t.Fatalf("the same push under another delivery id: %+v", rep)
	}
	// Another push (here: another before) under another id is new.
	var payload map[string]any
	_ = json.Unmarshal(push, &payload)
	payload["before"] = strings.Repeat("1", 40)
	push2, _ := json.Marshal(payload)
	other := giteaHeaders("push", "other-id", push2)
	if _, rep := post(t, h, other, push2); rep.Status != "accepted" {
		t.Fatalf("second delivery id: %+v", rep)
	}
	// A restarted server sees the same pending work, oldest first.
	sp2, err := OpenSpool(dir)
	if err != nil {
		t.Fatal(err)
	}
	pending, err := sp2.Pending()
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 2 || pending[0].DeliveryID != "same-id" || pending[1].DeliveryID != "other-id" {
		t.Fatalf("pending after reopen: %+v", pending)
	}
	if err := sp2.Done(pending[0]); err != nil {
		t.Fatal(err)
	}
	if _, rep := post(t, &Handler{Secrets: map[Forge][]byte{Gitea: secret}, Intake: sp2}, giteaHeaders("push", "same-id", push), push); rep.Status != "duplicate" {
		t.Fatalf("a redelivery of a done push: %+v", rep)
	}
	if left, _ := sp2.Pending(); len(left) != 1 {
		t.Fatalf("pending after done: %+v", left)
	}
	// The delivery id never becomes a path.
	payload["before"] = strings.Repeat("2", 40)
	push3, _ := json.Marshal(payload)
	evil := giteaHeaders("push", "../../etc/passwd", push3)
	if _, rep := post(t, &Handler{Secrets: map[Forge][]byte{Gitea: secret}, Intake: sp2}, evil, push3); rep.Status != "accepted" {
		t.Fatalf("%+v", rep)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "pending"))
	for _, e := range entries {
		if strings.Contains(e.Name(), "passwd") || strings.Contains(e.Name(), "..") {
			t.Fatalf("spool file named after the delivery id: %s", e.Name())
		}
	}
}

// TestRecordedGiteaDelivery replays a delivery recorded from a real Gitea
// 1.26.1 (webhook/testdata, secret "s3cret"): its own headers and signature.
func TestRecordedGiteaDelivery(t *testing.T) {
	body, err := os.ReadFile(filepath.Join("testdata", "gitea-push-live.json"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join("testdata", "gitea-push-live.headers.txt"))
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		k, v, _ := strings.Cut(line, ": ")
		h.Set(k, strings.TrimSpace(v))
	}
	in := &memIntake{}
	rec, rep := post(t, &Handler{Secrets: map[Forge][]byte{Gitea: secret}, Intake: in}, h, body)
	if rec.Code != http.StatusAccepted || rep.Status != "accepted" || len(in.events) != 1 {
		t.Fatalf("%d %+v", rec.Code, rep)
	}
	ev := in.events[0]
	if ev.Forge != Gitea || ev.DeliveryID != h.Get("X-Gitea-Delivery") || ev.Repo == "" || ev.Branch() != "main" || ev.Created() {
		t.Fatalf("event %+v", ev)
	}
}
