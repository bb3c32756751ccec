package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
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
// burst of deliveries and restarts it: every push that got a 2xx is
// published, none is lost, no source commit is published twice, and the
// target never goes back to an older source commit. (The worker publishes a
// branch's newest commit, so pushes that queue up coalesce into fewer target
// commits.)
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills it repeatedly")
	}
	bin := buildBinary(t)
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

	addr := freeAddr(t)
	state := t.TempDir()
	cfgFile := filepath.Join(t.TempDir(), "nbpipe.yaml")
	cfg := fmt.Sprintf("listen: %s\ngitea_secret: s3cret\nstate_dir: %s\ntarget_url: %s\nrate_per_minute: 0\nrate_per_hour: 0\nlog_format: json\nsources:\n  - repo: team/notebooks\n    clone_url: %s\n", addr, state, targetURL, srcURL)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "serve", "--config", cfgFile)
		startServe(t, cmd, addr, &logs)
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd
	}
	deliver := func(i int) bool {
		code, err := deliverPush(addr, "s3cret", fmt.Sprintf("delivery-%d", i), "team/notebooks", srcURL, commits[i], commits[i+1])
		return err == nil && (code == http.StatusAccepted || code == http.StatusOK)
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
			if !waitPublished(t, targetURL, commits[len(commits)-1:]) {
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
	log := gittest.Run(t, check, "git", "log", "--reverse", "--format=%B", "main")
	index := map[string]int{}
	for i, sha := range commits {
		index[sha] = i
	}
	prev, published := 0, 0
	for _, line := range strings.Split(log, "\n") {
		sha, ok := strings.CutPrefix(line, "Source-Commit: ")
		if !ok {
			continue
		}
		published++
		if i := index[sha]; i <= prev {
			t.Errorf("target commit %d publishes source commit %d after %d: a repeat or a step back", published, i, prev)
		} else {
			prev = i
		}
	}
	for i := range pushes {
		if _, err := os.Stat(filepath.Join(check, "dags", fmt.Sprintf("nb_%02d.py", i))); err != nil {
			t.Errorf("nb_%02d.py missing: %v", i, err)
		}
	}
	t.Logf("%d pushes, %d SIGKILLs: every accepted push published in %d target commits, none twice, never backwards", pushes, kills, published)
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
