package ghapp

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestContractInstallationTokenExchange runs the token exchange against an
// HTTP server in the test that checks the app JWT (RS256, iss, iat skew,
// exp at most 10 minutes) and the documented requests (GitHub.com cannot be
// reached here): GET /repos/{owner}/{repo}/installation, then
// POST /app/installations/{id}/access_tokens.
func TestContractInstallationTokenExchange(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	var exchanges atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			http.Error(w, "no bearer", http.StatusUnauthorized)
			return
		}
		var claims jwt.RegisteredClaims
		_, err := jwt.ParseWithClaims(bearer, &claims, func(tok *jwt.Token) (any, error) { return &key.PublicKey, nil },
			jwt.WithValidMethods([]string{"RS256"}), jwt.WithTimeFunc(func() time.Time { return now }), jwt.WithIssuer("1234"))
		switch {
		case err != nil:
			t.Errorf("app JWT refused: %v", err)
		case claims.IssuedAt.After(now) || now.Sub(claims.IssuedAt.Time) > 2*time.Minute:
			t.Errorf("iat %v is not within 2 minutes before now", claims.IssuedAt)
		case claims.ExpiresAt.Sub(now) > 10*time.Minute:
			t.Errorf("exp %v is more than 10 minutes ahead", claims.ExpiresAt)
		}
		if r.Header.Get("Accept") == "" {
			t.Error("no Accept header")
		}
		switch {
		case r.Method == "GET" && r.URL.Path == "/api/v3/repos/acme/notebooks/installation":
			_ = json.NewEncoder(w).Encode(map[string]any{"id": 42, "account": map[string]any{"login": "acme"}})
		case r.Method == "POST" && r.URL.Path == "/api/v3/app/installations/42/access_tokens":
			exchanges.Add(1)
			w.WriteHeader(http.StatusCreated)
			_ = json.NewEncoder(w).Encode(map[string]any{"token": "ghs_token" + string(rune('0'+exchanges.Load())), "expires_at": now.Add(time.Hour).Format(time.RFC3339)})
		case r.URL.Path == "/api/v3/repos/other/repo/installation":
			http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
		default:
			t.Errorf("unexpected %s %s", r.Method, r.URL.Path)
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	keyFile := filepath.Join(t.TempDir(), "app.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		t.Fatal(err)
	}
	app, err := Load(1234, keyFile, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	app.Now = func() time.Time { return now }
	ctx := context.Background()
	tok, err := app.Token(ctx, "acme/notebooks")
	if err != nil || tok != "ghs_token1" {
		t.Fatalf("token: %q %v", tok, err)
	}
	if tok, _ := app.Token(ctx, "acme/notebooks"); tok != "ghs_token1" || exchanges.Load() != 1 {
		t.Fatalf("the cached token was not reused: %q after %d exchanges", tok, exchanges.Load())
	}
	now = now.Add(56 * time.Minute) // within 5 minutes of expiry
	if tok, _ := app.Token(ctx, "acme/notebooks"); tok != "ghs_token2" {
		t.Fatalf("a token about to expire was not renewed: %q", tok)
	}
	if _, err := app.Token(ctx, "other/repo"); err == nil || !strings.Contains(err.Error(), "no installation for other/repo") {
		t.Fatalf("a repository without an installation: %v", err)
	}
	if _, err := Load(1, filepath.Join(t.TempDir(), "missing.pem"), ""); err == nil {
		t.Fatal("a missing key file was accepted")
	}
}
