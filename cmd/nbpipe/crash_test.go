package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nbpipe/nbpipe/internal/gittest"
)

// TestCrashSafety kills `nbpipe serve` with SIGKILL at random points during a
// burst of deliveries and restarts it: every push that got a 2xx is published
// exactly once (one target commit per source commit), and none is lost.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills it repeatedly")
	}
	bin := filepath.Join(t.TempDir(), "nbpipe")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	srv := gittest.NewServer(t)
	srcURL := srv.Repo(t, "team/notebooks")
	targetURL := srv.Repo(t, "dags")
	work := gittest.Clone(t, srcURL)
	const pushes = 16
	commits := []string{"0000000000000000000000000000000000000000"}
	for i := 0; i < pushes; i++ {
		nb := fmt.Sprintf(`{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "code", "metadata": {}, "source": "n = %d\n"}]}`, i)
		commits = append(commits, gittest.Commit(t, work, fmt.Sprintf("nb %d", i), map[string]string{fmt.Sprintf("nb_%02d.ipynb", i): nb}))
	}
	gittest.Run(t, work, "git", "push", "-q", "origin", "main")

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	state := t.TempDir()
	cfgFile := filepath.Join(t.TempDir(), "nbpipe.yaml")
	cfg := fmt.Sprintf("listen: %s\ngitea_secret: s3cret\nstate_dir: %s\ntarget_url: %s\nrate_per_minute: 0\nrate_per_hour: 0\nlog_format: json\nsources:\n  - repo: team/notebooks\n    clone_url: %s\n", addr, state, targetURL, srcURL)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "serve", "--config", cfgFile)
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
				resp.Body.Close()
				return cmd
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("server did not start:\n%s", logs.String())
		return nil
	}
	deliver := func(i int) bool {
		body, _ := json.Marshal(map[string]any{"ref": "refs/heads/main", "before": commits[i], "after": commits[i+1],
			"repository": map[string]any{"full_name": "team/notebooks", "clone_url": srcURL}, "sender": map[string]any{"login": "dev", "username": "dev"}})
		mac := hmac.New(sha256.New, []byte("s3cret"))
		mac.Write(body)
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/webhook", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Gitea-Event", "push")
		req.Header.Set("X-Gitea-Delivery", fmt.Sprintf("delivery-%d", i))
		req.Header.Set("X-Gitea-Signature", hex.EncodeToString(mac.Sum(nil)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusOK
	}
	rng := rand.New(rand.NewPCG(1, 2))
	acked := make([]bool, pushes)
	kills := 0
	for round := 0; ; round++ {
		cmd := start()
		killAt := time.Now().Add(time.Duration(rng.IntN(400)) * time.Millisecond)
		for i := 0; i < pushes; i++ {
			if !acked[i] && time.Now().Before(killAt) {
				acked[i] = deliver(i) // a forge (or its operator) redelivers what got no 2xx
			}
		}
		all := true
		for _, a := range acked {
			all = all && a
		}
		if all && round >= 6 {
			// Let the last incarnation finish the spool, then stop it.
			if !waitPublished(t, targetURL, commits[1:]) {
				t.Fatalf("not every push was published in time:\n%s", tail(logs.String(), 30))
			}
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
			break
		}
		time.Sleep(time.Until(killAt))
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		kills++
		if round > 40 {
			t.Fatalf("deliveries never all acknowledged:\n%s", tail(logs.String(), 40))
		}
	}
	check := gittest.Clone(t, targetURL)
	log := gittest.Run(t, check, "git", "log", "--format=%B", "main")
	for i, sha := range commits[1:] {
		if n := strings.Count(log, "Source-Commit: "+sha); n != 1 {
			t.Errorf("push %d (source %s) published %d times", i, sha[:8], n)
		}
		if _, err := os.Stat(filepath.Join(check, "dags", fmt.Sprintf("nb_%02d.py", i))); err != nil {
			t.Errorf("nb_%02d.py missing: %v", i, err)
		}
	}
	t.Logf("%d pushes, %d SIGKILLs: every accepted push published exactly once", pushes, kills)
}

// waitPublished waits until every source commit has its target commit.
func waitPublished(t *testing.T, targetURL string, shas []string) bool {
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		out, err := gittest.Cmd("", "git", "ls-remote", targetURL, "refs/heads/main").Output()
		if err == nil && len(out) > 0 {
			dir := gittest.Clone(t, targetURL)
			log := gittest.Run(t, dir, "git", "log", "--format=%B", "main")
			done := true
			for _, s := range shas {
				done = done && strings.Contains(log, "Source-Commit: "+s)
			}
			if done {
				return true
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	return false
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
