// Package ghapp authenticates nbpipe as a GitHub App: the app's private key
// signs a short JWT (RS256), which buys an installation token for the
// repository's owner; that token fetches the source, pushes the target and
// posts statuses. Tokens are cached until shortly before they expire.
package ghapp

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-github/v75/github"
)

// App is a GitHub App's identity.
type App struct {
	ID  int64
	Key *rsa.PrivateKey
	// BaseURL is the API root for GitHub Enterprise (and tests); "" is
	// api.github.com.
	BaseURL string
	HTTP    *http.Client
	// Now is the clock (tests).
	Now func() time.Time

	mu     sync.Mutex
	tokens map[string]cached // by owner
}

type cached struct {
	token   string
	expires time.Time
}

// refreshBefore renews a token this long before it expires, so a fetch or
// push never starts with a token about to lapse.
const refreshBefore = 5 * time.Minute

// jwtLifetime stays under GitHub's 10-minute limit; iat is backdated a
// minute for clock drift, as GitHub's documentation advises.
const (
	jwtLifetime = 9 * time.Minute
	jwtBackdate = time.Minute
)

// Load reads an app's private key (PEM, PKCS#1 or PKCS#8) from a file.
func Load(id int64, keyFile, baseURL string) (*App, error) {
	pem, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("github app private key: %w", err)
	}
	key, err := jwt.ParseRSAPrivateKeyFromPEM(pem)
	if err != nil {
		return nil, fmt.Errorf("github app private key %s: %w", keyFile, err)
	}
	return &App{ID: id, Key: key, BaseURL: baseURL}, nil
}

func (a *App) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// JWT signs the app's own token.
func (a *App) JWT() (string, error) {
	now := a.now()
	claims := jwt.RegisteredClaims{
		Issuer:    strconv.FormatInt(a.ID, 10),
		IssuedAt:  jwt.NewNumericDate(now.Add(-jwtBackdate)),
		ExpiresAt: jwt.NewNumericDate(now.Add(jwtLifetime)),
	}
	return jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(a.Key)
}

func (a *App) client(bearer string) (*github.Client, error) {
	c := github.NewClient(a.HTTP).WithAuthToken(bearer)
	if a.BaseURL != "" {
		return c.WithEnterpriseURLs(a.BaseURL, a.BaseURL)
	}
	return c, nil
}

// Token returns an installation token for the owner of repo (owner/name),
// from the cache while it has more than refreshBefore left.
func (a *App) Token(ctx context.Context, repo string) (string, error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok {
		return "", fmt.Errorf("github app: repository %q is not owner/name", repo)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if c, ok := a.tokens[owner]; ok && a.now().Add(refreshBefore).Before(c.expires) {
		return c.token, nil
	}
	signed, err := a.JWT()
	if err != nil {
		return "", fmt.Errorf("github app: sign: %w", err)
	}
	gh, err := a.client(signed)
	if err != nil {
		return "", err
	}
	inst, _, err := gh.Apps.FindRepositoryInstallation(ctx, owner, name)
	if err != nil {
		return "", fmt.Errorf("github app %d: no installation for %s: %w", a.ID, repo, err)
	}
	tok, _, err := gh.Apps.CreateInstallationToken(ctx, inst.GetID(), nil)
	if err != nil {
		return "", fmt.Errorf("github app %d: installation token for %s: %w", a.ID, owner, err)
	}
	if tok.GetToken() == "" {
		return "", errors.New("github app: the installation token response has no token")
	}
	if a.tokens == nil {
		a.tokens = map[string]cached{}
	}
	a.tokens[owner] = cached{token: tok.GetToken(), expires: tok.GetExpiresAt().Time}
	return tok.GetToken(), nil
}
