package main

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestHelpExitsZeroForEverySubcommand runs the built binary: --help and -h
// print the command's usage and exit 0, and do nothing else (action must not
// run, serve must not listen).
func TestHelpExitsZeroForEverySubcommand(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir() // serve's embedded default would create ./nbpipe-state
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--help"}, "Usage:"},
		{[]string{"help"}, "Usage:"},
		{[]string{"convert", "--help"}, "Usage: nbpipe convert"},
		{[]string{"convert", "-h"}, "Usage: nbpipe convert"},
		{[]string{"convert", "some.ipynb", "--help"}, "Usage: nbpipe convert"},
		{[]string{"check", "--help"}, "Usage: nbpipe check"},
		{[]string{"check", "-h"}, "Usage: nbpipe check"},
		{[]string{"export", "--help"}, "Usage: nbpipe export"},
		{[]string{"export", "-h"}, "Usage: nbpipe export"},
		{[]string{"serve", "--help"}, "listen"},
		{[]string{"serve", "-h"}, "listen"},
		{[]string{"demo", "--help"}, "Usage: nbpipe demo"},
		{[]string{"action", "--help"}, "Usage: nbpipe action"},
		{[]string{"spool", "--help"}, "Usage: nbpipe spool"},
		{[]string{"version", "--help"}, "nbpipe"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, tc.args...)
			cmd.Dir = dir
			var outb, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &outb, &errb
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			stdout, stderr := outb.String(), errb.String()
			if code != 0 {
				t.Fatalf("exit %d, want 0\n%s%s", code, stdout, stderr)
			}
			if !strings.Contains(stdout+stderr, tc.want) {
				t.Errorf("usage lacks %q:\nstdout: %s\nstderr: %s", tc.want, stdout, stderr)
			}
		})
	}
	// A wrong flag is still a usage error.
	for _, c := range []string{"convert", "check", "export"} {
		if code, _, stderr := runCLI(t, c, "--no-such-flag"); code != 2 || !strings.Contains(stderr, "Usage: nbpipe "+c) {
			t.Errorf("%s --no-such-flag: exit %d\n%s", c, code, stderr)
		}
	}
}
