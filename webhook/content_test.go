package webhook

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// formBody is a form-encoded delivery as GitHub and Gitea send it when the
// hook's content type is "form": payload=<urlencoded JSON>.
func formBody(payload []byte) []byte {
	return []byte(url.Values{"payload": {string(payload)}}.Encode())
}

// githubForm signs the form body as sent: GitHub's HMAC covers the raw
// request body whatever its content type.
func githubForm(event, id string, payload []byte) (http.Header, []byte) {
	body := formBody(payload)
	h := githubHeaders(event, id, body)
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	return h, body
}

// giteaForm signs the JSON inside the form: Gitea computes its signatures
// over the payload content for both content types (services/webhook/
// deliver.go: the form carries t.PayloadContent, the HMAC is taken over
// t.PayloadContent).
func giteaForm(event, id string, payload []byte) (http.Header, []byte) {
	h := giteaHeaders(event, id, payload)
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	return h, formBody(payload)
}

func TestFormEncodedDeliveries(t *testing.T) {
	secrets := map[Forge][]byte{GitHub: secret, Gitea: secret}
	ghPush := payload(t, "github-push.json")
	gtPush := payload(t, "gitea-push.json")
	ping := payload(t, "github-ping.json")

	// The same push, JSON and form-encoded, is the same event.
	for _, tc := range []struct {
		name      string
		jsonHdr   http.Header
		jsonBody  []byte
		formHdr   http.Header
		formBody  []byte
		wantForge Forge
	}{
		{"github", githubHeaders("push", "j", ghPush), ghPush, nil, nil, GitHub},
		{"gitea", giteaHeaders("push", "j", gtPush), gtPush, nil, nil, Gitea},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.wantForge == GitHub {
				tc.formHdr, tc.formBody = githubForm("push", "j", ghPush)
			} else {
				tc.formHdr, tc.formBody = giteaForm("push", "j", gtPush)
			}
			var got []PushEvent
			for _, d := range []struct {
				h    http.Header
				body []byte
			}{{tc.jsonHdr, tc.jsonBody}, {tc.formHdr, tc.formBody}} {
				in := &memIntake{}
				rec, rep := post(t, &Handler{Secrets: secrets, Intake: in}, d.h, d.body)
				if rec.Code != http.StatusAccepted || rep.Status != "accepted" || len(in.events) != 1 {
					t.Fatalf("%s: got %d %+v", d.h.Get("Content-Type"), rec.Code, rep)
				}
				got = append(got, in.events[0])
			}
			if got[0] != got[1] || got[0].Forge != tc.wantForge {
				t.Fatalf("JSON and form deliveries differ:\n%+v\n%+v", got[0], got[1])
			}
		})
	}

	form := func(h http.Header, body []byte) func() (http.Header, []byte) {
		return func() (http.Header, []byte) { return h, body }
	}
	tests := []struct {
		name     string
		handler  *Handler
		delivery func() (http.Header, []byte)
		code     int
		status   string
		reason   string
	}{
		{"github form ping", &Handler{Secrets: secrets}, form(githubForm("ping", "p", ping)), 200, "pong", ""},
		{"github form signed over the JSON instead of the body", &Handler{Secrets: secrets}, func() (http.Header, []byte) {
			h, body := githubForm("push", "s", ghPush)
			h.Set("X-Hub-Signature-256", "sha256="+sign256(ghPush, secret))
			return h, body
		}, 401, "error", "signature"},
		{"gitea form signed over the form body", &Handler{Secrets: secrets}, func() (http.Header, []byte) {
			h, body := giteaForm("push", "s", gtPush)
			h.Set("X-Gitea-Signature", sign256(body, secret))
			return h, body
		}, 401, "error", "signature"},
		{"gitea form with a tampered payload", &Handler{Secrets: secrets}, func() (http.Header, []byte) {
			h, _ := giteaForm("push", "s", gtPush)
			return h, formBody([]byte(strings.Replace(string(gtPush), "acme/notebooks", "acme/other", 1)))
		}, 401, "error", "signature"},
		{"github form without a payload field", &Handler{Secrets: secrets}, func() (http.Header, []byte) {
			body := []byte("other=" + url.QueryEscape(string(ghPush)))
			h := githubHeaders("push", "n", body)
			h.Set("Content-Type", "application/x-www-form-urlencoded")
			return h, body
		}, 400, "error", "payload"},
		{"gitea form with two payload fields", &Handler{Secrets: secrets}, func() (http.Header, []byte) {
			h, body := giteaForm("push", "n", gtPush)
			return h, append(body, []byte("&payload=%7B%7D")...)
		}, 400, "error", "payload"},
		{"gitea form without a payload field", &Handler{Secrets: secrets}, func() (http.Header, []byte) {
			h := giteaHeaders("push", "n", nil)
			h.Set("Content-Type", "application/x-www-form-urlencoded")
			return h, []byte("a=b")
		}, 400, "error", "payload"},
		{"form with the insecure flag", &Handler{Insecure: true}, form(githubForm("push", "i", ghPush)), 202, "accepted", ""},
		{"JSON with a charset parameter", &Handler{Secrets: secrets}, func() (http.Header, []byte) {
			h := githubHeaders("push", "c", ghPush)
			h.Set("Content-Type", "application/json; charset=utf-8")
			return h, ghPush
		}, 202, "accepted", ""},
		{"plain text refused", &Handler{Secrets: secrets}, func() (http.Header, []byte) {
			h := githubHeaders("push", "t", ghPush)
			h.Set("Content-Type", "text/plain")
			return h, ghPush
		}, 415, "error", "text/plain"},
		{"multipart refused", &Handler{Secrets: secrets}, func() (http.Header, []byte) {
			h := giteaHeaders("push", "t", gtPush)
			h.Set("Content-Type", "multipart/form-data; boundary=x")
			return h, gtPush
		}, 415, "error", "multipart/form-data"},
		// Both forges always send one; a hand-made delivery without it has
		// always been read as JSON, and still is.
		{"no content type is JSON", &Handler{Secrets: secrets}, func() (http.Header, []byte) {
			h := githubHeaders("push", "t", ghPush)
			h.Del("Content-Type")
			return h, ghPush
		}, 202, "accepted", ""},
		{"unreadable content type refused", &Handler{Secrets: secrets}, func() (http.Header, []byte) {
			h := githubHeaders("push", "t", ghPush)
			h.Set("Content-Type", "application/json; =")
			return h, ghPush
		}, 415, "error", "Content-Type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := &memIntake{}
			tc.handler.Intake = in
			h, body := tc.delivery()
			rec, rep := post(t, tc.handler, h, body)
			if rec.Code != tc.code || rep.Status != tc.status || !strings.Contains(rep.Reason, tc.reason) {
				t.Fatalf("got %d %+v, want %d %s with a reason about %q", rec.Code, rep, tc.code, tc.status, tc.reason)
			}
			if want := tc.status == "accepted"; (len(in.events) == 1) != want {
				t.Fatalf("intake got %d events", len(in.events))
			}
		})
	}
}

// TestGitHubSignatureIsSHA256Only: X-Hub-Signature-256 carrying a SHA-1
// HMAC is refused too, not only the legacy X-Hub-Signature header.
func TestGitHubSignatureIsSHA256Only(t *testing.T) {
	body := payload(t, "github-push.json")
	h := githubHeaders("push", "g", body)
	h.Set("X-Hub-Signature-256", "sha1="+sign1(body, secret))
	if err := verify(GitHub, h, body, secret); err == nil {
		t.Fatal("a SHA-1 signature in X-Hub-Signature-256 was accepted")
	}
}
