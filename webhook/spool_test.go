package webhook

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func spoolEvent(id, before, after string) PushEvent {
	return PushEvent{Forge: Gitea, DeliveryID: id, Repo: "acme/notebooks", Ref: "refs/heads/main", Before: before, After: after}
}

// The spool's lifecycle: retries keep their budget across reopen, dead
// letters can be listed, revived and dropped, cursors are durable, and a
// delivery id is only a duplicate together with its push.
func TestSpoolRetryDeadLettersAndCursors(t *testing.T) {
	dir := t.TempDir()
	sp, err := OpenSpool(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, b := strings.Repeat("a", 40), strings.Repeat("b", 40)
	ev := spoolEvent("d1", ZeroSHA, a)
	if err := sp.Accept(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if err := sp.Accept(ctx, spoolEvent("d1", a, b)); err != nil {
		t.Fatalf("another push under a known delivery id: %v", err)
	}
	if err := sp.Accept(ctx, spoolEvent("d1", a, b)); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("the same delivery again: %v", err)
	}
	if err := sp.Accept(ctx, spoolEvent("d9", a, b)); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("the same push in another delivery: %v", err)
	}
	entries, _ := sp.Entries()
	if len(entries) != 2 {
		t.Fatalf("entries %d", len(entries))
	}
	later := time.Now().Add(time.Minute)
	if err := sp.Retry(entries[0], errors.New("host down"), later); err != nil {
		t.Fatal(err)
	}
	sp2, _ := OpenSpool(dir)
	entries, _ = sp2.Entries()
	if entries[0].Attempts != 1 || entries[0].LastError != "host down" || !entries[0].NotBefore.Equal(later.UTC().Round(0)) && entries[0].NotBefore.Sub(later) > time.Millisecond {
		t.Fatalf("retry state after reopen: %+v", entries[0])
	}
	if err := sp2.Bury(entries[0], errors.New("still down")); err != nil {
		t.Fatal(err)
	}
	dead, _ := sp2.DeadEntries()
	if len(dead) != 1 || dead[0].Attempts != 2 || dead[0].LastError != "still down" {
		t.Fatalf("dead letters: %+v", dead)
	}
	if err := sp2.Accept(ctx, ev); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("a redelivery of a dead letter: %v", err)
	}
	if err := sp2.Revive(dead[0].Key); err != nil {
		t.Fatal(err)
	}
	entries, _ = sp2.Entries()
	if len(entries) != 2 || entries[0].Attempts != 0 || !entries[0].NotBefore.IsZero() {
		t.Fatalf("after revive: %+v", entries)
	}
	if err := sp2.Bury(entries[0], errors.New("x")); err != nil {
		t.Fatal(err)
	}
	if err := sp2.Drop(entries[0].Key); err != nil {
		t.Fatal(err)
	}
	if err := sp2.Drop("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("drop of an unknown key: %v", err)
	}
	if d, _ := sp2.DeadEntries(); len(d) != 0 {
		t.Fatalf("dead after drop: %+v", d)
	}
	lane := Lane(ev)
	if _, ok, err := sp2.Cursor(lane); ok || err != nil {
		t.Fatalf("cursor before any publish: %v %v", ok, err)
	}
	if err := sp2.SetCursor(lane, Cursor{Source: a, Target: b}); err != nil {
		t.Fatal(err)
	}
	sp3, _ := OpenSpool(dir)
	if c, ok, err := sp3.Cursor(lane); !ok || err != nil || c.Source != a || c.Target != b {
		t.Fatalf("cursor after reopen: %+v %v %v", c, ok, err)
	}
}
