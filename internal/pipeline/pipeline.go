// Package pipeline is the one orchestration step both front doors (the
// webhook server and the Actions entrypoint) share: a push in, notebooks
// diffed, converted and published as one commit, a report out.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nbpipe/nbpipe/convert"
	"github.com/nbpipe/nbpipe/publish"
	"github.com/nbpipe/nbpipe/webhook"
)

// Source is an allow-listed source repository and what the server grants it.
type Source struct {
	CloneURL string // where nbpipe fetches it; "" trusts the signed payload's URL
	Token    string
	// TargetDir is the directory of the target repository its outputs go
	// under; nothing in the repository can redirect them elsewhere.
	TargetDir string
}

// Config is what the processor needs from the server's configuration.
type Config struct {
	// Lookup returns the source settings of an allow-listed repository.
	Lookup       func(repo string) (Source, bool)
	TargetURL    string
	TargetToken  string
	TargetBranch string
	CacheDir     string
	Author       publish.Author
	// Layers are the server's conversion settings, under each repository's
	// .nbpipe.yaml; Locked keys only the server may set.
	Layers []convert.Layer
	Locked []string
	Log    *slog.Logger
}

// NotebookReport is the outcome for one changed notebook.
type NotebookReport struct {
	Path     string             `json:"path"`
	Change   publish.ChangeKind `json:"change"`
	DagID    string             `json:"dag_id,omitempty"`
	Files    []string           `json:"files,omitempty"`
	Removed  []string           `json:"removed,omitempty"`
	Error    string             `json:"error,omitempty"`
	Findings []convert.Finding  `json:"findings,omitempty"`
}

// Report is the outcome of one push.
type Report struct {
	Repo         string           `json:"repo"`
	Ref          string           `json:"ref"`
	SourceCommit string           `json:"source_commit"`
	TargetCommit string           `json:"target_commit,omitempty"`
	Notebooks    []NotebookReport `json:"notebooks"`
	Refused      []string         `json:"refused,omitempty"`
	Tries        int              `json:"tries,omitempty"`
	// Durations of the two halves, for metrics.
	ConvertSeconds float64 `json:"convert_seconds"`
	PublishSeconds float64 `json:"publish_seconds"`
}

// Failed counts notebooks that did not convert.
func (r *Report) Failed() int {
	n := 0
	for _, nb := range r.Notebooks {
		if nb.Error != "" {
			n++
		}
	}
	return n
}

// Summary is the one line a commit status carries.
func (r *Report) Summary() string {
	s := fmt.Sprintf("%d notebook(s) converted, %d failed", len(r.Notebooks)-r.Failed(), r.Failed())
	if len(r.Refused) > 0 {
		s += fmt.Sprintf(", %d file(s) not owned by nbpipe left alone", len(r.Refused))
	}
	if r.TargetCommit != "" {
		s += "; published " + short(r.TargetCommit)
	} else {
		s += "; nothing to publish"
	}
	return s
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// Processor runs pushes. It keeps one cached clone per repository.
type Processor struct {
	cfg   Config
	mu    sync.Mutex
	repos map[string]*publish.Repo
}

// New returns a processor.
func New(cfg Config) *Processor {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Processor{cfg: cfg, repos: map[string]*publish.Repo{}}
}

// ErrNotAllowed reports a push from a repository that is not allow-listed.
var ErrNotAllowed = errors.New("repository not allow-listed")

// Permanent reports errors that retrying cannot fix: the push is reported
// and retired instead of blocking the queue.
func Permanent(err error) bool {
	return errors.Is(err, ErrNotAllowed) || errors.Is(err, publish.ErrNoCommit)
}

func (p *Processor) repo(ctx context.Context, url, token, name string) (*publish.Repo, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r, ok := p.repos[url]; ok {
		return r, nil
	}
	dir := path.Join(p.cfg.CacheDir, name)
	r, err := publish.Open(ctx, url, publish.TokenAuth("", token), dir)
	if err != nil && ctx.Err() == nil {
		// An unreadable cache (a crash mid-write) is cloned again.
		_ = os.RemoveAll(dir)
		r, err = publish.Open(ctx, url, publish.TokenAuth("", token), dir)
	}
	if err != nil {
		return nil, err
	}
	p.repos[url] = r
	return r, nil
}

// Process converts the notebooks a push changed and publishes them as one
// commit. One bad notebook never blocks the others: its error is in the
// report and its previous outputs stay as they were.
func (p *Processor) Process(ctx context.Context, ev webhook.PushEvent) (*Report, error) {
	rep, err := p.process(ctx, ev)
	if err != nil && ctx.Err() == nil && !Permanent(err) {
		// The clones are only caches: a process killed mid-fetch can leave
		// one unreadable, so the next try starts from fresh clones.
		p.dropCaches()
	}
	return rep, err
}

func (p *Processor) dropCaches() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.repos = map[string]*publish.Repo{}
	_ = os.RemoveAll(p.cfg.CacheDir)
}

func (p *Processor) process(ctx context.Context, ev webhook.PushEvent) (*Report, error) {
	src, ok := p.cfg.Lookup(ev.Repo)
	if !ok {
		return nil, fmt.Errorf("%s: %w", ev.Repo, ErrNotAllowed)
	}
	log := p.cfg.Log.With("delivery", ev.DeliveryID, "repo", ev.Repo, "after", ev.After)
	if src.CloneURL == "" { // the embedded default trusts the signed payload's URL
		src.CloneURL = ev.CloneURL
	}
	source, err := p.repo(ctx, src.CloneURL, src.Token, "source/"+cacheName(ev.Repo))
	if err != nil {
		return nil, err
	}
	if err := source.Fetch(ctx); err != nil {
		return nil, err
	}
	changes, err := source.Changes(ctx, ev.Before, ev.After, isNotebook)
	if err != nil {
		return nil, err
	}
	if !ev.Created() {
		if changes, err = p.withConfigChange(ctx, source, ev, changes); err != nil {
			return nil, err
		}
	}
	rep := &Report{Repo: ev.Repo, Ref: ev.Ref, SourceCommit: ev.After}
	convertStart := time.Now()
	repoCfg, err := p.repoConfig(source, ev.After)
	if err != nil {
		// A broken .nbpipe.yaml fails every notebook, with its error.
		for _, c := range changes {
			rep.Notebooks = append(rep.Notebooks, NotebookReport{Path: c.Path, Change: c.Kind, Error: err.Error()})
		}
		return rep, nil
	}
	var writes []publish.FileChange
	deletes := map[string]bool{}
	owner := map[string]int{} // target path -> index of the notebook writing it
	for _, c := range changes {
		nr := NotebookReport{Path: c.Path, Change: c.Kind}
		var old []string
		if c.Kind != publish.Added && !ev.Created() {
			old, err = p.outputs(ctx, source, ev.Before, c.Path, ev.Repo, src.TargetDir)
			if err != nil {
				return nil, err
			}
		}
		produced := map[string]bool{}
		if c.Kind != publish.Removed && repoCfg.Selected(c.Path) {
			data, _, err := source.ReadFile(ev.After, c.Path)
			if err != nil {
				return nil, err
			}
			res := convert.Convert(c.Path, data, convert.Options{
				Source: convert.Source{Repo: ev.Repo, Commit: ev.After},
				Layers: append(append([]convert.Layer{}, p.cfg.Layers...), repoCfg.Layers(c.Path)...),
				Locked: p.cfg.Locked,
			})
			nr.DagID, nr.Findings = res.DagID, res.Findings
			if err := res.Err(); err != nil {
				// Keep what was there: a broken push must not take a
				// working DAG away.
				nr.Error = err.Error()
				rep.Notebooks = append(rep.Notebooks, nr)
				continue
			}
			for _, f := range res.Files {
				target := path.Join(targetDir(src.TargetDir), f.Path)
				if prev, dup := owner[target]; dup {
					nr.Error = fmt.Sprintf("%s is also produced by %s (dag_id %q is taken)", target, rep.Notebooks[prev].Path, res.DagID)
					break
				}
				produced[target] = true
				nr.Files = append(nr.Files, target)
				writes = append(writes, publish.FileChange{Path: target, Content: f.Content})
			}
			if nr.Error != "" {
				writes = writes[:len(writes)-len(nr.Files)]
				nr.Files = nil
				rep.Notebooks = append(rep.Notebooks, nr)
				continue
			}
			for f := range produced {
				owner[f] = len(rep.Notebooks)
			}
		}
		for _, f := range old {
			if !produced[f] {
				nr.Removed = append(nr.Removed, f)
				deletes[f] = true
			}
		}
		rep.Notebooks = append(rep.Notebooks, nr)
	}
	for f := range deletes {
		if _, written := owner[f]; !written {
			writes = append(writes, publish.FileChange{Path: f})
		}
	}
	sort.Slice(writes, func(i, j int) bool { return writes[i].Path < writes[j].Path })
	// The plan runs against the target branch as it is at each try: a file
	// another notebook generated is that notebook's, never overwritten.
	plan := func(read func(string) ([]byte, bool, error)) ([]publish.FileChange, error) {
		failed := map[string]bool{}
		for _, w := range writes {
			if w.Content == nil {
				continue
			}
			old, ok, err := read(w.Path)
			if err != nil {
				return nil, err
			}
			if !ok || !convert.IsOwned(old) {
				continue // new, or refused by Publish as not ours
			}
			mine := notebookOf(rep, w.Path)
			if r, nb := convert.Owner(old); nb != convert.HeaderValue(mine) && !(r == convert.HeaderValue(ev.Repo) && leftInPush(rep, nb)) {
				markCollision(rep, w.Path, r, nb)
				failed[mine] = true
			}
		}
		var out []publish.FileChange
		for _, w := range writes {
			if w.Content == nil || !failed[notebookOf(rep, w.Path)] {
				out = append(out, w)
			}
		}
		return out, nil
	}
	rep.ConvertSeconds = time.Since(convertStart).Seconds()
	publishStart := time.Now()
	target, err := p.repo(ctx, p.cfg.TargetURL, p.cfg.TargetToken, "target")
	if err != nil {
		return nil, err
	}
	msg := publish.CommitMessage(
		fmt.Sprintf("nbpipe: %s@%s", ev.Repo, short(ev.After)),
		p.messageBody(rep), ev.Repo, ev.After)
	res, err := target.Publish(ctx, p.cfg.TargetBranch, plan, msg, p.cfg.Author)
	if err != nil {
		return nil, err
	}
	rep.TargetCommit, rep.Refused, rep.Tries = res.Commit, res.Refused, res.Tries
	rep.PublishSeconds = time.Since(publishStart).Seconds()
	log.Info("push processed", "summary", rep.Summary())
	return rep, nil
}

// withConfigChange adds every notebook as modified when .nbpipe.yaml changed:
// its settings may change every DAG.
func (p *Processor) withConfigChange(ctx context.Context, source *publish.Repo, ev webhook.PushEvent, changes []publish.Change) ([]publish.Change, error) {
	cfgChanged, err := source.Changes(ctx, ev.Before, ev.After, func(p string) bool { return p == ".nbpipe.yaml" })
	if err != nil || len(cfgChanged) == 0 {
		return changes, err
	}
	all, err := source.Changes(ctx, webhook.ZeroSHA, ev.After, isNotebook)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, c := range changes {
		seen[c.Path] = true
	}
	for _, c := range all {
		if !seen[c.Path] {
			changes = append(changes, publish.Change{Kind: publish.Modified, Path: c.Path})
		}
	}
	sort.Slice(changes, func(i, j int) bool { return changes[i].Path < changes[j].Path })
	return changes, nil
}

// notebookOf names the notebook whose outputs include target.
func notebookOf(rep *Report, target string) string {
	for _, nb := range rep.Notebooks {
		for _, f := range nb.Files {
			if f == target {
				return nb.Path
			}
		}
	}
	return ""
}

// leftInPush reports whether the notebook (as written in a header) was
// removed or renamed away by this push, so its outputs may be taken over.
func leftInPush(rep *Report, headerNotebook string) bool {
	for _, nb := range rep.Notebooks {
		if nb.Change == publish.Removed && convert.HeaderValue(nb.Path) == headerNotebook {
			return true
		}
	}
	return false
}

// markCollision fails the notebook whose output belongs to another notebook.
func markCollision(rep *Report, target, repo, notebook string) {
	for i := range rep.Notebooks {
		nb := &rep.Notebooks[i]
		for _, f := range nb.Files {
			if f == target && nb.Error == "" {
				nb.Error = fmt.Sprintf("%s already belongs to notebook %s of %s; dag_id %q is taken", target, notebook, repo, nb.DagID)
			}
		}
	}
}

func targetDir(dir string) string { return strings.Trim(path.Clean("/"+dir), "/") }

func (p *Processor) messageBody(rep *Report) string {
	var b strings.Builder
	for _, nb := range rep.Notebooks {
		status := "converted"
		if nb.Error != "" {
			status = "FAILED"
		}
		fmt.Fprintf(&b, "- %s (%s): %s\n", nb.Path, nb.Change, status)
	}
	return b.String()
}

// outputs lists the target paths a notebook produced at a commit. It
// converts that version again; when that version did not convert (so its
// outputs came from an older one), it looks for files whose header names the
// notebook.
func (p *Processor) outputs(ctx context.Context, source *publish.Repo, rev, nbPath, repo, dir string) ([]string, error) {
	data, ok, err := source.ReadFile(rev, nbPath)
	if err != nil || !ok {
		return nil, err
	}
	if rc, err := p.repoConfig(source, rev); err == nil {
		res := convert.Convert(nbPath, data, convert.Options{Layers: append(append([]convert.Layer{}, p.cfg.Layers...), rc.Layers(nbPath)...), Locked: p.cfg.Locked})
		if res.Err() == nil {
			var out []string
			for _, f := range res.Files {
				out = append(out, path.Join(targetDir(dir), f.Path))
			}
			return out, nil
		}
	}
	target, err := p.repo(ctx, p.cfg.TargetURL, p.cfg.TargetToken, "target")
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, d := range convert.OutputDirs {
		dirs = append(dirs, path.Join(targetDir(dir), d))
	}
	return target.Find(p.cfg.TargetBranch, dirs, func(content []byte) bool {
		r, nb := convert.Owner(content)
		return convert.IsOwned(content) && r == convert.HeaderValue(repo) && nb == convert.HeaderValue(nbPath)
	})
}

// repoConfig reads .nbpipe.yaml at a commit (none is fine).
func (p *Processor) repoConfig(source *publish.Repo, rev string) (*convert.RepoConfig, error) {
	data, ok, err := source.ReadFile(rev, ".nbpipe.yaml")
	if err != nil {
		return nil, err
	}
	if !ok {
		return &convert.RepoConfig{}, nil
	}
	return convert.ParseRepoConfig(".nbpipe.yaml", data)
}

func isNotebook(p string) bool {
	return strings.HasSuffix(strings.ToLower(p), ".ipynb") && !strings.Contains(p, ".ipynb_checkpoints/")
}

// cacheName turns owner/name into one safe directory name.
func cacheName(repo string) string {
	var b strings.Builder
	for _, r := range repo {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return strings.TrimLeft(b.String(), ".")
}
