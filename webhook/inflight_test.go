package webhook

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

// slowSender opens a connection and sends a signed Gitea delivery's headers
// and only the first sent bytes of its body, as a slow (or hostile) sender
// does; the rest is written by finish.
type slowSender struct {
	conn net.Conn
	rest []byte
}

func sendSlowly(t *testing.T, addr, id string, body []byte, sent int) *slowSender {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var b strings.Builder
	fmt.Fprintf(&b, "POST /webhook HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", addr, len(body))
	h := giteaHeaders("push", id, body)
	for k, vs := range h {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(body[:sent]); err != nil {
		t.Fatal(err)
	}
	return &slowSender{conn: conn, rest: body[sent:]}
}

func (s *slowSender) finish(t *testing.T) {
	t.Helper()
	if _, err := s.conn.Write(s.rest); err != nil {
		t.Fatal(err)
	}
}

// response reads the answer on the connection, failing after within.
func (s *slowSender) response(t *testing.T, within time.Duration) *http.Response {
	t.Helper()
	s.conn.SetReadDeadline(time.Now().Add(within))
	resp, err := http.ReadResponse(bufio.NewReader(s.conn), nil)
	if err != nil {
		t.Fatalf("no response within %v: %v", within, err)
	}
	resp.Body.Close()
	return resp
}

func waitInFlight(t *testing.T, h *Handler, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for h.inFlight() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests in flight, want %d", h.inFlight(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestMaxInFlightSlowSenders: senders that trickle their bodies hold the
// handler's capacity before they are authenticated; over MaxInFlight the
// next delivery is refused at once with 503 and Retry-After, without its
// body being read, and capacity comes back when the slow ones finish.
func TestMaxInFlightSlowSenders(t *testing.T) {
	in := &memIntake{}
	h := &Handler{Secrets: map[Forge][]byte{Gitea: secret}, Intake: in, MaxInFlight: 2}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close) // after the slow connections' own cleanups close them
	addr := srv.Listener.Addr().String()
	push := payload(t, "gitea-push.json")

	slow := []*slowSender{sendSlowly(t, addr, "s1", push, 10), sendSlowly(t, addr, "s2", push, 10)}
	waitInFlight(t, h, 2)

	// The third sends its headers and part of its body, and never the
	// rest: the answer must not wait for it.
	start := time.Now()
	third := sendSlowly(t, addr, "s3", push, 10)
	resp := third.response(t, 2*time.Second)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("over the cap: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("the 503 took %v", d)
	}
	// ... and the server lets go of the connection instead of waiting to
	// drain the body that never comes.
	third.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err := third.conn.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("after the 503 the connection is still held: read %d, %v", n, err)
	}
	// A complete delivery from a well-behaved client is refused the same way.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhook", strings.NewReader(string(push)))
	req.Header = giteaHeaders("push", "c1", push)
	r2, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a complete delivery over the cap: %d", r2.StatusCode)
	}

	for _, s := range slow {
		s.finish(t)
		if resp := s.response(t, 5*time.Second); resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
			t.Fatalf("a slow sender that finished: %d", resp.StatusCode)
		}
	}
	waitInFlight(t, h, 0)
	req, _ = http.NewRequest(http.MethodPost, srv.URL+"/webhook", strings.NewReader(string(push)))
	req.Header = giteaHeaders("push", "c2", push)
	r3, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r3.Body.Close()
	if r3.StatusCode != http.StatusOK && r3.StatusCode != http.StatusAccepted {
		t.Fatalf("after the slow senders finished: %d", r3.StatusCode)
	}
}

// blockingIntake holds every Accept until release is closed.
type blockingIntake struct {
	entered chan string
	release chan struct{}
}

func (b *blockingIntake) Accept(ctx context.Context, ev PushEvent) error {
	b.entered <- ev.DeliveryID
	<-b.release
	return nil
}

// TestMaxInFlightCountsOnlyUnverified: a verified delivery waiting for the
// intake no longer holds a slot, and refused deliveries give theirs back.
func TestMaxInFlightCountsOnlyUnverified(t *testing.T) {
	in := &blockingIntake{entered: make(chan string, 4), release: make(chan struct{})}
	h := &Handler{Secrets: map[Forge][]byte{Gitea: secret}, Intake: in, MaxInFlight: 1}
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer close(in.release)
	push := payload(t, "gitea-push.json")

	for i := 0; i < 5; i++ { // bad signatures: each one's slot is released
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhook", strings.NewReader(string(push)))
		req.Header = giteaHeaders("push", "bad", []byte("other"))
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("bad signature: %d", resp.StatusCode)
		}
	}
	for _, id := range []string{"a", "b"} {
		body := strings.Replace(string(push), "ada", "ada-"+id, 1) // distinct deliveries
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhook", strings.NewReader(body))
		req.Header = giteaHeaders("push", id, []byte(body))
		go func() {
			if resp, err := srv.Client().Do(req); err == nil {
				resp.Body.Close()
			}
		}()
		select {
		case got := <-in.entered:
			if got != id {
				t.Fatalf("intake got %q, want %q", got, id)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("delivery %s never reached the intake: a verified delivery still holds the only slot", id)
		}
	}
}

func TestMaxInFlightDefault(t *testing.T) {
	h := &Handler{}
	if h.inFlight() != 0 || cap(h.slots) != DefaultMaxInFlight || DefaultMaxInFlight <= 0 {
		t.Fatalf("default cap %d", cap(h.slots))
	}
}
