package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nbpipe/nbpipe/webhook"
)

func TestSpoolCommand(t *testing.T) {
	state := t.TempDir()
	sp, err := webhook.OpenSpool(filepath.Join(state, "spool"))
	if err != nil {
		t.Fatal(err)
	}
	ev := webhook.PushEvent{Forge: webhook.Gitea, DeliveryID: "d", Repo: "acme/nb", Ref: "refs/heads/main", Before: webhook.ZeroSHA, After: strings.Repeat("c", 40)}
	if err := sp.Accept(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	entries, _ := sp.Entries()
	if err := sp.Bury(entries[0], errors.New("fetch https://bot:s3cret@host/x.git: connection refused")); err != nil {
		t.Fatal(err)
	}
	key := entries[0].Key
	nb := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"spool", "--state-dir", state}, args...), &out, &errb)
		return code, out.String(), errb.String()
	}
	code, out, _ := nb("list")
	if code != 0 || !strings.Contains(out, key) || !strings.Contains(out, "acme/nb") || !strings.Contains(out, "connection refused") {
		t.Fatalf("list: %d\n%s", code, out)
	}
	if strings.Contains(out, "s3cret") {
		t.Fatalf("list shows a credential:\n%s", out)
	}
	if code, out, _ := nb("retry", key); code != 0 || !strings.Contains(out, "retry: "+key) {
		t.Fatalf("retry: %d %s", code, out)
	}
	if code, out, _ := nb("--json", "list", "--pending"); code != 0 || !strings.Contains(out, `"key":"`+key+`"`) {
		t.Fatalf("list --pending: %d %s", code, out)
	}
	if code, _, errs := nb("drop", "no-such-key"); code != 1 || !strings.Contains(errs, "not in the spool") {
		t.Fatalf("drop unknown: %d %s", code, errs)
	}
	if code, out, _ := nb("--help"); code != 0 || !strings.Contains(out, "dead letters") {
		t.Fatalf("--help: %d %s", code, out)
	}
}

// Item 7: the startup line names the target without its credentials.
func TestServeStartupLogRedactsTarget(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncWriter
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--gitea-secret", "s", "--state-dir", t.TempDir(), "--listen", "127.0.0.1:0",
			"--target-url", "http://bot:tok3n-value@127.0.0.1:1/dags.git"}, &out, &errb)
	}()
	for i := 0; i < 200 && !strings.Contains(errb.String(), "listening"); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	logs := errb.String()
	if !strings.Contains(logs, "listening") || !strings.Contains(logs, "127.0.0.1:1/dags.git") {
		t.Fatalf("no startup line naming the target:\n%s", logs)
	}
	if strings.Contains(logs, "tok3n-value") {
		t.Fatalf("the startup log holds the token:\n%s", logs)
	}
}

type syncWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
