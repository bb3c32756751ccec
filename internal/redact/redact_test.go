package redact

import (
	"strings"
	"testing"
)

func TestURLAndText(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"user and token", "https://bot:ghp_abc123@github.com/acme/dags.git", "https://***@github.com/acme/dags.git"},
		{"token only", "http://tok3n@127.0.0.1:3000/x.git", "http://***@127.0.0.1:3000/x.git"},
		{"no credentials", "http://gitea:3000/platform/dags.git", "http://gitea:3000/platform/dags.git"},
		{"file URL", "file:///var/lib/nbpipe/dags.git", "file:///var/lib/nbpipe/dags.git"},
		{"secret query", "https://h/x?access_token=abc&ref=main", "https://h/x?access_token=%2A%2A%2A&ref=main"},
		{"not a URL", "plain text", "plain text"},
	}
	for _, c := range cases {
		if got := URL(c.in); got != c.want {
			t.Errorf("%s: URL(%q) = %q, want %q", c.name, c.in, got, c.want)
		}
	}
	msg := `fetch "https://u:s3cr3t@host/a.git": authentication required; also git://x:y@h/r`
	got := Text(msg)
	if strings.Contains(got, "s3cr3t") || strings.Contains(got, "x:y") {
		t.Fatalf("Text left a credential: %q", got)
	}
	if !strings.Contains(got, "https://***@host/a.git") {
		t.Fatalf("Text lost the host: %q", got)
	}
	if Text("mail me at a@b.c") != "mail me at a@b.c" {
		t.Fatal("Text changed a string without URLs")
	}
}
