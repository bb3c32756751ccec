package webhook

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// The recorded public payloads (octokit/webhooks, go-playground/webhooks,
// drone/go-scm; see ../shared/fixtures/webhooks/SOURCES.md) are an extra
// tier beside the project's own testdata: real bytes from real forges. They
// live outside the repository, so these tests skip in a fresh clone.

func recorded(t *testing.T, name string) []byte {
	t.Helper()
	p := filepath.Join("..", "..", "shared", "fixtures", "webhooks", name)
	data, err := os.ReadFile(p)
	if err != nil {
		if os.IsNotExist(err) {
			t.Skipf("recorded payload %s is absent: ../shared/fixtures/webhooks sits beside the repository only on the project's machines; the testdata tier covers the same cases", p)
		}
		t.Fatal(err)
	}
	return data
}

func TestParseRecordedPushes(t *testing.T) {
	tests := []struct {
		file   string
		forge  Forge
		want   PushEvent
		branch string
	}{
		{"github-push.json", GitHub, PushEvent{Repo: "binkkatal/sample_app", CloneURL: "https://github.com/binkkatal/sample_app.git", Ref: "refs/heads/master",
			Before: "737d38c599c1b2991664dfc6155d6bf516fcce36", After: "fd489864e7642b48eaad6e3f155c10e46810ec72", Sender: "binkkatal"}, "master"},
		{"github-push-new-branch.json", GitHub, PushEvent{Repo: "Codertocat/Hello-World", CloneURL: "https://github.com/Codertocat/Hello-World.git", Ref: "refs/heads/master",
			Before: ZeroSHA, After: "6113728f27ae82c7b1a177c8d03f9e96e0adf246", Sender: "Codertocat"}, "master"},
		{"gitea-push.json", Gitea, PushEvent{Repo: "gogits/hello-world", CloneURL: "http://try.gitea.io/gogits/hello-world.git", Ref: "refs/heads/master",
			Before: "9836a96a253cce25d17988fcf41b8c4205cf779f", After: "4522cbcefc20728a5b72b3a86af35e608622c514", Sender: "unknwon"}, "master"},
		{"gitea-push-new-branch.json", Gitea, PushEvent{Repo: "example/example", CloneURL: "http://localhost:3000/example/example.git", Ref: "refs/heads/master",
			Before: ZeroSHA, After: "67b56589a45103f891bdee7c0546e5d40bc02001", Sender: "example"}, "master"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			ev, err := parsePush(delivery{forge: tc.forge, event: "push", id: "d-1"}, recorded(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			tc.want.Forge, tc.want.DeliveryID = tc.forge, "d-1"
			if ev != tc.want {
				t.Fatalf("got  %+v\nwant %+v", ev, tc.want)
			}
			if ev.Branch() != tc.branch || ev.Created() != (tc.want.Before == ZeroSHA) || ev.Deleted() {
				t.Fatalf("branch %q created %v deleted %v", ev.Branch(), ev.Created(), ev.Deleted())
			}
		})
	}
	t.Run("tag deletion", func(t *testing.T) {
		ev, err := parsePush(delivery{forge: GitHub, event: "push"}, recorded(t, "github-push-tag-deleted.json"))
		if err != nil {
			t.Fatal(err)
		}
		if ev.Branch() != "" || !ev.Deleted() {
			t.Fatalf("tag deletion read as branch %q deleted %v", ev.Branch(), ev.Deleted())
		}
	})
}

// TestHandlerRecorded sends every recorded delivery through the handler,
// signed as its forge signs it.
func TestHandlerRecorded(t *testing.T) {
	secrets := map[Forge][]byte{GitHub: secret, Gitea: secret}
	tests := []struct {
		file, event string
		forge       Forge
		code        int
		status      string
	}{
		{"github-push.json", "push", GitHub, 202, "accepted"},
		{"github-push-new-branch.json", "push", GitHub, 202, "accepted"},
		{"github-push-tag-deleted.json", "push", GitHub, 202, "ignored"},
		{"github-ping.json", "ping", GitHub, 200, "pong"},
		{"github-pull-request-opened.json", "pull_request", GitHub, 202, "accepted"},
		{"github-pull-request-synchronize.json", "pull_request", GitHub, 202, "accepted"},
		{"gitea-push.json", "push", Gitea, 202, "accepted"},
		{"gitea-push-new-branch.json", "push", Gitea, 202, "accepted"},
		{"gitea-pull-request.json", "pull_request", Gitea, 202, "accepted"},
		{"gitea-pull-request-synchronized.json", "pull_request", Gitea, 202, "accepted"},
		{"gitea-delete.json", "delete", Gitea, 202, "ignored"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			body := recorded(t, tc.file)
			var h http.Header
			if tc.forge == Gitea {
				h = giteaHeaders(tc.event, "r-1", body)
			} else {
				h = githubHeaders(tc.event, "r-1", body)
			}
			in := &memIntake{}
			rec, rep := post(t, &Handler{Secrets: secrets, Intake: in}, h, body)
			if rec.Code != tc.code || rep.Status != tc.status {
				t.Fatalf("got %d %+v, want %d %s", rec.Code, rep, tc.code, tc.status)
			}
		})
	}
}
