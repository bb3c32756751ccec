// Package livytest runs a real Apache Livy server (scripts/livy.sh: Livy
// 0.7.1 from Maven Central, PySpark in local mode) for tests.
//
// Each Start gets its own server: its run state (conf, logs, pid, Spark
// driver work and temp dirs) lives in a t.TempDir(), with its own HTTP port
// and livy-rsc RPC port range, so tests of several packages (`go test ./...`)
// and several test runs on one machine never share or stop each other's
// server. Only the install (jars, the venv) is shared, under
// ~/.cache/nbpipe/livy, built once under a file lock.
package livytest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startTimeout bounds `livy.sh start`: a cold install (pip, Maven) takes
// about a minute, waiting for another run's install as long again, a start
// about ten seconds.
const startTimeout = 10 * time.Minute

// moduleRoot walks up from the test's working directory (its package
// directory) to the directory holding go.mod.
func moduleRoot(t testing.TB) string {
	t.Helper()
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
			t.Fatal("livytest: no go.mod above the test's directory")
		}
		dir = parent
	}
}

// Script returns the path of scripts/livy.sh in the module.
func Script(t testing.TB) string {
	t.Helper()
	return filepath.Join(moduleRoot(t), "scripts", "livy.sh")
}

// Start starts a Livy server with its own state and port for the test and
// returns its base URL (http://127.0.0.1:PORT); the server and every Spark
// driver it launched are stopped when the test ends. Without NBPIPE_VENV
// (the Python tier) the test is skipped, and so it is without java, javac or
// mvn; with CI set, both fail the test instead.
func Start(t testing.TB) (url string) {
	t.Helper()
	if os.Getenv("NBPIPE_VENV") == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("livytest: CI is set but NBPIPE_VENV is not: the real Livy tier must run in CI (run `make test`)")
		}
		t.Skip("livytest: NBPIPE_VENV is not set: skipping the real Livy server (`make test` sets it)")
	}
	for _, tool := range []string{"java", "javac", "mvn", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("livytest: %s not found: the Livy server needs a JDK 17, Maven and curl", tool)
			}
			t.Skipf("livytest: %s not found: the Livy server needs a JDK 17, Maven and curl", tool)
		}
	}
	script := Script(t)
	dir := t.TempDir()
	// Registered before start, so a start that fails halfway leaves nothing
	// running; it runs before t.TempDir's removal (cleanups run last-first).
	t.Cleanup(func() {
		cmd := exec.Command("bash", script, "stop", dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Logf("livytest: livy.sh stop %s: %v\n%s", dir, err, out)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, "bash", script, "start", dir)
	// A test binary killed by -timeout runs no cleanup: livy.sh then stops
	// the server itself once this process is gone.
	cmd.Env = append(os.Environ(), "NBPIPE_LIVY_OWNER_PID="+strconv.Itoa(os.Getpid()))
	cmd.Stdout, cmd.Stderr = &out, &errb
	began := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("livytest: livy.sh start %s: %v\n%s", dir, err, lastLines(errb.String(), 40))
	}
	fields := strings.Fields(out.String())
	if len(fields) == 0 || !strings.HasPrefix(fields[len(fields)-1], "http://") {
		t.Fatalf("livytest: livy.sh start printed no URL: %q\n%s", out.String(), lastLines(errb.String(), 40))
	}
	url = fields[len(fields)-1]
	t.Logf("livytest: Livy at %s (state in %s), started in %s", url, dir, time.Since(began).Round(100*time.Millisecond))
	return url
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
