package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/lmittmann/tint"

	"github.com/nbpipe/nbpipe/internal/redact"
	"github.com/nbpipe/nbpipe/internal/server"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := server.Load(args, embeddedDefaults(args, stderr))
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "nbpipe serve:", err)
		return 2
	}
	log := newLogger(cfg.LogFormat, stderr)
	srv, err := server.New(cfg, log)
	if err != nil {
		log.Error("start", "err", err)
		return 1
	}
	l, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		log.Error("listen", "err", err)
		return 1
	}
	log.Info("listening", "addr", l.Addr().String(), "webhook", "http://"+l.Addr().String()+"/webhook", "target", redact.URL(cfg.TargetURL))
	if err := srv.Serve(ctx, l); err != nil {
		log.Error("serve", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

// newLogger writes JSON in production and coloured text for people.
func newLogger(format string, w io.Writer) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(tint.NewTextHandler(w, &tint.Options{TimeFormat: time.TimeOnly}))
}

// embeddedDefaults is the environment lookup, plus, when nothing at all is
// configured, the embedded default: loopback, a local bare target repository
// it creates, every repository's signed payload trusted for its clone URL and
// a generated webhook secret kept in a file (never printed).
func embeddedDefaults(args []string, stderr io.Writer) func(string) string {
	env := os.Getenv
	if len(args) > 0 || env("NBPIPE_CONFIG") != "" || env("NBPIPE_TARGET_URL") != "" {
		return env
	}
	state, _ := filepath.Abs("nbpipe-state")
	target := filepath.Join(state, "dags.git")
	if _, err := os.Stat(target); os.IsNotExist(err) {
		if err := os.MkdirAll(state, 0o700); err == nil {
			_, _ = git.PlainInit(target, true)
		}
	}
	secretFile := filepath.Join(state, "webhook-secret")
	if _, err := os.Stat(secretFile); os.IsNotExist(err) {
		b := make([]byte, 24)
		_, _ = rand.Read(b)
		_ = os.WriteFile(secretFile, []byte(hex.EncodeToString(b)+"\n"), 0o600)
	}
	fmt.Fprintf(stderr, "nbpipe serve: no configuration given, using the embedded default:\n"+
		"  state and spool in %s, DAG commits to the local bare repository %s\n"+
		"  webhook secret in %s (use it as the Gitea webhook's secret)\n", state, target, secretFile)
	defaults := map[string]string{
		"NBPIPE_STATE_DIR":         state,
		"NBPIPE_TARGET_URL":        "file://" + target,
		"NBPIPE_GITEA_SECRET_FILE": secretFile,
		"NBPIPE_SOURCES_ANY":       "1",
	}
	return func(k string) string {
		if v := env(k); v != "" {
			return v
		}
		return defaults[k]
	}
}
