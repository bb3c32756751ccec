package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "nbpipe.yaml")
	os.WriteFile(file, []byte("listen: 127.0.0.1:9000\nstate_dir: /from/file\ntarget_url: http://file/dags.git\ngitea_secret: file-secret\nbranches: [release]\nsources:\n  - repo: team/*\n    clone_url: http://gitea/{repo}.git\n    target_dir: \"{name}\"\n"), 0o600)
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte("tok-from-file\n"), 0o600)

	cfg, err := Load([]string{"--config", file, "--listen", "127.0.0.1:7000", "--target-token-file", tokenFile},
		env(map[string]string{"NBPIPE_LISTEN": "127.0.0.1:8000", "NBPIPE_STATE_DIR": "/from/env", "GITEA_TOKEN": "legacy-env", "NBPIPE_RATE_LIMIT_PER_MINUTE": "3"}))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct{ name, got, want string }{
		{"flag beats env and file", cfg.Listen, "127.0.0.1:7000"},
		{"env beats file", cfg.StateDir, "/from/env"},
		{"file beats default", cfg.TargetURL, "http://file/dags.git"},
		{"token from a file flag beats the env", cfg.TargetToken, "tok-from-file"},
		{"the seed's GITEA_TOKEN name", cfg.GiteaToken, "legacy-env"},
		{"branches from the file", strings.Join(cfg.Branches, ","), "release"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
	if cfg.RatePerMin != 3 || cfg.RatePerHour != 60 {
		t.Errorf("rates %d/%d, want 3/60", cfg.RatePerMin, cfg.RatePerHour)
	}
	src, ok := cfg.source("team/notebooks")
	if !ok || src.CloneURL != "http://gitea/team/notebooks.git" || src.TargetDir != "notebooks" {
		t.Errorf("source rule %+v %v", src, ok)
	}
	if _, ok := cfg.source("other/repo"); ok {
		t.Error("a repository outside the allow-list matched")
	}

	for name, args := range map[string][]string{
		"no secret fails closed": {"--state-dir", dir, "--target-url", "x"},
		"unknown file key":       {"--config", writeTemp(t, "shedule: x\n")},
		"bad number":             {"--gitea-secret", "s", "--state-dir", dir, "--target-url", "x", "--rate-per-minute", "many"},
	} {
		if _, err := Load(args, env(nil)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if cfg, err := Load([]string{"--insecure", "--state-dir", dir, "--target-url", "x"}, env(nil)); err != nil || !cfg.Insecure {
		t.Errorf("--insecure: %+v %v", cfg.Insecure, err)
	}

	// Server-wide conversion settings: file < NBPIPE_CONVERT < --convert.
	conv, err := Load([]string{"--config", writeTemp(t, "convert: {owner: file, retries: 1, livy_conn_id: from_file}\n"), "--gitea-secret", "s", "--state-dir", dir, "--target-url", "x",
		"--convert", "owner=flag", "--convert", "tags=[a, b]"}, env(map[string]string{"NBPIPE_CONVERT": "{owner: env, retries: 2}"}))
	if err != nil {
		t.Fatal(err)
	}
	if c := conv.Convert; c["owner"] != "flag" || c["retries"] != 2 || c["livy_conn_id"] != "from_file" || fmt.Sprint(c["tags"]) != "[a b]" {
		t.Errorf("convert settings %v", c)
	}
	for _, bad := range [][]string{{"--convert", "novalue"}, {"--convert", "x=[unclosed"}} {
		if _, err := Load(append([]string{"--gitea-secret", "s", "--state-dir", dir, "--target-url", "x"}, bad...), env(nil)); err == nil {
			t.Errorf("--convert %v accepted", bad)
		}
	}
	if _, err := Load([]string{"--gitea-secret", "s", "--state-dir", dir, "--target-url", "x"}, env(map[string]string{"NBPIPE_CONVERT": "[not, a, map]"})); err == nil {
		t.Error("NBPIPE_CONVERT that is not a mapping accepted")
	}

	// The seed's environment names, as its deployments set them.
	seed, err := Load([]string{"--gitea-secret", "s", "--state-dir", dir, "--target-url", "x"}, env(map[string]string{
		"GITEA_API_URL": "http://ilum-gitea-http:3000/api/v1", "AIRFLOW_API_URL": "http://ilum-airflow-api-server:8080",
		"AIRFLOW_JWT_SECRET": "jwt", "AIRFLOW_API_TOKEN": "tok", "AIRFLOW_USER": "admin", "AIRFLOW_PASSWORD": "pw",
		"ILUM_API_URL": "http://ilum-core:9888/api/v1", "ILUM_API_TOKEN": "ilum-tok",
	}))
	if err != nil {
		t.Fatal(err)
	}
	login, err := Load([]string{"--gitea-secret", "s", "--state-dir", dir, "--target-url", "x"}, env(map[string]string{
		"AIRFLOW_API_URL": "http://af:8080", "AIRFLOW_JWT_SECRET": "jwt", "AIRFLOW_USER": "admin", "AIRFLOW_PASSWORD": "pw"}))
	if err != nil || login.Airflow.JWTSecret != "jwt" || login.Airflow.Username != "" {
		t.Errorf("AIRFLOW_JWT_SECRET beside AIRFLOW_USER: %+v %v", login.Airflow, err)
	}
	if _, err := Load([]string{"--gitea-secret", "s", "--state-dir", dir, "--target-url", "x", "--airflow-url", "http://af"}, env(nil)); err == nil {
		t.Error("an Airflow URL without a way to authenticate was accepted")
	}
	for _, c := range []struct{ name, got, want string }{
		{"GITEA_API_URL without the /api/v1 the SDK adds", seed.GiteaURL, "http://ilum-gitea-http:3000"},
		{"AIRFLOW_API_URL", seed.Airflow.URL, "http://ilum-airflow-api-server:8080"},
		{"AIRFLOW_API_TOKEN", seed.Airflow.Token, "tok"},
		{"the token wins over the JWT secret", seed.Airflow.JWTSecret, ""},
		{"the token wins over the login", seed.Airflow.Username + seed.Airflow.Password, ""},
		{"ILUM_API_URL", seed.Ilum.URL, "http://ilum-core:9888/api/v1"},
		{"ILUM_API_TOKEN", seed.Ilum.Token, "ilum-tok"},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
}

func writeTemp(t *testing.T, content string) string {
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRateLimiter: a push over the limit is deferred, never dropped: it
// runs when the window that is full lets it in.
func TestRateLimiter(t *testing.T) {
	l := newLimiter(2, 3)
	t0 := time.Unix(1_000_000, 0)
	steps := []struct {
		sender string
		at     time.Time
		want   time.Time
	}{
		{"a", t0, t0},
		{"a", t0.Add(time.Second), t0.Add(time.Second)},
		{"a", t0.Add(2 * time.Second), t0.Add(time.Minute)}, // third in a minute: waits for the first to leave
		{"b", t0, t0}, // another sender is not limited
		{"a", t0.Add(2 * time.Minute), t0.Add(time.Hour)}, // fourth in an hour: waits for the hourly window
		{"a", t0.Add(3 * time.Hour), t0.Add(3 * time.Hour)},
	}
	for i, s := range steps {
		if got := l.allow(s.sender, s.at); !got.Equal(s.want) {
			t.Fatalf("step %d (%s at +%v): runs at +%v, want +%v", i, s.sender, s.at.Sub(t0), got.Sub(t0), s.want.Sub(t0))
		}
	}
}

// TestHealthReadyMetricsAndDrain: /readyz turns 503 and deliveries get 503
// while the server drains.
func TestHealthReadyMetricsAndDrain(t *testing.T) {
	cfg := defaults()
	cfg.GiteaSecret, cfg.StateDir, cfg.TargetURL = "s", t.TempDir(), "http://127.0.0.1:1/dags.git"
	srv, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + l.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l) }()
	get := func(p string) (int, string) {
		resp, err := http.Get(base + p)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	waitUp := time.Now().Add(5 * time.Second)
	for code, _ := get("/healthz"); code != 200 && time.Now().Before(waitUp); code, _ = get("/healthz") {
		time.Sleep(20 * time.Millisecond)
	}
	if code, _ := get("/readyz"); code != 200 {
		t.Fatalf("readyz %d", code)
	}
	resp, err := http.Post(base+"/webhook", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, `nbpipe_deliveries_total{event="",forge="unknown",outcome="400"} 1`) || !strings.Contains(body, "nbpipe_queue_depth 0") {
		t.Fatalf("metrics %d:\n%s", code, body)
	}
	srv.draining.Store(true) // as Serve does on SIGTERM before shutting down
	if code, _ := get("/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("readyz while draining: %d", code)
	}
	resp, err = http.Post(base+"/webhook", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("delivery while draining: %d", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// The README's example configuration loads and grants what it says.
func TestExampleConfig(t *testing.T) {
	cfg, err := Load([]string{"--config", filepath.Join("testdata", "nbpipe.example.yaml")}, env(map[string]string{"NBPIPE_GITEA_SECRET": "s"}))
	if err != nil {
		t.Fatal(err)
	}
	src, ok := cfg.source("analytics/churn")
	if !ok || src.CloneURL != "http://gitea:3000/analytics/churn.git" || src.TargetDir != "churn" {
		t.Fatalf("source %+v %v", src, ok)
	}
	if len(cfg.LockedKeys) != 2 || cfg.Convert["livy_conn_id"] != "prod_livy" {
		t.Fatalf("locked %v convert %v", cfg.LockedKeys, cfg.Convert)
	}
	cfg.StateDir = t.TempDir() // /var/lib/nbpipe is the production path
	if _, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatalf("the example's convert settings were refused: %v", err)
	}
	cfg.Convert = map[string]any{"mode": "sideways"}
	if _, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil {
		t.Fatal("an invalid convert setting was accepted")
	}
}
