// Package publish writes to the outside world: the source and target git
// repositories (through a narrow go-git client), and later Airflow, Ilum and
// commit statuses.
package publish

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/utils/merkletrie"

	"github.com/nbpipe/nbpipe/convert"
	redact_ "github.com/nbpipe/nbpipe/internal/redact"
)

// Repo is a cached bare clone of one remote repository. Everything nbpipe
// does with git goes through its few methods; no work tree is ever checked
// out, so costs grow with the files a push touches, not with the repository.
type Repo struct {
	url  string
	auth transport.AuthMethod
	repo *git.Repository
	mu   sync.Mutex // one writer per repository (and so per target branch)
	// created collects the objects the commit being built adds, which is
	// exactly what the push sends.
	created []plumbing.Hash
}

// TokenAuth is HTTP Basic auth with the token as the password, which GitHub,
// Gitea and most git servers accept.
func TokenAuth(user, token string) transport.AuthMethod {
	if token == "" {
		return nil
	}
	if user == "" {
		user = "nbpipe"
	}
	return &githttp.BasicAuth{Username: user, Password: token}
}

// Open opens the cached clone in dir, cloning the remote the first time.
// An empty remote repository is fine (a new dags repository).
func Open(ctx context.Context, url string, auth transport.AuthMethod, dir string) (*Repo, error) {
	r, err := git.PlainOpen(dir)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		r, err = git.PlainInit(dir, true)
		if err == nil {
			_, err = r.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{url}})
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", redact(url), err)
	}
	// A cache made for another URL (the configuration changed) follows the
	// new one.
	if rem, err := r.Remote("origin"); err == nil && (len(rem.Config().URLs) == 0 || rem.Config().URLs[0] != url) {
		_ = r.DeleteRemote("origin")
		if _, err := r.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{url}}); err != nil {
			return nil, fmt.Errorf("open %s: %w", redact(url), err)
		}
	}
	rp := &Repo{url: url, auth: auth, repo: r}
	if err := rp.Fetch(ctx); err != nil {
		return nil, err
	}
	return rp, nil
}

// Fetch brings every branch of the remote up to date (forced: a rewritten
// remote branch replaces the cached one).
func (r *Repo) Fetch(ctx context.Context) error {
	err := r.repo.FetchContext(ctx, &git.FetchOptions{
		RemoteName: "origin",
		RefSpecs:   []config.RefSpec{"+refs/heads/*:refs/remotes/origin/*"},
		Auth:       r.auth,
		Force:      true,
	})
	switch {
	case err == nil, errors.Is(err, git.NoErrAlreadyUpToDate), errors.Is(err, transport.ErrEmptyRemoteRepository):
		return nil
	}
	return fmt.Errorf("fetch %s: %w", redact(r.url), err)
}

// redact drops credentials from a URL for messages.
func redact(url string) string { return redact_.URL(url) }

// ChangeKind says what happened to a notebook between two commits.
type ChangeKind string

const (
	Added    ChangeKind = "added"
	Modified ChangeKind = "modified"
	Removed  ChangeKind = "removed"
)

// Change is one changed file; a rename is a Removed and an Added.
type Change struct {
	Kind ChangeKind
	Path string
}

// Changes lists the files matching keep that differ between two commits. A
// zero or empty before (a new branch) lists every file of after as added.
// Forced pushes need nothing special: trees are compared, not histories.
func (r *Repo) Changes(ctx context.Context, before, after string, keep func(path string) bool) ([]Change, error) {
	to, err := r.tree(after)
	if err != nil {
		return nil, err
	}
	from := &object.Tree{}
	if before != "" && strings.Trim(before, "0") != "" {
		if from, err = r.tree(before); err != nil {
			return nil, err
		}
	}
	changes, err := object.DiffTreeWithOptions(ctx, from, to, &object.DiffTreeOptions{DetectRenames: false})
	if err != nil {
		return nil, fmt.Errorf("diff %s..%s: %w", before, after, err)
	}
	var out []Change
	for _, c := range changes {
		action, err := c.Action()
		if err != nil {
			return nil, err
		}
		switch action {
		case merkletrie.Insert:
			out = append(out, Change{Added, c.To.Name})
		case merkletrie.Delete:
			out = append(out, Change{Removed, c.From.Name})
		case merkletrie.Modify:
			out = append(out, Change{Modified, c.To.Name})
		}
	}
	kept := out[:0]
	for _, c := range out {
		if keep == nil || keep(c.Path) {
			kept = append(kept, c)
		}
	}
	sort.Slice(kept, func(i, j int) bool { return kept[i].Path < kept[j].Path })
	return kept, nil
}

// Head returns the commit the remote branch pointed at when last fetched; ""
// when the branch does not exist.
func (r *Repo) Head(branch string) (string, error) {
	ref, err := r.repo.Reference(plumbing.NewRemoteReferenceName("origin", branch), true)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return ref.Hash().String(), nil
}

// Has reports whether the repository holds a commit.
func (r *Repo) Has(rev string) bool {
	_, err := r.repo.CommitObject(plumbing.NewHash(rev))
	return err == nil
}

// FileSize returns a file's size at a commit without reading it; ok is false
// when it does not exist there.
func (r *Repo) FileSize(rev, name string) (size int64, ok bool, err error) {
	t, err := r.tree(rev)
	if err != nil {
		return 0, false, err
	}
	f, err := t.File(name)
	if errors.Is(err, object.ErrFileNotFound) || errors.Is(err, object.ErrDirectoryNotFound) || errors.Is(err, object.ErrEntryNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return f.Size, true, nil
}

// Permanent reports git errors that retrying cannot fix: the remote
// repository is gone (404) or refuses these credentials (401/403).
func Permanent(err error) bool {
	return errors.Is(err, ErrNoCommit) || errors.Is(err, transport.ErrRepositoryNotFound) ||
		errors.Is(err, transport.ErrAuthenticationRequired) || errors.Is(err, transport.ErrAuthorizationFailed)
}

// ErrNoCommit reports a commit the fetched repository does not have (a push
// whose commits were force-pushed away before nbpipe got to them).
var ErrNoCommit = errors.New("commit not in the repository")

func (r *Repo) tree(rev string) (*object.Tree, error) {
	c, err := r.repo.CommitObject(plumbing.NewHash(rev))
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return nil, fmt.Errorf("commit %s: %w", rev, ErrNoCommit)
	}
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", rev, err)
	}
	return c.Tree()
}

// ReadFile returns a file's content at a commit; ok is false when it does not
// exist there.
func (r *Repo) ReadFile(rev, name string) (data []byte, ok bool, err error) {
	t, err := r.tree(rev)
	if err != nil {
		return nil, false, err
	}
	return readTreeFile(t, name, -1)
}

// ReadPrefix reads at most the first n bytes of a file at a commit: enough to
// tell a file's kind without holding a large one in memory.
func (r *Repo) ReadPrefix(rev, name string, n int64) (data []byte, ok bool, err error) {
	t, err := r.tree(rev)
	if err != nil {
		return nil, false, err
	}
	return readTreeFile(t, name, n)
}

// readTreeFile reads a file of a tree, at most limit bytes when limit >= 0.
func readTreeFile(t *object.Tree, name string, limit int64) ([]byte, bool, error) {
	f, err := t.File(name)
	if errors.Is(err, object.ErrFileNotFound) || errors.Is(err, object.ErrDirectoryNotFound) || errors.Is(err, object.ErrEntryNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	rd, err := f.Reader()
	if err != nil {
		return nil, false, err
	}
	defer rd.Close()
	var src io.Reader = rd
	if limit >= 0 {
		src = io.LimitReader(rd, limit)
	}
	data, err := io.ReadAll(src)
	return data, err == nil, err
}

// FileChange is one output to write (Content non-nil) or delete (nil).
type FileChange struct {
	Path    string
	Content []byte
}

// Plan computes the changes to publish from the target branch as it is now.
// Publish calls it again after every rejected push, so it must only read.
type Plan func(t *Tree) ([]FileChange, error)

// Tree is a read-only view of the target branch a plan is built on.
type Tree struct{ t *object.Tree }

// Read returns a file's content; ok is false when it does not exist.
func (t *Tree) Read(name string) ([]byte, bool, error) { return readTreeFile(t.t, name, -1) }

// FilesNamed lists every regular file called name anywhere in the tree. It
// walks the whole tree, so plans call it only for outputs that are new.
func (t *Tree) FilesNamed(name string) ([]string, error) {
	var out []string
	w := object.NewTreeWalker(t.t, true, nil)
	defer w.Close()
	for {
		p, e, err := w.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if e.Mode.IsFile() && e.Name == name {
			out = append(out, p)
		}
	}
}

// Published is the outcome of a publish.
type Published struct {
	Commit  string   // the new commit, "" when nothing changed
	Refused []string // paths left alone: they exist without nbpipe's ownership marker
	Tries   int
}

// Author signs publish commits.
type Author struct{ Name, Email string }

// MaxTries bounds the fetch-rebuild-push loop when the remote moved.
const MaxTries = 8

// Publish commits the plan's changes to branch as one commit and pushes it,
// never forcing: when the push is rejected because the branch moved, it
// fetches, rebuilds the plan on the new head and tries again with jittered
// backoff. Files that exist without nbpipe's ownership marker are never
// changed or deleted; they are reported in Refused.
func (r *Repo) Publish(ctx context.Context, branch string, plan Plan, message string, author Author) (Published, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var res Published
	backoff := 100 * time.Millisecond
	for res.Tries = 1; res.Tries <= MaxTries; res.Tries++ {
		if res.Tries > 1 {
			if err := r.Fetch(ctx); err != nil {
				return res, err
			}
		}
		r.created = r.created[:0]
		commit, base, refused, err := r.commit(branch, plan, message, author)
		if err != nil {
			return res, err
		}
		res.Refused = refused
		if commit == plumbing.ZeroHash {
			return res, nil
		}
		err = classifyPush(r.push(ctx, branch, base, commit))
		if err == nil {
			res.Commit = commit.String()
			return res, nil
		}
		if !errors.Is(err, ErrBranchMoved) {
			return res, fmt.Errorf("push %s to %s: %w", branch, redact(r.url), err)
		}
		// Someone else pushed first: wait a little, then rebuild on theirs.
		sleep := backoff/2 + time.Duration(rand.Int64N(int64(backoff)))
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(sleep):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
	return res, fmt.Errorf("push %s to %s: the branch kept moving; gave up after %d tries", branch, redact(r.url), MaxTries)
}

// ErrBranchMoved reports a push refused because the target branch is no
// longer at the commit the new one was built on: fetch, rebuild, retry.
var ErrBranchMoved = errors.New("the target branch moved")

// movedReasons are the reasons git servers give, in the receive-pack
// report, for refusing an update of a branch that moved (protocol tokens,
// not prose).
var movedReasons = []string{"non-fast-forward", "fetch first", "failed to update ref", "reference has changed", "cannot lock ref", "stale info"}

// classifyPush turns a refused push into ErrBranchMoved where that is why.
func classifyPush(err error) error {
	if err == nil || errors.Is(err, ErrBranchMoved) {
		return err
	}
	if errors.Is(err, git.ErrForceNeeded) {
		return fmt.Errorf("%w: %v", ErrBranchMoved, err)
	}
	for _, m := range movedReasons {
		if strings.Contains(err.Error(), m) {
			return fmt.Errorf("%w: %v", ErrBranchMoved, err)
		}
	}
	return err
}

// commit builds the new commit on top of the remote branch head (or as a
// root commit on an empty branch) and returns it and that head; ZeroHash when
// the tree does not change.
func (r *Repo) commit(branch string, plan Plan, message string, author Author) (plumbing.Hash, plumbing.Hash, []string, error) {
	var base *object.Commit
	baseTree := &object.Tree{}
	ref, err := r.repo.Reference(plumbing.NewRemoteReferenceName("origin", branch), true)
	switch {
	case err == nil:
		if base, err = r.repo.CommitObject(ref.Hash()); err != nil {
			return plumbing.ZeroHash, plumbing.ZeroHash, nil, err
		}
		if baseTree, err = base.Tree(); err != nil {
			return plumbing.ZeroHash, plumbing.ZeroHash, nil, err
		}
	case errors.Is(err, plumbing.ErrReferenceNotFound):
	default:
		return plumbing.ZeroHash, plumbing.ZeroHash, nil, err
	}
	read := func(p string) ([]byte, bool, error) { return readTreeFile(baseTree, p, -1) }
	changes, err := plan(&Tree{t: baseTree})
	if err != nil {
		return plumbing.ZeroHash, plumbing.ZeroHash, nil, err
	}
	var refused []string
	edits := map[string]*FileChange{}
	for i := range changes {
		c := &changes[i]
		old, exists, err := read(c.Path)
		if err != nil {
			return plumbing.ZeroHash, plumbing.ZeroHash, nil, err
		}
		switch {
		case exists && !convert.IsOwned(old):
			refused = append(refused, c.Path)
		case !exists && c.Content == nil:
		default:
			edits[path.Clean(c.Path)] = c
		}
	}
	treeHash, err := r.editTree(baseTree, "", edits)
	if err == nil && treeHash == emptyTree {
		// Every file is gone: the commit needs the empty tree itself.
		obj := r.repo.Storer.NewEncodedObject()
		if err = (&object.Tree{}).Encode(obj); err == nil {
			treeHash, err = r.store(obj)
		}
	}
	if err != nil {
		return plumbing.ZeroHash, plumbing.ZeroHash, nil, err
	}
	if base != nil && treeHash == base.TreeHash {
		return plumbing.ZeroHash, plumbing.ZeroHash, refused, nil
	}
	if base == nil && len(edits) == 0 {
		return plumbing.ZeroHash, plumbing.ZeroHash, refused, nil
	}
	now := time.Now()
	sig := object.Signature{Name: author.Name, Email: author.Email, When: now}
	c := &object.Commit{Author: sig, Committer: sig, Message: message, TreeHash: treeHash}
	if base != nil {
		c.ParentHashes = []plumbing.Hash{base.Hash}
	}
	obj := r.repo.Storer.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		return plumbing.ZeroHash, plumbing.ZeroHash, nil, err
	}
	h, err := r.store(obj)
	baseHash := plumbing.ZeroHash
	if base != nil {
		baseHash = base.Hash
	}
	return h, baseHash, refused, err
}

// editTree writes a new tree from t with the edits under prefix applied and
// returns its hash; only the trees on edited paths are rewritten.
func (r *Repo) editTree(t *object.Tree, prefix string, edits map[string]*FileChange) (plumbing.Hash, error) {
	entries := map[string]object.TreeEntry{}
	for _, e := range t.Entries {
		entries[e.Name] = e
	}
	sub := map[string]map[string]*FileChange{}
	for p, c := range edits {
		rel, ok := strings.CutPrefix(p, prefix)
		if !ok {
			continue
		}
		if dir, rest, nested := strings.Cut(rel, "/"); nested {
			if sub[dir] == nil {
				sub[dir] = map[string]*FileChange{}
			}
			sub[dir][prefix+dir+"/"+rest] = c
			continue
		}
		if c.Content == nil {
			delete(entries, rel)
			continue
		}
		h, err := r.blob(c.Content)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		entries[rel] = object.TreeEntry{Name: rel, Mode: filemode.Regular, Hash: h}
	}
	for dir, ed := range sub {
		child := &object.Tree{}
		if e, ok := entries[dir]; ok && e.Mode == filemode.Dir {
			var err error
			if child, err = r.repo.TreeObject(e.Hash); err != nil {
				return plumbing.ZeroHash, err
			}
		}
		h, err := r.editTree(child, prefix+dir+"/", ed)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		if h == emptyTree {
			delete(entries, dir)
		} else {
			entries[dir] = object.TreeEntry{Name: dir, Mode: filemode.Dir, Hash: h}
		}
	}
	nt := &object.Tree{}
	for _, e := range entries {
		nt.Entries = append(nt.Entries, e)
	}
	// Git orders entries by name, a directory's name as if it ended in "/".
	sort.Slice(nt.Entries, func(i, j int) bool { return sortName(nt.Entries[i]) < sortName(nt.Entries[j]) })
	if len(nt.Entries) == 0 {
		return emptyTree, nil
	}
	obj := r.repo.Storer.NewEncodedObject()
	if err := nt.Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	return r.store(obj)
}

// emptyTree is git's well-known empty tree; an emptied directory disappears.
var emptyTree = plumbing.NewHash("4b825dc642cb6eb9a060e54bf8d69288fbee4904")

func sortName(e object.TreeEntry) string {
	if e.Mode == filemode.Dir {
		return e.Name + "/"
	}
	return e.Name
}

func (r *Repo) blob(content []byte) (plumbing.Hash, error) {
	obj := r.repo.Storer.NewEncodedObject()
	obj.SetType(plumbing.BlobObject)
	w, err := obj.Writer()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if _, err := w.Write(content); err != nil {
		return plumbing.ZeroHash, err
	}
	if err := w.Close(); err != nil {
		return plumbing.ZeroHash, err
	}
	return r.store(obj)
}

// store writes an object and remembers it for the push.
func (r *Repo) store(obj plumbing.EncodedObject) (plumbing.Hash, error) {
	h, err := r.repo.Storer.SetEncodedObject(obj)
	if err == nil {
		r.created = append(r.created, h)
	}
	return h, err
}

// push sends exactly the objects the new commit added and asks the remote to
// move the branch from base (the head the commit was built on) to commit. The
// remote applies that as a compare-and-swap, so a branch that moved in the
// meantime is rejected, never overwritten. go-git's own push would walk the
// whole history to find what to send; this costs what the change costs.
func (r *Repo) push(ctx context.Context, branch string, base, commit plumbing.Hash) error {
	ep, err := transport.NewEndpoint(r.url)
	if err != nil {
		return err
	}
	cl, err := client.NewClient(ep)
	if err != nil {
		return err
	}
	sess, err := cl.NewReceivePackSession(ep, r.auth)
	if err != nil {
		return err
	}
	defer sess.Close()
	adv, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil && !errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return err
	}
	ref := plumbing.NewBranchReferenceName(branch)
	req := packp.NewReferenceUpdateRequest()
	if adv != nil {
		req = packp.NewReferenceUpdateRequestFromCapabilities(adv.Capabilities)
		if current, ok := adv.References[ref.String()]; ok && current != base {
			return fmt.Errorf("%w: %s is at %s", ErrBranchMoved, ref, current)
		}
	}
	req.Commands = []*packp.Command{{Name: ref, Old: base, New: commit}}
	var pack bytes.Buffer
	useRefDeltas := adv == nil || !adv.Capabilities.Supports(capability.OFSDelta)
	if _, err := packfile.NewEncoder(&pack, r.repo.Storer, useRefDeltas).Encode(r.created, 10); err != nil {
		return err
	}
	req.Packfile = io.NopCloser(&pack)
	report, err := sess.ReceivePack(ctx, req)
	if err != nil {
		return err
	}
	if report != nil {
		if err := report.Error(); err != nil {
			return err
		}
	}
	// The remote branch is now our commit; record it so the next plan builds
	// on it without a fetch.
	return r.repo.Storer.SetReference(plumbing.NewHashReference(plumbing.NewRemoteReferenceName("origin", branch), commit))
}

// CommitMessage formats a publish commit: a subject, a body and the trailers
// that tie it to the source commit.
func CommitMessage(subject, body, sourceRepo, sourceCommit string) string {
	var b strings.Builder
	b.WriteString(strings.TrimSpace(subject))
	b.WriteString("\n\n")
	if body = strings.TrimSpace(body); body != "" {
		b.WriteString(body + "\n\n")
	}
	fmt.Fprintf(&b, "Source-Repo: %s\nSource-Commit: %s\n", oneLine(sourceRepo), oneLine(sourceCommit))
	return b.String()
}

// LastPublished returns the Source-Commit trailer of the newest commit on
// the remote branch (as last fetched) whose Source-Repo is sourceRepo,
// following first parents through at most limit commits; "" when none.
func (r *Repo) LastPublished(branch, sourceRepo string, limit int) (string, error) {
	head, err := r.Head(branch)
	if err != nil || head == "" {
		return "", err
	}
	c, err := r.repo.CommitObject(plumbing.NewHash(head))
	for i := 0; err == nil && i < limit; i++ {
		if repo, commit := trailers(c.Message); repo == sourceRepo && commit != "" {
			return commit, nil
		}
		if c.NumParents() == 0 {
			return "", nil
		}
		c, err = c.Parent(0)
	}
	if err != nil {
		return "", fmt.Errorf("%s history: %w", branch, err)
	}
	return "", nil
}

// trailers reads CommitMessage's Source-Repo and Source-Commit lines.
func trailers(msg string) (repo, commit string) {
	for _, l := range strings.Split(msg, "\n") {
		if v, ok := strings.CutPrefix(l, "Source-Repo: "); ok {
			repo = strings.TrimSpace(v)
		} else if v, ok := strings.CutPrefix(l, "Source-Commit: "); ok {
			commit = strings.TrimSpace(v)
		}
	}
	return repo, commit
}

func oneLine(s string) string { return strings.NewReplacer("\n", " ", "\r", " ").Replace(s) }

// Find lists the files directly inside dirs on the remote branch whose content
// satisfies match. Its cost grows with those directories, so callers use it
// only as a fallback (to find a broken notebook's old outputs by header).
func (r *Repo) Find(branch string, dirs []string, match func(content []byte) bool) ([]string, error) {
	ref, err := r.repo.Reference(plumbing.NewRemoteReferenceName("origin", branch), true)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	root, err := r.tree(ref.Hash().String())
	if err != nil {
		return nil, err
	}
	var out []string
	for _, dir := range dirs {
		t, err := root.Tree(dir)
		if err != nil {
			continue // no such directory
		}
		for _, e := range t.Entries {
			if e.Mode != filemode.Regular {
				continue
			}
			p := path.Join(dir, e.Name)
			data, ok, err := readTreeFile(root, p, -1)
			if err != nil {
				return nil, err
			}
			if ok && match(data) {
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// SetAuth replaces the credentials (a short-lived token was renewed).
func (r *Repo) SetAuth(auth transport.AuthMethod) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.auth = auth
}

// URL is the remote the clone follows.
func (r *Repo) URL() string { return r.url }

// Contains reports whether commit is version or one of its ancestors, after
// fetching when version is not known yet (Airflow may have fetched a newer
// target head than this clone has seen).
func (r *Repo) Contains(ctx context.Context, version, commit string) (bool, error) {
	if version == commit {
		return true, nil
	}
	if !r.Has(version) {
		if err := r.Fetch(ctx); err != nil {
			return false, err
		}
	}
	v, err := r.repo.CommitObject(plumbing.NewHash(version))
	if err != nil {
		return false, fmt.Errorf("commit %s: %w", version, ErrNoCommit)
	}
	c, err := r.repo.CommitObject(plumbing.NewHash(commit))
	if err != nil {
		return false, fmt.Errorf("commit %s: %w", commit, ErrNoCommit)
	}
	return c.IsAncestor(v)
}

// FetchRef fetches one ref of the remote that the branch fetch does not
// cover (a pull request's refs/pull/<n>/head, also from a fork) and
// returns the commit it points at.
func (r *Repo) FetchRef(ctx context.Context, ref string) (string, error) {
	local := "refs/remotes/origin/" + strings.TrimPrefix(ref, "refs/")
	err := r.repo.FetchContext(ctx, &git.FetchOptions{
		RemoteName: "origin",
		RefSpecs:   []config.RefSpec{config.RefSpec("+" + ref + ":" + local)},
		Auth:       r.auth,
		Force:      true,
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return "", fmt.Errorf("fetch %s from %s: %w", ref, redact(r.url), err)
	}
	got, err := r.repo.Reference(plumbing.ReferenceName(local), true)
	if err != nil {
		return "", fmt.Errorf("fetch %s from %s: %w", ref, redact(r.url), err)
	}
	return got.Hash().String(), nil
}

// MergeBase is the best common ancestor of two commits ("" when they share
// no history): a pull request's changes are those from it to the head.
func (r *Repo) MergeBase(a, b string) (string, error) {
	ca, err := r.repo.CommitObject(plumbing.NewHash(a))
	if err != nil {
		return "", fmt.Errorf("commit %s: %w", a, ErrNoCommit)
	}
	cb, err := r.repo.CommitObject(plumbing.NewHash(b))
	if err != nil {
		return "", fmt.Errorf("commit %s: %w", b, ErrNoCommit)
	}
	bases, err := ca.MergeBase(cb)
	if err != nil || len(bases) == 0 {
		return "", err
	}
	return bases[0].Hash.String(), nil
}
