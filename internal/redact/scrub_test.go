package redact

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestScrubber(t *testing.T) {
	red := New("tok-source-1234", "ab", "")
	cases := []struct{ in, want string }{
		{`clone "https://x-access-token:ghs_abc@github.com/acme/dags.git": authentication required`, `clone "https://***@github.com/acme/dags.git": authentication required`},
		{"push http://bot:p%40ss@gitea:3000/x.git and git://u:v@h/r", "push http://***@gitea:3000/x.git and git://***@h/r"},
		{"https://u:p@ss@host/x", "https://***@host/x"},
		{"token tok-source-1234 leaked", "token *** leaked"},
		{"http://gitea:3000/platform/dags.git", "http://gitea:3000/platform/dags.git"},
		{"mail a@b.example about ab", "mail a@b.example about ab"}, // too short to be a token
		{"ssh://git@github.com/acme/x.git", "ssh://***@github.com/acme/x.git"},
	}
	for _, c := range cases {
		if got := red.Text(c.in); got != c.want {
			t.Errorf("text(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	var logs strings.Builder
	log := slog.New(red.Handler(slog.NewTextHandler(&logs, nil))).With("url", "https://u:tok-source-1234@h/x")
	log.Error("fetch https://u:pw@h/x failed", "err", errors.New("auth tok-source-1234"), slog.Group("g", "remote", "http://a:b@c/d"))
	if s := logs.String(); strings.Contains(s, "tok-source-1234") || strings.Contains(s, "u:pw@") || strings.Contains(s, "a:b@") {
		t.Fatalf("a credential reached the log: %s", s)
	}
}
