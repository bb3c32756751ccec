package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nbpipe/nbpipe/internal/durable"
)

// Spool is the durable intake: an accepted push is on disk (written, fsynced,
// renamed into place, directory fsynced) before the forge gets its 2xx, so a
// crash after the reply loses nothing. Workers list pending entries with
// Entries, and move each one on with Done (processed), Retry (try again
// later) or Bury (dead letter, for an operator to list, retry or drop).
//
// A duplicate is the same delivery of the same push, or the same push
// (repository, ref, before, after) in another delivery. A delivery id alone
// is not trusted: a different push that reuses a known id is a new push.
type Spool struct {
	dir string
	mu  sync.Mutex
	now func() time.Time
}

// Entry is one spooled push and its processing state.
type Entry struct {
	Key      string    `json:"-"`
	Accepted time.Time `json:"accepted"`
	Event    PushEvent `json:"event"`
	// NotBefore delays processing: a retry's backoff, or a push deferred
	// by the rate limit.
	NotBefore time.Time `json:"not_before,omitzero"`
	Attempts  int       `json:"attempts,omitempty"`
	LastError string    `json:"last_error,omitempty"`
}

// The spool's directories.
const (
	dirPending = "pending"
	dirDone    = "done"
	dirDead    = "dead"
	dirTmp     = "tmp"
	dirPushes  = "pushes"
	dirCursors = "published"
)

// OpenSpool opens (creating) a spool in dir.
func OpenSpool(dir string) (*Spool, error) {
	for _, sub := range []string{dirPending, dirDone, dirDead, dirTmp, dirPushes, dirCursors} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("open spool %s: %w", dir, err)
		}
	}
	return &Spool{dir: dir, now: time.Now}, nil
}

// ErrDuplicate reports a delivery the spool already holds.
var ErrDuplicate = errors.New("duplicate delivery")

// ErrNotFound reports a key the spool does not hold where it was looked for.
var ErrNotFound = errors.New("not in the spool")

// Key names a delivery's file: a hash of the delivery id and the push
// identity, so no header value becomes a path and a reused id cannot shadow
// another push.
func Key(ev PushEvent) string {
	sum := sha256.Sum256([]byte(string(ev.Forge) + "\x00" + ev.DeliveryID + "\x00" + pushIdentity(ev)))
	return string(ev.Forge) + "-" + hex.EncodeToString(sum[:16])
}

func pushIdentity(ev PushEvent) string {
	return ev.Repo + "\x00" + ev.Ref + "\x00" + ev.Before + "\x00" + ev.After
}

// pushKey identifies the push itself, whatever delivery carried it. (A force
// push back to an old commit has another before, so it is a new push.)
func pushKey(ev PushEvent) string {
	sum := sha256.Sum256([]byte(string(ev.Forge) + "\x00" + pushIdentity(ev)))
	return "push-" + hex.EncodeToString(sum[:16])
}

// Lane names the stream a push belongs to: one source repository's branch.
// Order (and coalescing) matters only within a lane.
func Lane(ev PushEvent) string {
	return string(ev.Forge) + "/" + ev.Repo + "@" + ev.Ref
}

// Accept stores the event durably. It returns ErrDuplicate for a delivery
// already accepted.
func (s *Spool) Accept(ctx context.Context, ev PushEvent) error {
	return s.AcceptAt(ctx, ev, time.Time{})
}

// AcceptAt stores the event durably, to be processed no earlier than
// notBefore.
func (s *Spool) AcceptAt(ctx context.Context, ev PushEvent, notBefore time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := Key(ev)
	for _, sub := range []string{dirPending, dirDone, dirDead} {
		if _, err := os.Stat(s.path(sub, k)); err == nil {
			return ErrDuplicate
		}
	}
	// The same push in another delivery (a manual redelivery, a second
	// webhook) is a duplicate too.
	marker := filepath.Join(s.dir, dirPushes, pushKey(ev))
	if _, err := os.Stat(marker); err == nil {
		return ErrDuplicate
	}
	e := Entry{Key: k, Accepted: s.now().UTC(), Event: ev, NotBefore: notBefore.UTC()}
	if err := s.write(dirPending, e); err != nil {
		return fmt.Errorf("spool %s: %w", ev.DeliveryID, err)
	}
	// The push marker comes after the event is durable: a crash between the
	// two can only make a later redelivery run again (which publishes
	// nothing new), never make an unprocessed push look done.
	if err := durable.SyncFile(marker, nil); err != nil {
		return fmt.Errorf("spool %s: %w", ev.DeliveryID, err)
	}
	return durable.SyncDir(filepath.Join(s.dir, dirPushes))
}

func (s *Spool) path(sub, key string) string { return filepath.Join(s.dir, sub, key+".json") }

// write stores an entry in sub atomically (temp file, fsync, rename, fsync).
func (s *Spool) write(sub string, e Entry) error {
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return durable.WriteFile(s.path(sub, e.Key), filepath.Join(s.dir, dirTmp, e.Key+".json"), data)
}

// Entries returns the pending entries, oldest first.
func (s *Spool) Entries() ([]Entry, error) { return s.list(dirPending) }

// DeadEntries returns the dead letters, oldest first.
func (s *Spool) DeadEntries() ([]Entry, error) { return s.list(dirDead) }

func (s *Spool) list(sub string) ([]Entry, error) {
	dir := filepath.Join(s.dir, sub)
	names, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var items []Entry
	for _, n := range names {
		k, ok := strings.CutSuffix(n.Name(), ".json")
		if !ok {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, n.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue // moved on meanwhile
		}
		if err != nil {
			return nil, err
		}
		var it Entry
		if err := json.Unmarshal(data, &it); err != nil {
			return nil, fmt.Errorf("spool file %s: %w", n.Name(), err)
		}
		it.Key = k
		items = append(items, it)
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].Accepted.Before(items[j].Accepted) })
	return items, nil
}

// Pending returns the events not yet done, oldest first.
func (s *Spool) Pending() ([]PushEvent, error) {
	items, err := s.Entries()
	out := make([]PushEvent, len(items))
	for i, it := range items {
		out[i] = it.Event
	}
	return out, err
}

// Done retires a processed event; its id stays known, so a redelivery is a
// duplicate.
func (s *Spool) Done(ev PushEvent) error { return s.Finish(Entry{Event: ev}) }

// Finish retires a processed entry. An entry listed by Entries keeps the
// file name it was found under (spools written by older versions too).
func (s *Spool) Finish(e Entry) error { return s.move(entryKey(e), dirPending, dirDone) }

func entryKey(e Entry) string {
	if e.Key != "" {
		return e.Key
	}
	return Key(e.Event)
}

// Retry records a failed attempt and when to try again.
func (s *Spool) Retry(e Entry, cause error, notBefore time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.Key = entryKey(e)
	if _, err := os.Stat(s.path(dirPending, e.Key)); err != nil {
		return fmt.Errorf("spool retry %s: %w", e.Event.DeliveryID, err)
	}
	e.Attempts++
	e.LastError = cause.Error()
	e.NotBefore = notBefore.UTC()
	if err := s.write(dirPending, e); err != nil {
		return fmt.Errorf("spool retry %s: %w", e.Event.DeliveryID, err)
	}
	return nil
}

// Bury moves an entry to the dead letters with the reason it failed.
func (s *Spool) Bury(e Entry, cause error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.Key = entryKey(e)
	e.Attempts++
	e.LastError = cause.Error()
	if err := s.write(dirDead, e); err != nil {
		return fmt.Errorf("spool bury %s: %w", e.Event.DeliveryID, err)
	}
	if err := os.Remove(s.path(dirPending, e.Key)); err != nil {
		return fmt.Errorf("spool bury %s: %w", e.Event.DeliveryID, err)
	}
	return durable.SyncDir(filepath.Join(s.dir, dirPending))
}

// Revive puts a dead letter back in the queue with a fresh retry budget.
func (s *Spool) Revive(key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	data, err := os.ReadFile(s.path(dirDead, key))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("dead letter %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return err
	}
	var e Entry
	if err := json.Unmarshal(data, &e); err != nil {
		return fmt.Errorf("dead letter %s: %w", key, err)
	}
	e.Key, e.Attempts, e.NotBefore = key, 0, time.Time{}
	if err := s.write(dirPending, e); err != nil {
		return err
	}
	if err := os.Remove(s.path(dirDead, key)); err != nil {
		return err
	}
	return durable.SyncDir(filepath.Join(s.dir, dirDead))
}

// Drop retires a dead letter for good (it stays known as a duplicate).
func (s *Spool) Drop(key string) error {
	if _, err := os.Stat(s.path(dirDead, key)); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("dead letter %s: %w", key, ErrNotFound)
	}
	return s.move(key, dirDead, dirDone)
}

func (s *Spool) move(key, from, to string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.Rename(s.path(from, key), s.path(to, key)); err != nil {
		return fmt.Errorf("spool %s: %w", to, err)
	}
	return durable.SyncDir(filepath.Join(s.dir, to))
}

// Cursor is what was last published for a lane: the source commit whose
// outputs the target holds, and the target commit that holds them.
type Cursor struct {
	Source string    `json:"source"`
	Target string    `json:"target,omitempty"`
	Time   time.Time `json:"time"`
}

func (s *Spool) cursorPath(lane string) string {
	sum := sha256.Sum256([]byte(lane))
	return filepath.Join(s.dir, dirCursors, hex.EncodeToString(sum[:16]))
}

// Cursor returns the lane's last published state; ok is false when none is
// recorded.
func (s *Spool) Cursor(lane string) (c Cursor, ok bool, err error) {
	data, err := os.ReadFile(s.cursorPath(lane))
	if errors.Is(err, fs.ErrNotExist) {
		return c, false, nil
	}
	if err != nil {
		return c, false, err
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return c, false, fmt.Errorf("cursor of %s: %w", lane, err)
	}
	return c, true, nil
}

// SetCursor durably records what a lane has published.
func (s *Spool) SetCursor(lane string, c Cursor) error {
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	p := s.cursorPath(lane)
	if err := durable.WriteFile(p, filepath.Join(s.dir, dirTmp, filepath.Base(p)+".cursor"), data); err != nil {
		return fmt.Errorf("record published %s: %w", lane, err)
	}
	return nil
}
