// Package pipeline is the one orchestration step both front doors (the
// webhook server and the Actions entrypoint) share: a push in, notebooks
// diffed, converted and published as one commit, a report out.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nbpipe/nbpipe/convert"
	"github.com/nbpipe/nbpipe/internal/push"
	"github.com/nbpipe/nbpipe/internal/sourcerepo"
	"github.com/nbpipe/nbpipe/preview"
	"github.com/nbpipe/nbpipe/publish"
)

// Source is an allow-listed source repository and what the server grants it.
type Source struct {
	CloneURL string // where nbpipe fetches it; "" trusts the signed payload's URL
	Token    string
	// TokenHost is the one host Token may be sent to. A clone URL on any
	// other host (a payload naming a foreign server, a GitHub push on a
	// Gitea-configured server) is fetched without it.
	TokenHost string
	// TokenFunc supplies a short-lived token (a GitHub App installation
	// token) when Token is empty.
	TokenFunc func(ctx context.Context) (string, error)
	// TargetDir is the directory of the target repository its outputs go
	// under; nothing in the repository can redirect them elsewhere.
	TargetDir string
}

// Config is what the processor needs from the server's configuration.
type Config struct {
	// Lookup returns the source settings of an allow-listed repository.
	Lookup      func(repo string) (Source, bool)
	TargetURL   string
	TargetToken string
	// TargetTokenFunc supplies a short-lived target token instead.
	TargetTokenFunc func(ctx context.Context) (string, error)
	TargetBranch    string
	CacheDir        string
	Author          publish.Author
	// Layers are the server's conversion settings, under each repository's
	// .nbpipe.yaml; Locked keys only the server may set.
	Layers []convert.Layer
	Locked []string
	// SSH holds the key and known_hosts for SSH remotes.
	SSH publish.SSH
	// MaxNotebookBytes refuses larger notebooks (0: DefaultMaxNotebookBytes).
	MaxNotebookBytes int64
	Log              *slog.Logger
}

// DefaultMaxNotebookBytes is the notebook size cap: converting costs a few
// times the notebook's size in memory.
const DefaultMaxNotebookBytes = 100 << 20

// NotebookReport is the outcome for one changed notebook.
type NotebookReport struct {
	Path     string             `json:"path"`
	Change   publish.ChangeKind `json:"change"`
	DagID    string             `json:"dag_id,omitempty"`
	Files    []string           `json:"files,omitempty"`
	Removed  []string           `json:"removed,omitempty"`
	Error    string             `json:"error,omitempty"`
	Findings []convert.Finding  `json:"findings,omitempty"`
	// Result is the conversion's outcome (settings, tasks, parameters) for
	// the steps after publishing; not part of the report.
	Result *convert.Result `json:"-"`
	// outputs are the files this notebook writes, before the plan.
	outputs []publish.FileChange
}

// Report is the outcome of one push.
type Report struct {
	Repo string `json:"repo"`
	Ref  string `json:"ref"`
	// From is the source commit whose outputs the target held before;
	// SourceCommit the one it holds now.
	From         string `json:"from,omitempty"`
	SourceCommit string `json:"source_commit"`
	TargetCommit string `json:"target_commit,omitempty"`
	// TargetHead is the target branch after the run: TargetCommit, or the
	// commit that already held these outputs.
	TargetHead string           `json:"target_head,omitempty"`
	Notebooks  []NotebookReport `json:"notebooks"`
	Refused    []string         `json:"refused,omitempty"`
	// Created lists the outputs this run wrote that did not exist before.
	Created []string `json:"created,omitempty"`
	Tries   int      `json:"tries,omitempty"`
	// UpToDate reports a request with nothing new: the target already
	// holds the outputs of SourceCommit, or of Newer, which contains it.
	UpToDate bool   `json:"up_to_date,omitempty"`
	Newer    string `json:"newer,omitempty"`
	// PublishedAt is when the target commit was pushed.
	PublishedAt time.Time `json:"published_at,omitzero"`
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
	if r.UpToDate && r.Newer != "" {
		return "nothing published: the target already holds the outputs of " + short(r.Newer) + ", which contains " + short(r.SourceCommit)
	}
	if r.UpToDate {
		return "up to date: the target already holds the outputs of " + short(r.SourceCommit)
	}
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

// Processor runs pushes. It keeps one cached clone per repository; pushes of
// different sources may run at once, each source's clone used by one run at
// a time.
type Processor struct {
	cfg   Config
	mu    sync.Mutex
	repos map[string]*publish.Repo
	locks map[string]*sync.Mutex
}

// New returns a processor.
func New(cfg Config) *Processor {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.MaxNotebookBytes <= 0 {
		cfg.MaxNotebookBytes = DefaultMaxNotebookBytes
	}
	return &Processor{cfg: cfg, repos: map[string]*publish.Repo{}, locks: map[string]*sync.Mutex{}}
}

// ErrNotAllowed reports a push from a repository that is not allow-listed.
var ErrNotAllowed = errors.New("repository not allow-listed")

// Permanent reports errors that retrying cannot fix: the push is reported
// and retired instead of blocking the queue. A source repository that is
// gone or refuses nbpipe's credentials is permanent.
func Permanent(err error) bool {
	return errors.Is(err, ErrNotAllowed) || publish.Permanent(err)
}

// lock serialises the runs that use one cached clone.
func (p *Processor) lock(name string) func() {
	p.mu.Lock()
	l, ok := p.locks[name]
	if !ok {
		l = &sync.Mutex{}
		p.locks[name] = l
	}
	p.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// lastPublished fetches the target and returns the newest source commit of
// repo its branch names ("" when none).
func (p *Processor) lastPublished(ctx context.Context, repo string) (string, error) {
	defer p.lock(targetCache)()
	target, err := p.repo(ctx, p.cfg.TargetURL, p.cfg.TargetToken, targetCache)
	if err != nil {
		return "", err
	}
	if err := target.Fetch(ctx); err != nil {
		return "", err
	}
	return target.LastPublished(p.cfg.TargetBranch, repo, historyLimit)
}

func (p *Processor) repo(ctx context.Context, url, token, name string) (*publish.Repo, error) {
	if name == targetCache && p.cfg.TargetTokenFunc != nil {
		var err error
		if token, err = p.cfg.TargetTokenFunc(ctx); err != nil {
			return nil, fmt.Errorf("target credentials: %w", err)
		}
	}
	auth, err := publish.AuthFor(url, token, p.cfg.SSH)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if r, ok := p.repos[name]; ok && r.URL() == url {
		r.SetAuth(auth)
		return r, nil
	}
	dir := path.Join(p.cfg.CacheDir, name)
	r, err := publish.Open(ctx, url, auth, dir)
	if err != nil && ctx.Err() == nil && !publish.Permanent(err) {
		// An unreadable cache (a crash mid-write) is cloned again.
		_ = os.RemoveAll(dir)
		r, err = publish.Open(ctx, url, auth, dir)
	}
	if err != nil {
		return nil, err
	}
	p.repos[name] = r
	return r, nil
}

// dropCache forgets a cached clone: a process killed mid-fetch can leave one
// unreadable, so the next try starts from a fresh clone.
func (p *Processor) dropCache(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.repos, name)
	_ = os.RemoveAll(path.Join(p.cfg.CacheDir, name))
}

// Request is one run of the pipeline for a branch.
type Request struct {
	Event push.Event
	// Since is the source commit whose outputs the target already holds
	// for this branch; "" means the befores of the pushes being run.
	Since string
	// Befores are the before commits of the coalesced pushes this run
	// covers (default: the event's own); without Since the run diffs from
	// their merge base, so every change of every push is seen.
	Befores []string
	// Latest publishes the branch head as fetched instead of the event's
	// after: level-triggered, so a late or reordered delivery never rolls
	// outputs back, and queued pushes of a branch become one commit.
	Latest bool
	// FromTarget takes Since from the target itself: the newest source
	// commit of this repository its history names (the Source-Commit
	// trailer). A run whose commit that one already contains publishes
	// nothing, so a late or re-run job never rolls outputs back. For the
	// Action, which keeps no state between runs.
	FromTarget bool
}

// historyLimit bounds the target commits read to find the last published
// source commit.
const historyLimit = 2000

// Process converts the notebooks a push changed and publishes them as one
// commit. One bad notebook never blocks the others: its error is in the
// report and its previous outputs stay as they were.
func (p *Processor) Process(ctx context.Context, ev push.Event) (*Report, error) {
	return p.Run(ctx, Request{Event: ev})
}

const targetCache = "target"

// source resolves where a repository is fetched from and with what.
func (p *Processor) source(ctx context.Context, ev push.Event) (Source, string, error) {
	src, ok := p.cfg.Lookup(ev.Repo)
	if !ok {
		return src, "", fmt.Errorf("%s: %w", ev.Repo, ErrNotAllowed)
	}
	if src.CloneURL == "" { // the embedded default trusts the signed payload's URL
		src.CloneURL = ev.CloneURL
	}
	if !sameHost(src.CloneURL, src.TokenHost) {
		src.Token, src.TokenFunc = "", nil
	}
	if src.Token == "" && src.TokenFunc != nil {
		tok, err := src.TokenFunc(ctx)
		if err != nil {
			return src, "", fmt.Errorf("%s: credentials: %w", ev.Repo, err)
		}
		src.Token = tok
	}
	return src, "source/" + cacheName(ev.Repo), nil
}

// Preview converts the notebooks a pull request changes, from its merge
// base with the base branch to its head, and compares the outputs with the
// target branch. Nothing is published.
func (p *Processor) Preview(ctx context.Context, ev push.Event) (*preview.Preview, error) {
	src, cache, err := p.source(ctx, ev)
	if err != nil {
		return nil, err
	}
	defer p.lock(cache)()
	source, err := p.repo(ctx, src.CloneURL, src.Token, cache)
	if err == nil {
		err = source.Fetch(ctx)
	}
	if err != nil {
		p.dropCache(cache)
		return nil, err
	}
	head, err := source.FetchRef(ctx, fmt.Sprintf("refs/pull/%d/head", ev.PullRequest))
	if err != nil {
		return nil, err
	}
	baseTip := ev.Before
	if tip, err := source.Head(ev.BaseRef); err == nil && tip != "" {
		baseTip = tip
	}
	base, err := source.MergeBase(baseTip, head)
	if err != nil {
		return nil, err
	}
	defer p.lock(targetCache)()
	target, err := p.repo(ctx, p.cfg.TargetURL, p.cfg.TargetToken, targetCache)
	if err == nil {
		err = target.Fetch(ctx)
	}
	if err != nil {
		return nil, err
	}
	targetHead, err := target.Head(p.cfg.TargetBranch)
	if err != nil {
		return nil, err
	}
	named, err := preview.NamesAt(path.Join(p.cfg.CacheDir, targetCache), targetHead)
	if err != nil {
		return nil, err
	}
	return preview.Compute(ctx, source, base, head, target, preview.Options{
		Repo: ev.Repo, TargetDir: src.TargetDir, TargetBranch: p.cfg.TargetBranch,
		Layers: p.cfg.Layers, Locked: p.cfg.Locked, MaxNotebookBytes: p.cfg.MaxNotebookBytes,
		Named: named,
	})
}

// Run is Process for a request.
func (p *Processor) Run(ctx context.Context, req Request) (*Report, error) {
	ev := req.Event
	src, cache, err := p.source(ctx, ev)
	if err != nil {
		return nil, err
	}
	defer p.lock(cache)()
	rep, stage, err := p.run(ctx, req, src, cache)
	if err != nil && ctx.Err() == nil && !Permanent(err) {
		switch stage {
		case stageSource:
			p.dropCache(cache)
		case stagePublish:
			p.dropCache(targetCache)
		}
	}
	return rep, err
}

type stage int

const (
	stageSource stage = iota
	stagePublish
)

func (p *Processor) run(ctx context.Context, req Request, src Source, cache string) (*Report, stage, error) {
	ev := req.Event
	log := p.cfg.Log.With("delivery", ev.DeliveryID, "repo", ev.Repo)
	source, err := p.repo(ctx, src.CloneURL, src.Token, cache)
	if err != nil {
		return nil, stageSource, err
	}
	if err := source.Fetch(ctx); err != nil {
		return nil, stageSource, err
	}
	published := ""
	if req.FromTarget {
		if published, err = p.lastPublished(ctx, ev.Repo); err != nil {
			return nil, stagePublish, err
		}
		if published != "" && source.Has(published) {
			req.Since = published
		}
	}
	from, to, err := p.span(source, req)
	if err != nil {
		return nil, stageSource, err
	}
	rep := &Report{Repo: ev.Repo, Ref: ev.Ref, From: from, SourceCommit: to}
	if published != "" && published != to && source.Has(published) {
		if newer, err := source.Contains(ctx, published, to); err != nil {
			return nil, stageSource, err
		} else if newer {
			rep.UpToDate, rep.Newer = true, published
			return rep, stageSource, nil
		}
	}
	if from == to {
		rep.UpToDate = true
		return rep, stageSource, nil
	}
	convertStart := time.Now()
	changes, err := sourcerepo.Changed(ctx, source, from, to)
	if err != nil {
		return nil, stageSource, err
	}
	repoCfg, bad, err := sourcerepo.Config(source, to)
	if err != nil {
		return nil, stageSource, err
	}
	if bad != nil {
		// A broken .nbpipe.yaml fails every notebook, with its error.
		for _, c := range changes {
			rep.Notebooks = append(rep.Notebooks, NotebookReport{Path: c.Path, Change: c.Kind, Error: bad.Error()})
		}
		return rep, stageSource, nil
	}
	for _, c := range changes {
		nr, err := p.convertOne(ctx, source, ev.Repo, src.TargetDir, from, to, c, repoCfg)
		if err != nil {
			return nil, stageSource, err
		}
		rep.Notebooks = append(rep.Notebooks, nr)
	}
	writes := resolveOutputs(rep)
	rep.ConvertSeconds = time.Since(convertStart).Seconds()

	publishStart := time.Now()
	defer p.lock(targetCache)()
	target, err := p.repo(ctx, p.cfg.TargetURL, p.cfg.TargetToken, targetCache)
	if err != nil {
		return nil, stagePublish, err
	}
	// The plan runs against the target branch as it is at each try; only
	// the collisions of the try that was pushed reach the report.
	var collisions map[string]string
	var created []string
	plan := func(t *publish.Tree) ([]publish.FileChange, error) {
		out, coll, err := planWrites(t, writes, rep, ev.Repo)
		collisions, created = coll, nil
		for _, w := range out {
			if _, exists, rerr := t.Read(w.Path); rerr == nil && !exists && w.Content != nil {
				created = append(created, w.Path)
			}
		}
		ignore := airflowIgnore(src.TargetDir, out)
		if err != nil || ignore == nil {
			return out, err
		}
		// The .airflowignore is nbpipe's only where it wrote it: a file the
		// platform team put there is left as it is, and not reported.
		old, exists, err := t.Read(ignore.Path)
		if err != nil {
			return nil, err
		}
		if !exists || convert.IsOwned(old) {
			out = append(out, *ignore)
		}
		return out, nil
	}
	msg := publish.CommitMessage(
		fmt.Sprintf("nbpipe: %s@%s", ev.Repo, short(to)),
		messageBody(rep), ev.Repo, to)
	res, err := target.Publish(ctx, p.cfg.TargetBranch, plan, msg, p.cfg.Author)
	if err != nil {
		return nil, stagePublish, err
	}
	for i := range rep.Notebooks {
		nb := &rep.Notebooks[i]
		if why, ok := collisions[nb.Path]; ok && nb.Error == "" {
			nb.Error, nb.Files = why, nil
		}
	}
	rep.TargetCommit, rep.Refused, rep.Tries, rep.Created = res.Commit, res.Refused, res.Tries, created
	if rep.TargetHead, err = target.Head(p.cfg.TargetBranch); err != nil {
		return nil, stagePublish, err
	}
	rep.PublishSeconds = time.Since(publishStart).Seconds()
	rep.PublishedAt = time.Now().UTC()
	log.Info("push processed", "from", short(from), "to", short(to), "summary", rep.Summary())
	return rep, stagePublish, nil
}

// span picks the commits to diff. The target holds the outputs of from
// (the last published commit, or the push's before); to is what it should
// hold: the push's after, or the branch head for a level-triggered run.
// A from the repository no longer has (history rewritten since) falls back
// to the push's before, then to nothing: every notebook is converted again.
func (p *Processor) span(source *publish.Repo, req Request) (from, to string, err error) {
	ev := req.Event
	to = ev.After
	if req.Latest {
		head, err := source.Head(ev.Branch())
		if err != nil {
			return "", "", err
		}
		if head != "" {
			to = head
		}
	}
	if !source.Has(to) {
		return "", "", fmt.Errorf("%s@%s: %w", ev.Repo, short(to), publish.ErrNoCommit)
	}
	if req.Since != "" && source.Has(req.Since) {
		return req.Since, to, nil
	}
	befores := req.Befores
	if len(befores) == 0 {
		befores = []string{ev.Before}
	}
	for _, b := range befores {
		if b == "" || b == push.ZeroSHA || !source.Has(b) {
			return "", to, nil // a new branch, or history gone: everything
		}
		if from == "" {
			from = b
		} else if from, err = source.MergeBase(from, b); err != nil || from == "" {
			return "", to, err
		}
	}
	return from, to, nil
}

// convertOne converts one changed notebook at to and lists the outputs its
// version at from had, so those that are no longer produced are removed.
func (p *Processor) convertOne(ctx context.Context, source *publish.Repo, repo, dir, from, to string, c publish.Change, repoCfg *convert.RepoConfig) (NotebookReport, error) {
	nr := NotebookReport{Path: c.Path, Change: c.Kind}
	var old []string
	if c.Kind != publish.Added && from != "" {
		var err error
		if old, err = p.outputs(ctx, source, from, c.Path, repo, dir); err != nil {
			return nr, err
		}
	}
	produced := map[string]bool{}
	if c.Kind != publish.Removed && repoCfg.Selected(c.Path) {
		if why := convert.BadNotebookPath(c.Path); why != "" {
			// Keep what was there: a broken push must not take a working
			// DAG away.
			nr.Error = why
			return nr, nil
		}
		size, _, err := source.FileSize(to, c.Path)
		if err != nil {
			return nr, err
		}
		if size > p.cfg.MaxNotebookBytes {
			nr.Error = fmt.Sprintf("%s: the notebook is %s, over the %s limit (max_notebook_size); clear its outputs or raise the limit",
				c.Path, mib(size), mib(p.cfg.MaxNotebookBytes))
			return nr, nil
		}
		data, _, err := source.ReadFile(to, c.Path)
		if err != nil {
			return nr, err
		}
		res := convert.Convert(c.Path, data, convert.Options{
			Source: convert.Source{Repo: repo, Commit: to},
			Layers: p.layers(repoCfg, c.Path),
			Locked: p.cfg.Locked,
		})
		nr.DagID, nr.Findings, nr.Result = res.DagID, res.Findings, res
		if err := res.Err(); err != nil {
			nr.Error = err.Error()
			return nr, nil
		}
		for _, f := range res.Files {
			target := path.Join(targetDir(dir), f.Path)
			if why := convert.BadOutputPath(target); why != "" {
				nr.Error, nr.outputs = why, nil
				return nr, nil
			}
			produced[target] = true
			nr.outputs = append(nr.outputs, publish.FileChange{Path: target, Content: f.Content})
		}
	}
	for _, f := range old {
		if !produced[f] {
			nr.Removed = append(nr.Removed, f)
		}
	}
	return nr, nil
}

func (p *Processor) layers(rc *convert.RepoConfig, nbPath string) []convert.Layer {
	return rc.Stack(p.cfg.Layers, nbPath)
}

// resolveOutputs settings which notebook writes which file: the first one
// to produce a path keeps it, a later one fails (its dag_id is taken in this
// push). Files a notebook no longer produces are deleted unless another
// notebook now writes them.
func resolveOutputs(rep *Report) []publish.FileChange {
	var writes []publish.FileChange
	owner := map[string]string{}
	for i := range rep.Notebooks {
		nb := &rep.Notebooks[i]
		for _, w := range nb.outputs {
			if prev, dup := owner[w.Path]; dup {
				nb.Error = fmt.Sprintf("%s is also produced by %s (dag_id %q is taken)", w.Path, prev, nb.DagID)
				break
			}
		}
		if nb.Error != "" {
			nb.outputs = nil
			continue
		}
		for _, w := range nb.outputs {
			owner[w.Path] = nb.Path
			nb.Files = append(nb.Files, w.Path)
			writes = append(writes, w)
		}
	}
	deletes := map[string]bool{}
	for _, nb := range rep.Notebooks {
		for _, f := range nb.Removed {
			if _, written := owner[f]; !written && !deletes[f] {
				deletes[f] = true
				writes = append(writes, publish.FileChange{Path: f})
			}
		}
	}
	sort.Slice(writes, func(i, j int) bool { return writes[i].Path < writes[j].Path })
	return writes
}

// AirflowIgnore is the .airflowignore nbpipe keeps in each target
// directory: a DAG bundle (GitDagBundle, git-sync) reads the whole target
// repository, and the dag-processor would import the Spark job files and
// Ilum service classes too (any .py file that mentions "dag" or "airflow"),
// failing on pyspark or ilum imports Airflow does not have. Patterns use
// Airflow 3's default glob syntax, relative to this file's directory.
var AirflowIgnore = []byte("# Written by nbpipe: only dags/ holds Airflow DAGs here.\n" +
	convert.OwnershipMarker + "\n" +
	"spark/\n" +
	"ilum/\n")

// airflowIgnore returns the .airflowignore to write with a publish that
// writes outputs under dir, nil when it writes none.
func airflowIgnore(dir string, writes []publish.FileChange) *publish.FileChange {
	for _, w := range writes {
		if w.Content != nil {
			return &publish.FileChange{Path: path.Join(targetDir(dir), ".airflowignore"), Content: AirflowIgnore}
		}
	}
	return nil
}

// planWrites is the publish plan, a pure function of the target tree: the
// writes minus those of notebooks whose outputs belong to another notebook,
// either at the same path or, for a new DAG file, as the same dag_id in
// another directory (Airflow's dag_ids are global). It returns why each
// such notebook was refused.
func planWrites(t *publish.Tree, writes []publish.FileChange, rep *Report, repo string) ([]publish.FileChange, map[string]string, error) {
	refused := map[string]string{}
	for _, w := range writes {
		if w.Content == nil {
			continue
		}
		mine := notebookOf(rep, w.Path)
		if _, done := refused[mine]; done {
			continue
		}
		old, ok, err := t.Read(w.Path)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			if !convert.IsOwned(old) {
				continue // refused by Publish as not ours
			}
			if r, nb := convert.Owner(old); !mayTake(rep, repo, mine, r, nb) {
				refused[mine] = fmt.Sprintf("%s already belongs to notebook %s of %s; dag_id %q is taken", w.Path, nb, r, dagIDOf(rep, mine))
			}
			continue
		}
		if path.Base(path.Dir(w.Path)) != "dags" {
			continue
		}
		others, err := t.FilesNamed(path.Base(w.Path))
		if err != nil {
			return nil, nil, err
		}
		for _, o := range others {
			if o == w.Path || path.Base(path.Dir(o)) != "dags" {
				continue
			}
			content, ok, err := t.Read(o)
			if err != nil {
				return nil, nil, err
			}
			if !ok || !convert.IsOwned(content) {
				continue
			}
			if r, nb := convert.Owner(content); !mayTake(rep, repo, mine, r, nb) {
				refused[mine] = fmt.Sprintf("dag_id %q is already published as %s by notebook %s of %s; Airflow DAG ids are global, pick another dag_id", dagIDOf(rep, mine), o, nb, r)
				break
			}
		}
	}
	var out []publish.FileChange
	for _, w := range writes {
		if _, bad := refused[notebookOf(rep, w.Path)]; w.Content == nil || !bad {
			out = append(out, w)
		}
	}
	return out, refused, nil
}

// mayTake reports whether notebook mine of repo may write over a file whose
// header names (headerRepo, headerNotebook): it is its own, or that notebook
// was removed or renamed away in the same push.
func mayTake(rep *Report, repo, mine, headerRepo, headerNotebook string) bool {
	if headerNotebook == convert.HeaderValue(mine) && headerRepo == convert.HeaderValue(repo) {
		return true
	}
	if headerRepo != convert.HeaderValue(repo) {
		return false
	}
	for _, nb := range rep.Notebooks {
		if nb.Change == publish.Removed && convert.HeaderValue(nb.Path) == headerNotebook {
			return true
		}
	}
	return false
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

func dagIDOf(rep *Report, notebook string) string {
	for _, nb := range rep.Notebooks {
		if nb.Path == notebook {
			return nb.DagID
		}
	}
	return ""
}

func targetDir(dir string) string { return strings.Trim(path.Clean("/"+dir), "/") }

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// messageBody lists the notebooks in the commit message. Paths are quoted
// when they hold anything but printable characters.
func messageBody(rep *Report) string {
	var b strings.Builder
	for _, nb := range rep.Notebooks {
		status := "converted"
		if nb.Error != "" {
			status = "FAILED"
		}
		name := nb.Path
		if convert.BadNotebookPath(name) != "" {
			name = strconv.QuoteToASCII(name)
		}
		fmt.Fprintf(&b, "- %s (%s): %s\n", name, nb.Change, status)
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
	if rc, bad, err := sourcerepo.Config(source, rev); err == nil && bad == nil {
		res := convert.Convert(nbPath, data, convert.Options{Layers: p.layers(rc, nbPath), Locked: p.cfg.Locked})
		if res.Err() == nil {
			var out []string
			for _, f := range res.Files {
				out = append(out, path.Join(targetDir(dir), f.Path))
			}
			return out, nil
		}
	}
	defer p.lock(targetCache)()
	target, err := p.repo(ctx, p.cfg.TargetURL, p.cfg.TargetToken, targetCache)
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

// sameHost reports whether a URL is on host (host[:port]); an empty host
// matches nothing, so a token without a known host is never sent.
func sameHost(rawURL, host string) bool {
	if host == "" {
		return false
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return false
	}
	return strings.EqualFold(u.Host, host) || strings.EqualFold(u.Hostname(), host)
}

// TargetContains reports whether the target commit version includes commit
// (a DAG bundle at version has the files nbpipe published in commit).
func (p *Processor) TargetContains(ctx context.Context, version, commit string) bool {
	defer p.lock(targetCache)()
	target, err := p.repo(ctx, p.cfg.TargetURL, p.cfg.TargetToken, targetCache)
	if err != nil {
		return false
	}
	ok, err := target.Contains(ctx, version, commit)
	return err == nil && ok
}

// HostOf returns the host[:port] of a URL, "" when it has none.
func HostOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	return u.Host
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
