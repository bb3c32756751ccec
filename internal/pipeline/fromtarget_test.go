package pipeline

import (
	"context"
	"strings"
	"testing"

	"github.com/nbpipe/nbpipe/internal/gittest"
	"github.com/nbpipe/nbpipe/webhook"
)

// TestFromTargetNeverRollsBack is the Action's mode: no state between runs,
// the target's Source-Commit trailers say what was published. A run whose
// push was never processed is caught up by the next one, and a re-run of an
// older push publishes nothing.
func TestFromTargetNeverRollsBack(t *testing.T) {
	f := newFixture(t)
	run := func(before, after string) *Report {
		t.Helper()
		ev := webhook.PushEvent{Forge: webhook.GitHub, DeliveryID: after, Repo: "team/notebooks", Ref: "refs/heads/main", Before: before, After: after}
		rep, err := f.p.Run(context.Background(), Request{Event: ev, FromTarget: true})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	commit := func(msg string, files map[string]string) string {
		c := gittest.Commit(t, f.work, msg, files)
		gittest.Run(t, f.work, "git", "push", "-q", "origin", "main")
		return c
	}
	a := commit("a", map[string]string{"a.ipynb": notebook("a = 1\n", nil)})
	if rep := run(webhook.ZeroSHA, a); rep.TargetCommit == "" {
		t.Fatalf("first run: %+v", rep)
	}
	// b's job never ran (a failed runner, say); c's job diffs from what the
	// target holds (a), not from its own before (b), so b's notebook lands.
	b := commit("b", map[string]string{"b.ipynb": notebook("b = 1\n", nil)})
	c := commit("c", map[string]string{"c.ipynb": notebook("c = 1\n", nil)})
	rep := run(b, c)
	if rep.From != a || changeOf(rep, "b.ipynb") != "added" || changeOf(rep, "c.ipynb") != "added" {
		t.Fatalf("catching up: from %s, notebooks %+v", short(rep.From), rep.Notebooks)
	}
	_, files := f.targetFiles()
	if files["team/dags/b.py"] == "" || files["team/dags/c.py"] == "" {
		t.Fatalf("target %v", keys(files))
	}
	head := gittest.Run(t, gittest.Clone(t, f.target), "git", "rev-parse", "HEAD")

	// A re-run of b's job (or a late one) publishes nothing.
	rep = run(a, b)
	if !rep.UpToDate || rep.Newer != c || rep.TargetCommit != "" || !strings.Contains(rep.Summary(), "which contains "+short(b)) {
		t.Fatalf("re-run of an older push: %+v (%s)", rep, rep.Summary())
	}
	if now := gittest.Run(t, gittest.Clone(t, f.target), "git", "rev-parse", "HEAD"); now != head {
		t.Fatal("an older push moved the target")
	}
	// The same push again: up to date.
	if rep = run(b, c); !rep.UpToDate || rep.Newer != "" {
		t.Fatalf("the same push again: %+v", rep)
	}
}
