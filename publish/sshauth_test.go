package publish

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nbpipe/nbpipe/internal/gittest"
)

// SSH remotes against a real git over SSH (git-upload-pack and
// git-receive-pack behind an SSH server in the test): fetch and publish
// with a key and pinned host key; an unknown host key is refused.
func TestSSHRemoteWithKnownHosts(t *testing.T) {
	srv := gittest.NewServer(t)
	srv.Repo(t, "dags")
	ssh := srv.NewSSHServer(t)
	dir := t.TempDir()
	key := filepath.Join(dir, "id")
	if err := os.WriteFile(key, ssh.ClientKey, 0o600); err != nil {
		t.Fatal(err)
	}
	known := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(known, []byte(ssh.KnownHosts+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	auth, err := AuthFor(ssh.URL("dags"), "ignored-token", SSH{KeyFile: key, KnownHosts: []string{known}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(ctx, ssh.URL("dags"), auth, filepath.Join(dir, "cache"))
	if err != nil {
		t.Fatalf("open over ssh: %v", err)
	}
	res, err := r.Publish(ctx, "main", writePlan(map[string]string{"dags/a.py": owned + "a = 1\n"}), CommitMessage("s", "", "r", "c"), Author{Name: "n", Email: "n@x"})
	if err != nil || res.Commit == "" {
		t.Fatalf("publish over ssh: %+v %v", res, err)
	}
	if got := gittest.Run(t, "", "git", "--git-dir", filepath.Join(srv.Root, "dags.git"), "log", "-1", "--format=%H", "main"); strings.TrimSpace(got) != res.Commit {
		t.Fatalf("the server has %s, want %s", got, res.Commit)
	}

	// Another host key under the same name: refused, never ignored.
	other := srv.NewSSHServer(t)
	wrong := filepath.Join(dir, "wrong_known_hosts")
	line := strings.Replace(other.KnownHosts, other.Addr[strings.LastIndex(other.Addr, ":")+1:], ssh.Addr[strings.LastIndex(ssh.Addr, ":")+1:], 1)
	if err := os.WriteFile(wrong, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad, err := AuthFor(ssh.URL("dags"), "", SSH{KeyFile: key, KnownHosts: []string{wrong}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, ssh.URL("dags"), bad, filepath.Join(dir, "cache2")); err == nil || !strings.Contains(err.Error(), "key mismatch") {
		t.Fatalf("a wrong host key: %v", err)
	}
	if _, err := AuthFor(ssh.URL("dags"), "", SSH{}); err == nil || !strings.Contains(err.Error(), "ssh_key_file") {
		t.Fatalf("an SSH remote without a key: %v", err)
	}
	if a, err := AuthFor("https://h/x.git", "tok", SSH{}); err != nil || a == nil {
		t.Fatalf("an HTTPS remote: %v %v", a, err)
	}
}
