package webhook

import (
	"errors"
	"strings"
	"testing"
)

func TestParsePullRequest(t *testing.T) {
	cases := []struct {
		fixture, event string
		forge          Forge
		number         int
		base, before   string
		after          string
	}{
		{"github-pull-request-opened.json", "pull_request", GitHub, 7, "main", "e9d71f5ee7c92d6dc9e92ffdad17b8bd49418f98", "84a516841ba77a5b4648de2cd0dfcb30ea46dbb4"},
		{"gitea-pull-request.json", "pull_request", Gitea, 4, "main", "042dc4512fa3d391c5170cf3aa61e6a638f84342", "5c2dd944dde9e08881bef0894fe7b22a5c9c4b06"},
	}
	for _, c := range cases {
		ev, err := parsePullRequest(delivery{forge: c.forge, event: c.event, id: "x"}, payload(t, c.fixture))
		if err != nil {
			t.Fatalf("%s: %v", c.fixture, err)
		}
		if ev.PullRequest != c.number || ev.BaseRef != c.base || ev.TargetBranch() != c.base || ev.Before != c.before || ev.After != c.after ||
			ev.Ref != "refs/pull/"+string(rune('0'+c.number))+"/head" || ev.Repo != "acme/notebooks" || ev.Branch() != "" {
			t.Fatalf("%s: %+v", c.fixture, ev)
		}
	}
	closed := strings.Replace(string(payload(t, "gitea-pull-request.json")), `"action": "opened"`, `"action": "closed"`, 1)
	if _, err := parsePullRequest(delivery{forge: Gitea, event: "pull_request"}, []byte(closed)); !errors.Is(err, errNotPreviewed) {
		t.Fatalf("a closed pull request: %v", err)
	}
	if _, err := parsePullRequest(delivery{forge: GitHub, event: "pull_request"}, []byte(`{"action":"opened","pull_request":{}}`)); err == nil {
		t.Fatal("a pull request without a number was accepted")
	}
}
