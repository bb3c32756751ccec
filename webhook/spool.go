package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Spool is the durable intake: an accepted push is on disk (written, fsynced,
// renamed into place, directory fsynced) before the forge gets its 2xx, so a
// crash after the reply loses nothing. Workers take pending events with
// Pending and retire them with Done. A delivery id seen before, or the same
// push (repository, ref, before, after) in another delivery, is a duplicate
// and is not stored again.
type Spool struct {
	dir string
	mu  sync.Mutex
	now func() time.Time
}

// spooled is the file format: the event and when it was accepted.
type spooled struct {
	Accepted time.Time `json:"accepted"`
	Event    PushEvent `json:"event"`
}

// OpenSpool opens (creating) a spool in dir.
func OpenSpool(dir string) (*Spool, error) {
	for _, sub := range []string{"pending", "done", "tmp", "pushes"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("open spool %s: %w", dir, err)
		}
	}
	return &Spool{dir: dir, now: time.Now}, nil
}

// ErrDuplicate reports a delivery the spool already holds.
var ErrDuplicate = errors.New("duplicate delivery")

// key names a delivery's file; the id is hashed so no header value becomes a
// path.
func key(ev PushEvent) string {
	id := ev.DeliveryID
	if id == "" { // no delivery id: the push itself identifies it
		return pushKey(ev)
	}
	sum := sha256.Sum256([]byte(string(ev.Forge) + "\x00" + id))
	return string(ev.Forge) + "-" + hex.EncodeToString(sum[:16])
}

// pushKey identifies the push itself, whatever delivery carried it: the same
// repository, ref, before and after. (A force push back to an old commit has
// another before, so it is a new push.)
func pushKey(ev PushEvent) string {
	sum := sha256.Sum256([]byte(string(ev.Forge) + "\x00" + ev.Repo + "\x00" + ev.Ref + "\x00" + ev.Before + "\x00" + ev.After))
	return "push-" + hex.EncodeToString(sum[:16])
}

// Accept stores the event durably. It returns ErrDuplicate for a delivery
// already accepted.
func (s *Spool) Accept(ctx context.Context, ev PushEvent) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := key(ev) + ".json"
	for _, sub := range []string{"pending", "done"} {
		if _, err := os.Stat(filepath.Join(s.dir, sub, k)); err == nil {
			return ErrDuplicate
		}
	}
	// The same push in another delivery (a manual redelivery, a second
	// webhook) is a duplicate too.
	marker := filepath.Join(s.dir, "pushes", pushKey(ev))
	if _, err := os.Stat(marker); err == nil {
		return ErrDuplicate
	}
	data, err := json.Marshal(spooled{Accepted: s.now().UTC(), Event: ev})
	if err != nil {
		return err
	}
	tmp := filepath.Join(s.dir, "tmp", k)
	if err := writeSync(tmp, data); err != nil {
		return fmt.Errorf("spool %s: %w", ev.DeliveryID, err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, "pending", k)); err != nil {
		return fmt.Errorf("spool %s: %w", ev.DeliveryID, err)
	}
	if err := syncDir(filepath.Join(s.dir, "pending")); err != nil {
		return err
	}
	// The push marker comes after the event is durable: a crash between the
	// two can only make a later redelivery run again (which publishes
	// nothing new), never make an unprocessed push look done.
	if err := writeSync(marker, nil); err != nil {
		return fmt.Errorf("spool %s: %w", ev.DeliveryID, err)
	}
	return syncDir(filepath.Join(s.dir, "pushes"))
}

// Pending returns the events not yet done, oldest first.
func (s *Spool) Pending() ([]PushEvent, error) {
	dir := filepath.Join(s.dir, "pending")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var items []spooled
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		var it spooled
		if err := json.Unmarshal(data, &it); err != nil {
			return nil, fmt.Errorf("spool file %s: %w", e.Name(), err)
		}
		items = append(items, it)
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].Accepted.Before(items[j].Accepted) })
	out := make([]PushEvent, len(items))
	for i, it := range items {
		out[i] = it.Event
	}
	return out, nil
}

// Done retires a processed event; its id stays known, so a redelivery is a
// duplicate.
func (s *Spool) Done(ev PushEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := key(ev) + ".json"
	if err := os.Rename(filepath.Join(s.dir, "pending", k), filepath.Join(s.dir, "done", k)); err != nil {
		return fmt.Errorf("spool done %s: %w", ev.DeliveryID, err)
	}
	return syncDir(filepath.Join(s.dir, "done"))
}

func writeSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
