package airflow

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Auth supplies the bearer tokens of a Client. Implementations are safe for
// concurrent use, and their String never contains a secret: it names the way
// of authenticating for error messages ("self-minted JWT (subject "nbpipe",
// role "user")").
type Auth interface {
	// Token returns a bearer token, from a cache when one is still good.
	// baseURL and hc are the client's, for ways that log in over HTTP.
	Token(ctx context.Context, hc *http.Client, baseURL string) (string, error)
	// Invalidate drops token from the cache (after Airflow refused it), so
	// the next Token makes a new one. A token that is no longer the cached
	// one is ignored, so two requests refused at once re-authenticate once.
	Invalidate(token string)
	String() string
}

// TokenAuth uses a pre-issued token as is (for example one from
// `POST /auth/token`, or a JWT minted elsewhere). It cannot be renewed: when
// Airflow refuses it, requests fail with ErrAuthRefused.
func TokenAuth(token string) Auth { return &tokenAuth{token: token} }

type tokenAuth struct{ token string }

func (a *tokenAuth) Token(context.Context, *http.Client, string) (string, error) {
	if a.token == "" {
		return "", errors.New("the pre-issued token is empty")
	}
	return a.token, nil
}
func (a *tokenAuth) Invalidate(string) {}
func (a *tokenAuth) String() string    { return "pre-issued token" }
func (a *tokenAuth) GoString() string  { return a.String() }

// DefaultAudience is the `aud` Airflow's api-server expects when
// [api_auth] jwt_audience is not set.
const DefaultAudience = "apache-airflow"

// SecretAuth mints its own tokens with the api-server's shared secret
// ([api_auth] jwt_secret): HS512 JWTs (golang-jwt/jwt/v5) with the claims
// Airflow's simple auth manager reads back, sub and role, plus aud
// "apache-airflow", iat, nbf, exp (1 h) and a random jti. A token is reused
// until 5 minutes before it expires. For another audience, issuer or lifetime,
// build a *JWTAuth directly.
//
// role is one of viewer, user, op, admin (case does not matter); triggering
// and unpausing need user or more. subject need not be a configured user.
func SecretAuth(secret, subject, role string) Auth {
	return &JWTAuth{Secret: secret, Subject: subject, Role: role}
}

// JWTAuth is SecretAuth with every setting open. The zero values of
// Audience, Lifetime and Now mean DefaultAudience, 1 h and time.Now.
type JWTAuth struct {
	Secret, Subject, Role string
	Audience              string
	Issuer                string // only when the deployment sets [api_auth] jwt_issuer
	Lifetime              time.Duration
	Now                   func() time.Time

	mu     sync.Mutex
	token  string
	expiry time.Time
}

func (a *JWTAuth) String() string {
	return fmt.Sprintf("self-minted JWT (subject %q, role %q; signed with the api-server's [api_auth] jwt_secret)", a.Subject, a.Role)
}

// GoString keeps the secret out of %#v (String already covers %v and %+v).
func (a *JWTAuth) GoString() string { return a.String() }

func (a *JWTAuth) Token(context.Context, *http.Client, string) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	t := now()
	if a.token != "" && t.Before(a.expiry.Add(-5*time.Minute)) {
		return a.token, nil
	}
	if a.Secret == "" {
		return "", errors.New("the JWT secret is empty")
	}
	if a.Subject == "" || a.Role == "" {
		return "", errors.New("a self-minted JWT needs a subject and a role")
	}
	life := a.Lifetime
	if life <= 0 {
		life = time.Hour
	}
	aud := a.Audience
	if aud == "" {
		aud = DefaultAudience
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	iat := t.Truncate(time.Second)
	claims := jwt.MapClaims{
		"sub":  a.Subject,
		"role": a.Role,
		"aud":  aud,
		"iat":  iat.Unix(),
		"nbf":  iat.Unix(),
		"exp":  iat.Add(life).Unix(),
		"jti":  hex.EncodeToString(jti),
	}
	if a.Issuer != "" {
		claims["iss"] = a.Issuer
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS512, claims).SignedString([]byte(a.Secret))
	if err != nil {
		return "", fmt.Errorf("signing the JWT: %w", err)
	}
	a.token, a.expiry = signed, iat.Add(life)
	return signed, nil
}

func (a *JWTAuth) Invalidate(token string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.token == token {
		a.token = ""
	}
}

// PasswordAuth logs in with `POST {base}/auth/token` and the JSON body
// {"username","password"} (Airflow answers 201 {"access_token"}). The token
// is cached until a minute before the exp it carries (when it carries none:
// until Airflow refuses it).
func PasswordAuth(user, password string) Auth {
	return &passwordAuth{user: user, password: password}
}

type passwordAuth struct {
	user, password string

	mu     sync.Mutex
	token  string
	expiry time.Time // zero: unknown
}

func (a *passwordAuth) String() string {
	return fmt.Sprintf("password login as %q (POST /auth/token)", a.user)
}
func (a *passwordAuth) GoString() string { return a.String() }

func (a *passwordAuth) Token(ctx context.Context, hc *http.Client, baseURL string) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.token != "" && (a.expiry.IsZero() || time.Now().Before(a.expiry.Add(-time.Minute))) {
		return a.token, nil
	}
	body, _ := json.Marshal(map[string]string{"username": a.user, "password": a.password})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(baseURL, "/")+"/auth/token", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("POST /auth/token: %w", err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		e := &APIError{Method: http.MethodPost, Path: "/auth/token", Status: resp.StatusCode, Detail: detail(data)}
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			return "", &AuthError{Way: a.String(), Err: e}
		}
		return "", e
	}
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(data, &out); err != nil || out.AccessToken == "" {
		return "", fmt.Errorf("POST /auth/token: HTTP %d without an access_token", resp.StatusCode)
	}
	a.token, a.expiry = out.AccessToken, time.Time{}
	// Only to know when to renew; Airflow checks the signature.
	var claims jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(out.AccessToken, &claims); err == nil && claims.ExpiresAt != nil {
		a.expiry = claims.ExpiresAt.Time
	}
	return a.token, nil
}

func (a *passwordAuth) Invalidate(token string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.token == token {
		a.token = ""
	}
}
