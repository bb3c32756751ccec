package publish

import (
	"fmt"
	"os"

	"github.com/go-git/go-git/v5/plumbing/transport"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
)

// SSH is how nbpipe reaches ssh:// and scp-style (git@host:owner/repo.git)
// remotes: a private key, and the known_hosts files that pin the servers'
// host keys. Host keys are always checked; there is no insecure mode.
type SSH struct {
	KeyFile    string
	KnownHosts []string // default: $SSH_KNOWN_HOSTS, else ~/.ssh/known_hosts
}

// AuthFor picks the credentials for a remote: the SSH key for SSH remotes,
// the token as HTTP Basic password otherwise.
func AuthFor(url, token string, s SSH) (transport.AuthMethod, error) {
	ep, err := transport.NewEndpoint(url)
	if err != nil {
		return nil, fmt.Errorf("remote %s: %w", redact(url), err)
	}
	if ep.Protocol != "ssh" {
		return TokenAuth("", token), nil
	}
	if s.KeyFile == "" {
		return nil, fmt.Errorf("remote %s is an SSH URL: set ssh_key_file", redact(url))
	}
	pem, err := os.ReadFile(s.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("ssh key: %w", err)
	}
	user := ep.User
	if user == "" {
		user = "git"
	}
	auth, err := gitssh.NewPublicKeys(user, pem, "")
	if err != nil {
		return nil, fmt.Errorf("ssh key %s: %w", s.KeyFile, err)
	}
	if auth.HostKeyCallback, err = gitssh.NewKnownHostsCallback(s.KnownHosts...); err != nil {
		return nil, fmt.Errorf("ssh known_hosts: %w", err)
	}
	return auth, nil
}
