package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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

// TestEmbeddedDefault starts `nbpipe serve` with no configuration at all: it
// must create a local bare target repository and a webhook secret file, and
// publish a signed push's notebook there.
func TestEmbeddedDefault(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "nbpipe")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cwd := t.TempDir()
	var logs bytes.Buffer
	cmd := exec.Command(bin, "serve")
	cmd.Dir = cwd
	cmd.Env = append(os.Environ(), "NBPIPE_LISTEN="+addr, "NBPIPE_CONFIG=", "NBPIPE_TARGET_URL=")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Log(logs.String())
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
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
	body, _ := json.Marshal(map[string]any{"ref": "refs/heads/main", "before": strings.Repeat("0", 40), "after": after,
		"repository": map[string]any{"full_name": "me/notebooks", "clone_url": src}, "sender": map[string]any{"login": "me"}})
	mac := hmac.New(sha256.New, []byte(strings.TrimSpace(string(secret))))
	mac.Write(body)
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/webhook", bytes.NewReader(body))
	req.Header.Set("X-Gitea-Event", "push")
	req.Header.Set("X-Gitea-Delivery", "d1")
	req.Header.Set("X-Gitea-Signature", hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("delivery: %d", resp.StatusCode)
	}
	bare := filepath.Join(cwd, "nbpipe-state", "dags.git")
	for deadline = time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out, err := gittest.Cmd("", "git", "--git-dir", bare, "show", "main:notebooks/dags/hello.py").CombinedOutput()
		if err == nil && strings.Contains(string(out), "# notebook: hello.ipynb") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no DAG in the local target repository: %s", out)
		}
	}
}
