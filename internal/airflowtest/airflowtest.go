// Package airflowtest runs a real Airflow 3 (api-server, scheduler,
// dag-processor; scripts/airflow.sh) for tests, with a Git DAG bundle that
// follows a repository the test serves.
package airflowtest

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Instance is the JSON line of scripts/airflow.sh start. It holds secrets:
// never log it.
type Instance struct {
	URL            string `json:"url"`
	JWTSecret      string `json:"jwt_secret"`
	User           string `json:"user"`
	Password       string `json:"password"`
	ViewerPassword string `json:"viewer_password"`
	Bundle         string `json:"bundle"`
	Home           string `json:"home"`
}

// NeedVenv returns the Python tier's venv. Without NBPIPE_VENV the test is
// skipped, unless CI is set: there the tier must run, so its absence fails.
func NeedVenv(t testing.TB) string {
	t.Helper()
	venv := os.Getenv("NBPIPE_VENV")
	if venv == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("CI is set but NBPIPE_VENV is not: the real Airflow tier must run in CI (NBPIPE_VENV=\"$(scripts/pyenv.sh)\", as make test does)")
		}
		t.Skip("NBPIPE_VENV is not set: skipping the real Airflow 3 tests (make test sets it from scripts/pyenv.sh)")
	}
	for _, tool := range []string{"git", "curl", "setsid", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the real Airflow test needs %s: %v", tool, err)
		}
	}
	return venv
}

// moduleRoot finds the directory holding go.mod above the working directory.
func moduleRoot(t testing.TB) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// Start runs scripts/airflow.sh start in a temp dir, with a Git DAG bundle
// following repoURL's main branch (fetched every refresh seconds), and stops
// it when the test ends. env adds variables (connections: AIRFLOW_CONN_...).
func Start(t testing.TB, venv, repoURL, refresh string, env ...string) Instance {
	t.Helper()
	script := filepath.Join(moduleRoot(t), "scripts", "airflow.sh")
	dir := t.TempDir()
	t.Cleanup(func() {
		if t.Failed() {
			for _, name := range []string{"scheduler", "dag-processor", "api-server"} {
				if b, err := os.ReadFile(filepath.Join(dir, "logs", name+".log")); err == nil {
					t.Logf("---- last lines of %s.log:\n%s", name, lastLines(string(b), 25))
				}
			}
		}
		t0 := time.Now()
		out, err := exec.Command("bash", script, "stop", dir).CombinedOutput()
		if err != nil {
			t.Errorf("airflow.sh stop: %v\n%s", err, out)
		}
		t.Logf("airflow.sh stop took %.1f s", time.Since(t0).Seconds())
	})
	cmd := exec.Command("bash", script, "start", dir)
	cmd.Env = append(append(os.Environ(), "NBPIPE_VENV="+venv, "NBPIPE_AIRFLOW_REPO_URL="+repoURL,
		"NBPIPE_AIRFLOW_TRACKING_REF=main", "NBPIPE_AIRFLOW_REFRESH="+refresh), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("airflow.sh start: %v\n%s", err, stderr.String())
	}
	var inst Instance
	if err := json.Unmarshal(stdout.Bytes(), &inst); err != nil || inst.URL == "" || inst.JWTSecret == "" || inst.Password == "" {
		t.Fatalf("airflow.sh start printed no instance line (%v); stderr:\n%s", err, stderr.String())
	}
	if inst.Bundle != "nbpipe" || inst.User != "admin" || inst.Home != dir {
		t.Fatalf("instance: bundle %q user %q home %q", inst.Bundle, inst.User, inst.Home)
	}
	t.Logf("airflow.sh start took %.1f s (api-server, scheduler, dag-processor healthy)", time.Since(t0).Seconds())
	return inst
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
