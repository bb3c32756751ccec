package airflow

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// tokenServer is a test server that checks bearer tokens the way Airflow
// 3.3.2's api-server does (HS512 with the shared secret, aud
// "apache-airflow", exp/iat/nbf required, sub and role read back; 403
// "Invalid JWT token" for a bad one, 401 "Token Expired" for an expired one)
// and issues tokens at POST /auth/token. It is not Airflow: the real one is
// in TestRealAirflow.
type tokenServer struct {
	secret, user, password string

	mu        sync.Mutex
	logins    int
	apiCalls  int
	lastToken string
	loginBody map[string]any
	loginType string
	// refuseFirst: tokens issued by the first N logins get 401.
	refuseFirst int
	issued      []string
}

func (s *tokenServer) handler(t *testing.T) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /auth/token", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.logins++
		s.loginType = r.Header.Get("Content-Type")
		body, _ := io.ReadAll(r.Body)
		s.loginBody = nil
		if err := json.Unmarshal(body, &s.loginBody); err != nil {
			http.Error(w, `{"detail":"not JSON"}`, http.StatusUnprocessableEntity)
			return
		}
		if s.loginBody["username"] != s.user || s.loginBody["password"] != s.password {
			w.WriteHeader(401)
			io.WriteString(w, `{"detail":"Invalid credentials"}`)
			return
		}
		now := time.Now()
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS512, jwt.MapClaims{
			"sub": s.user, "role": "ADMIN", "aud": "apache-airflow", "jti": fmt.Sprint(s.logins),
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(24 * time.Hour).Unix(),
		}).SignedString([]byte(s.secret))
		if err != nil {
			t.Error(err)
		}
		s.issued = append(s.issued, tok)
		w.WriteHeader(201)
		json.NewEncoder(w).Encode(map[string]string{"access_token": tok})
	})
	mux.HandleFunc("GET /api/v2/dags/{id}", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.apiCalls++
		raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			w.WriteHeader(401)
			io.WriteString(w, `{"detail":"Not authenticated"}`)
			return
		}
		s.lastToken = raw
		if i := slices.Index(s.issued, raw); i >= 0 && i < s.refuseFirst {
			w.WriteHeader(401)
			io.WriteString(w, `{"detail":"Token Expired"}`)
			return
		}
		claims := jwt.MapClaims{}
		_, err := jwt.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) { return []byte(s.secret), nil },
			jwt.WithValidMethods([]string{"HS512"}), jwt.WithAudience("apache-airflow"),
			jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(10*time.Second))
		if errors.Is(err, jwt.ErrTokenExpired) {
			w.WriteHeader(401)
			io.WriteString(w, `{"detail":"Token Expired"}`)
			return
		}
		if err != nil || claims["sub"] == nil || claims["role"] == nil || claims["nbf"] == nil || claims["iat"] == nil {
			w.WriteHeader(403)
			io.WriteString(w, `{"detail":"Invalid JWT token"}`)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"dag_id": r.PathValue("id"), "is_paused": true})
	})
	return mux
}

func TestAuthWaysAgainstTestServer(t *testing.T) {
	const secret = "s3cret-jwt-key-for-the-test"
	const password = "pw-Very-Secret-7"
	s := &tokenServer{secret: secret, user: "admin", password: password}
	srv := httptest.NewServer(s.handler(t))
	defer srv.Close()

	good, err := (&JWTAuth{Secret: secret, Subject: "x", Role: "admin"}).Token(context.Background(), nil, "")
	if err != nil {
		t.Fatal(err)
	}
	expired, err := (&JWTAuth{Secret: secret, Subject: "x", Role: "admin", Now: func() time.Time { return time.Now().Add(-3 * time.Hour) }}).Token(context.Background(), nil, "")
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name     string
		auth     Auth
		wantErr  string // "" = success
		secretIn string // must not appear in the error
		logins   int
	}{
		{"secret", SecretAuth(secret, "nbpipe", "user"), "", secret, 0},
		{"secret wrong", SecretAuth("not-the-secret", "nbpipe", "user"), "authentication refused, self-minted JWT", "not-the-secret", 0},
		{"secret other audience", &JWTAuth{Secret: secret, Subject: "nbpipe", Role: "user", Audience: "elsewhere"}, "Invalid JWT token", secret, 0},
		{"password", PasswordAuth("admin", password), "", password, 1},
		{"password wrong", PasswordAuth("admin", "wrong-pw-123"), `authentication refused, password login as "admin"`, "wrong-pw-123", 1},
		{"token", TokenAuth(good), "", good, 0},
		{"token expired", TokenAuth(expired), "authentication refused, pre-issued token", expired, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s.mu.Lock()
			s.logins, s.apiCalls = 0, 0
			s.mu.Unlock()
			c := New(srv.URL, tc.auth)
			d, err := c.DAG(context.Background(), "hello")
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("DAG: %v", err)
				}
				if d.DagID != "hello" || !d.IsPaused {
					t.Fatalf("DAG = %+v", d)
				}
			} else {
				if err == nil {
					t.Fatal("no error")
				}
				if !errors.Is(err, ErrAuthRefused) {
					t.Errorf("error %q is not ErrAuthRefused", err)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error %q lacks %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), tc.secretIn) {
					t.Errorf("error carries the secret")
				}
			}
			for _, s := range []string{fmt.Sprintf("%v %+v %#v %s", tc.auth, tc.auth, tc.auth, tc.auth), fmt.Sprintf("%+v %#v", c, c)} {
				if strings.Contains(s, tc.secretIn) {
					t.Errorf("formatting the auth or the client shows the secret")
				}
			}
			if s.logins != tc.logins {
				t.Errorf("logins = %d, want %d", s.logins, tc.logins)
			}
		})
	}
}

// The exact token SecretAuth mints: header alg HS512 typ JWT; claims sub,
// role, aud (a string), iat = nbf, exp = iat + 1h, jti 32 hex digits; no
// more. Checked with golang-jwt's parser and the secret.
func TestSecretAuthTokenAgainstTestServer(t *testing.T) {
	const secret = "another-test-secret"
	s := &tokenServer{secret: secret}
	srv := httptest.NewServer(s.handler(t))
	defer srv.Close()

	cases := []struct {
		name string
		auth *JWTAuth
		aud  string
		iss  string
		life time.Duration
	}{
		{"defaults", &JWTAuth{Secret: secret, Subject: "nbpipe", Role: "op"}, "apache-airflow", "", time.Hour},
		{"audience issuer lifetime", &JWTAuth{Secret: secret, Subject: "svc", Role: "admin", Audience: "my-aud", Issuer: "nbpipe", Lifetime: 10 * time.Minute}, "my-aud", "nbpipe", 10 * time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := New(srv.URL, tc.auth)
			_, err := c.DAG(context.Background(), "x")
			if tc.aud == "apache-airflow" && err != nil {
				t.Fatal(err)
			}
			raw := s.lastToken
			claims := jwt.MapClaims{}
			tok, err := jwt.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) { return []byte(secret), nil },
				jwt.WithValidMethods([]string{"HS512"}), jwt.WithAudience(tc.aud), jwt.WithExpirationRequired(), jwt.WithIssuedAt())
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if tok.Header["alg"] != "HS512" || tok.Header["typ"] != "JWT" || len(tok.Header) != 2 {
				t.Errorf("header = %v", tok.Header)
			}
			want := []string{"aud", "exp", "iat", "jti", "nbf", "role", "sub"}
			if tc.iss != "" {
				want = append(want, "iss")
				slices.Sort(want)
			}
			var got []string
			for k := range claims {
				got = append(got, k)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("claims %v, want %v", got, want)
			}
			if claims["sub"] != tc.auth.Subject || claims["role"] != tc.auth.Role || claims["aud"] != tc.aud {
				t.Errorf("claims = %v", claims)
			}
			if tc.iss != "" && claims["iss"] != tc.iss {
				t.Errorf("iss = %v", claims["iss"])
			}
			iat, nbf, exp := claims["iat"].(float64), claims["nbf"].(float64), claims["exp"].(float64)
			if iat != nbf || time.Duration(exp-iat)*time.Second != tc.life {
				t.Errorf("iat %v nbf %v exp %v", iat, nbf, exp)
			}
			if d := time.Since(time.Unix(int64(iat), 0)); d < 0 || d > time.Minute {
				t.Errorf("iat is %v ago", d)
			}
			if jti, _ := claims["jti"].(string); len(jti) != 32 {
				t.Errorf("jti = %q", jti)
			} else if _, err := hex.DecodeString(jti); err != nil {
				t.Errorf("jti = %q", jti)
			}
		})
	}
}

// The token is cached until 5 minutes before it expires, then minted anew
// (new jti); Invalidate drops it.
func TestSecretAuthCacheWithFakeClock(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	a := &JWTAuth{Secret: "k", Subject: "s", Role: "user", Now: func() time.Time { return now }}
	ctx := context.Background()
	t1, _ := a.Token(ctx, nil, "")
	now = now.Add(50 * time.Minute)
	t2, _ := a.Token(ctx, nil, "")
	if t1 != t2 {
		t.Error("renewed 10 min before expiry")
	}
	now = now.Add(6 * time.Minute)
	t3, _ := a.Token(ctx, nil, "")
	if t3 == t2 {
		t.Error("not renewed 4 min before expiry")
	}
	a.Invalidate("something else")
	if t4, _ := a.Token(ctx, nil, ""); t4 != t3 {
		t.Error("Invalidate of another token dropped the cached one")
	}
	a.Invalidate(t3)
	if t5, _ := a.Token(ctx, nil, ""); t5 == t3 {
		t.Error("Invalidate kept the token")
	}
}

// POST /auth/token gets JSON {"username","password"} and nothing else; the
// token is cached across calls.
func TestPasswordAuthLoginBodyAgainstTestServer(t *testing.T) {
	s := &tokenServer{secret: "k", user: "admin", password: "p w\"x"}
	srv := httptest.NewServer(s.handler(t))
	defer srv.Close()
	c := New(srv.URL+"/", PasswordAuth("admin", "p w\"x"))
	for range 3 {
		if _, err := c.DAG(context.Background(), "d"); err != nil {
			t.Fatal(err)
		}
	}
	if s.logins != 1 || s.apiCalls != 3 {
		t.Errorf("logins %d, api calls %d; want 1, 3", s.logins, s.apiCalls)
	}
	if len(s.loginBody) != 2 || s.loginBody["username"] != "admin" || s.loginBody["password"] != "p w\"x" {
		t.Errorf("login body = %v", s.loginBody)
	}
	if s.loginType != "application/json" {
		t.Errorf("login Content-Type = %q", s.loginType)
	}
}

// A 401 drops the cached token and the call is made once more with a new
// one; a second 401 is the end (no loop), reported as refused.
func TestReauthOnceOn401AgainstTestServer(t *testing.T) {
	cases := []struct {
		name             string
		refuseFirst      int
		wantErr          bool
		logins, apiCalls int
	}{
		{"first token refused", 1, false, 2, 2},
		{"every token refused", 100, true, 2, 2},
		{"none refused", 0, false, 1, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := &tokenServer{secret: "k", user: "u", password: "pass-word-1", refuseFirst: tc.refuseFirst}
			srv := httptest.NewServer(s.handler(t))
			defer srv.Close()
			_, err := New(srv.URL, PasswordAuth("u", "pass-word-1")).DAG(context.Background(), "d")
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err != nil {
				if !errors.Is(err, ErrAuthRefused) || !strings.Contains(err.Error(), "HTTP 401") || !strings.Contains(err.Error(), "Token Expired") {
					t.Errorf("err = %v", err)
				}
				if strings.Contains(err.Error(), "pass-word-1") || strings.Contains(err.Error(), "Bearer") {
					t.Errorf("err carries a secret: %v", err)
				}
			}
			if s.logins != tc.logins || s.apiCalls != tc.apiCalls {
				t.Errorf("logins %d, api calls %d; want %d, %d", s.logins, s.apiCalls, tc.logins, tc.apiCalls)
			}
		})
	}
}
