package main

import (
	"bytes"
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

// TestEmbeddedDefault starts `nbpipe serve` with no configuration at all: it
// must create a local bare target repository and a webhook secret file, and
// publish a signed push's notebook there.
func TestEmbeddedDefault(t *testing.T) {
	bin := buildBinary(t)
	addr := freeAddr(t)
	cwd := t.TempDir()
	var logs bytes.Buffer
	cmd := exec.Command(bin, "serve")
	cmd.Dir = cwd
	cmd.Env = append(os.Environ(), "NBPIPE_LISTEN="+addr, "NBPIPE_CONFIG=", "NBPIPE_TARGET_URL=")
	startServe(t, cmd, addr, &logs)
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Log(logs.String())
		}
	}()
	secret, err := os.ReadFile(filepath.Join(cwd, "nbpipe-state", "webhook-secret"))
	if err != nil || len(strings.TrimSpace(string(secret))) != 48 {
		t.Fatalf("webhook secret file: %q %v", secret, err)
	}
	if strings.Contains(logs.String(), strings.TrimSpace(string(secret))) {
		t.Fatal("the generated secret was logged")
	}
	srv := gittest.NewServer(t)
	src := srv.Repo(t, "me/notebooks")
	work := gittest.Clone(t, src)
	after := gittest.Commit(t, work, "nb", map[string]string{"hello.ipynb": `{"nbformat": 4, "metadata": {}, "cells": [{"cell_type": "code", "metadata": {}, "source": "x = 1"}]}`})
	gittest.Run(t, work, "git", "push", "-q", "origin", "main")
	code, err := deliverPush(addr, strings.TrimSpace(string(secret)), "d1", "me/notebooks", src, strings.Repeat("0", 40), after)
	if err != nil || code != http.StatusAccepted {
		t.Fatalf("delivery: %d %v", code, err)
	}
	bare := filepath.Join(cwd, "nbpipe-state", "dags.git")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out, err := gittest.Cmd("", "git", "--git-dir", bare, "show", "main:notebooks/dags/hello.py").CombinedOutput()
		if err == nil && strings.Contains(string(out), "# notebook: hello.ipynb") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no DAG in the local target repository: %s", out)
		}
	}
}
