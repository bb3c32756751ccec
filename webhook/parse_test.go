package webhook

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// notObjects are valid JSON that is not a push: an event file or delivery
// holding any of them must be refused with a reason, never panic.
var notObjects = []string{"null", " null\n", "{}", "[]", "[{}]", `"push"`, "0", "true", ""}

func TestParsePushNotAnObject(t *testing.T) {
	for _, body := range notObjects {
		for _, forge := range []Forge{GitHub, Gitea} {
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Errorf("ParsePush(%s, %q) panicked: %v", forge, body, r)
					}
				}()
				_, err := ParsePush(forge, "d", []byte(body))
				if err == nil {
					t.Errorf("ParsePush(%s, %q) accepted it", forge, body)
					return
				}
				if !strings.Contains(err.Error(), string(forge)+" push payload") {
					t.Errorf("ParsePush(%s, %q): the error does not say what was refused: %v", forge, body, err)
				}
			}()
		}
	}
	_, err := ParsePush(GitHub, "d", []byte("null"))
	if err == nil || !strings.Contains(err.Error(), "not a JSON object") {
		t.Errorf("null: want a reason naming the problem, got %v", err)
	}
}

func TestHandlerNotAnObject(t *testing.T) {
	secrets := map[Forge][]byte{GitHub: secret, Gitea: secret}
	for _, body := range notObjects {
		for _, forge := range []Forge{GitHub, Gitea} {
			h := githubHeaders("push", "n", []byte(body))
			if forge == Gitea {
				h = giteaHeaders("push", "n", []byte(body))
			}
			in := &memIntake{}
			rec, rep := post(t, &Handler{Secrets: secrets, Intake: in}, h, []byte(body))
			if rec.Code != http.StatusBadRequest || rep.Status != "error" || rep.Reason == "" || len(in.events) != 0 {
				t.Errorf("%s push %q: got %d %+v, want 400 with a reason", forge, body, rec.Code, rep)
			}
		}
	}
}

// FuzzParsePush feeds both parsers arbitrary bytes, seeded with the
// testdata payloads: no input may panic, and every event accepted must be
// one the rest of nbpipe can rely on.
func FuzzParsePush(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed payloads in testdata: %v", err)
	}
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(false, data)
		f.Add(true, data)
	}
	for _, s := range notObjects {
		f.Add(false, []byte(s))
		f.Add(true, []byte(s))
	}
	f.Fuzz(func(t *testing.T, gitea bool, body []byte) {
		forge := GitHub
		if gitea {
			forge = Gitea
		}
		ev, err := ParsePush(forge, "fuzz", body)
		if err != nil {
			return
		}
		if verr := ev.Validate(); verr != nil {
			t.Fatalf("accepted an event that does not validate (%v): %+v", verr, ev)
		}
		if ev.Forge != forge || ev.DeliveryID != "fuzz" {
			t.Fatalf("accepted event lost its delivery: %+v", ev)
		}
	})
}
