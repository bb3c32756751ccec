// Package preview is nbpipe's pull-request "plan": it converts the notebooks
// a pull request changes, publishes nothing, and describes what publishing
// would do (each DAG's tasks, schedule, warnings and errors, and the
// generated files against the target branch) as one Markdown comment that a
// Commenter keeps up to date on the pull request. The Action and the server
// share it; nothing here depends on the forge.
package preview

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/utils/diff"
	"github.com/sergi/go-diff/diffmatchpatch"

	"github.com/nbpipe/nbpipe/convert"
	"github.com/nbpipe/nbpipe/internal/sourcerepo"
	"github.com/nbpipe/nbpipe/publish"
)

// Marker is the hidden line that identifies nbpipe's preview comment on a
// pull request: the one comment Upsert edits instead of adding another.
const Marker = "<!-- nbpipe-preview -->"

// Preview is what publishing a pull request's head would change.
type Preview struct {
	Repo string // the source repository, owner/name
	// Base is the commit the pull request's changes are counted from (the
	// merge base); Head the pull request's head commit.
	Base, Head string
	// TargetBranch is the branch of the dags repository the diff is
	// against; TargetHead its commit ("" when the branch does not exist).
	TargetBranch, TargetHead string
	Notebooks                []Notebook
	// ConfigError is set when the head's .nbpipe.yaml does not parse: every
	// notebook then fails with it.
	ConfigError string
}

// Notebook is the preview of one changed notebook.
type Notebook struct {
	Path     string
	Change   publish.ChangeKind
	DagID    string
	Mode     string
	Schedule string // "" when none (manual runs only)
	Tasks    []string
	Warnings []string
	Errors   []string
	// Files are the generated files that would change in the target
	// branch, by path.
	Files []FileDiff
}

// FileDiff is one generated file against the target branch.
type FileDiff struct {
	Path string
	// Change is added, modified or removed; a file whose content would not
	// change is not listed.
	Change         publish.ChangeKind
	Added, Removed int // lines
}

// Failed counts the notebooks that would not convert.
func (p *Preview) Failed() int {
	n := 0
	for _, nb := range p.Notebooks {
		if len(nb.Errors) > 0 {
			n++
		}
	}
	return n
}

// Source is what Compute reads from the source repository; *publish.Repo
// has it.
type Source interface {
	Changes(ctx context.Context, before, after string, keep func(path string) bool) ([]publish.Change, error)
	ReadFile(rev, name string) ([]byte, bool, error)
	ReadPrefix(rev, name string, n int64) ([]byte, bool, error)
	FileSize(rev, name string) (int64, bool, error)
}

// Target is what Compute reads from the dags repository; *publish.Repo has
// it.
type Target interface {
	Head(branch string) (string, error)
	ReadFile(rev, name string) ([]byte, bool, error)
}

// Options are a preview's settings: the same as the publishing run would
// use for the repository.
type Options struct {
	Repo         string // owner/name, for the ownership headers
	TargetDir    string // where the repository's outputs go in the target
	TargetBranch string
	// Layers are the server's or the Action's settings, under the
	// repository's .nbpipe.yaml; Locked keys only they may set.
	Layers []convert.Layer
	Locked []string
	// MaxNotebookBytes refuses larger notebooks (0: no cap).
	MaxNotebookBytes int64
	// Named lists the files called name anywhere in the target branch, for
	// the check that a new DAG's dag_id is not published under another
	// directory (Airflow's dag_ids are global); nil skips that check.
	// NamesAt makes one from the target's clone.
	Named func(name string) ([]string, error)
}

// Compute converts the notebooks that differ between base and head of the
// source (head's .nbpipe.yaml applies; when it changed, every notebook
// counts) and compares the files they generate with the target branch as
// it is. Nothing is written anywhere. Errors are the repositories' (a
// commit missing, a read failing); a notebook that does not convert is in
// the preview with its errors.
func Compute(ctx context.Context, source Source, base, head string, target Target, opt Options) (*Preview, error) {
	p := &Preview{Repo: opt.Repo, Base: base, Head: head, TargetBranch: opt.TargetBranch}
	changes, err := sourcerepo.Changed(ctx, source, base, head)
	if err != nil {
		return nil, err
	}
	if p.TargetHead, err = target.Head(opt.TargetBranch); err != nil {
		return nil, err
	}
	readTarget := func(name string) ([]byte, bool, error) {
		if p.TargetHead == "" {
			return nil, false, nil
		}
		return target.ReadFile(p.TargetHead, name)
	}
	headCfg, cfgErr, err := sourcerepo.Config(source, head)
	if err != nil {
		return nil, err
	}
	if cfgErr != nil {
		err := cfgErr
		p.ConfigError = err.Error()
		for _, c := range changes {
			p.Notebooks = append(p.Notebooks, Notebook{Path: c.Path, Change: c.Kind, Errors: []string{err.Error()}})
		}
		return p, nil
	}
	// The outputs of base's versions are found by converting them, when
	// base's .nbpipe.yaml parses.
	var baseCfg *convert.RepoConfig
	if base != "" {
		var bad error
		if baseCfg, bad, err = sourcerepo.Config(source, base); err != nil {
			return nil, err
		}
		if bad != nil {
			baseCfg = nil
		}
	}
	dir := strings.Trim(path.Clean("/"+opt.TargetDir), "/")
	claimed := map[string]string{}
	removed := map[string]bool{}
	for _, c := range changes {
		if c.Kind == publish.Removed {
			removed[convert.HeaderValue(c.Path)] = true
		}
	}
	for _, c := range changes {
		nb := Notebook{Path: c.Path, Change: c.Kind}
		produced := map[string][]byte{}
		if why := convert.BadNotebookPath(c.Path); why != "" && c.Kind != publish.Removed {
			nb.Errors = []string{why}
		} else if c.Kind != publish.Removed && headCfg.Selected(c.Path) {
			res, errs, err := convertAt(source, head, c.Path, headCfg, opt)
			if err != nil {
				return nil, err
			}
			nb.Errors = errs
			if res != nil {
				nb.DagID, nb.Mode, nb.Tasks = res.DagID, res.Mode, res.Tasks
				if res.Deploy != nil && res.Deploy.Config.Schedule != nil {
					nb.Schedule = *res.Deploy.Config.Schedule
				}
				for _, f := range res.Findings {
					if f.Severity == convert.SevWarning {
						nb.Warnings = append(nb.Warnings, f.String())
					}
				}
				for _, f := range res.Files {
					if len(nb.Errors) > 0 {
						break
					}
					target := path.Join(dir, f.Path)
					if why := convert.BadOutputPath(target); why != "" {
						nb.Errors, produced = []string{why}, map[string][]byte{}
						break
					}
					produced[target] = f.Content
				}
			}
		}
		// The outputs the notebook's version at base produced and head no
		// longer does are removed. A head that fails removes nothing: the
		// publishing run keeps the old outputs then.
		var old []string
		if c.Kind != publish.Added && base != "" && baseCfg != nil && len(nb.Errors) == 0 && baseCfg.Selected(c.Path) {
			res, _, err := convertAt(source, base, c.Path, baseCfg, opt)
			if err != nil {
				return nil, err
			}
			if res != nil && res.Err() == nil {
				for _, f := range res.Files {
					old = append(old, path.Join(dir, f.Path))
				}
			}
		}
		// Two notebooks of one pull request writing the same file: the
		// first (by path) keeps it, as the publishing run decides, even
		// when the target then refuses it to that one too.
		for f := range produced {
			if other, taken := claimed[f]; taken {
				nb.Errors = append(nb.Errors, fmt.Sprintf("%s is also produced by %s (dag_id %q is taken)", f, other, nb.DagID))
				produced, old = map[string][]byte{}, nil
				break
			}
		}
		for f := range produced {
			claimed[f] = nb.Path
		}
		if err := nb.diff(produced, old, readTarget, owner{repo: opt.Repo, removed: removed, named: opt.Named}); err != nil {
			return nil, err
		}
		p.Notebooks = append(p.Notebooks, nb)
	}
	return p, nil
}

// owner decides whether a notebook may write over an nbpipe file in the
// target: its own, or one of a notebook this pull request removes.
type owner struct {
	repo    string
	removed map[string]bool // header values of the notebooks removed
	named   func(string) ([]string, error)
}

// elsewhere says why a new DAG file p may not be written: a file of the
// same name in another dags directory of the target belongs to another
// notebook, so its dag_id is taken.
func (o owner) elsewhere(p, notebook, dagID string, read func(string) ([]byte, bool, error)) (string, error) {
	if o.named == nil || path.Base(path.Dir(p)) != "dags" {
		return "", nil
	}
	others, err := o.named(path.Base(p))
	if err != nil {
		return "", err
	}
	for _, other := range others {
		if other == p || path.Base(path.Dir(other)) != "dags" {
			continue
		}
		content, ok, err := read(other)
		if err != nil {
			return "", err
		}
		if !ok || !convert.IsOwned(content) {
			continue
		}
		if may, _ := o.mayTake(content, notebook); !may {
			r, n := convert.Owner(content)
			return fmt.Sprintf("dag_id %q is already published as %s by notebook %s of %s; Airflow DAG ids are global, pick another dag_id", dagID, other, n, r), nil
		}
	}
	return "", nil
}

func (o owner) mayTake(content []byte, notebook string) (bool, string) {
	r, n := convert.Owner(content)
	if r == convert.HeaderValue(o.repo) && (n == convert.HeaderValue(notebook) || o.removed[n]) {
		return true, ""
	}
	return false, fmt.Sprintf("already belongs to notebook %s of %s", n, r)
}

// convertAt converts a notebook at a commit; errs are why it does not
// convert (then res may hold what was resolved before the error).
func convertAt(source Source, rev, nbPath string, rc *convert.RepoConfig, opt Options) (res *convert.Result, errs []string, err error) {
	if opt.MaxNotebookBytes > 0 {
		size, _, err := source.FileSize(rev, nbPath)
		if err != nil {
			return nil, nil, err
		}
		if size > opt.MaxNotebookBytes {
			return nil, []string{fmt.Sprintf("the notebook is %d bytes, over the %d-byte limit (max_notebook_size)", size, opt.MaxNotebookBytes)}, nil
		}
	}
	data, ok, err := source.ReadFile(rev, nbPath)
	if err != nil || !ok {
		return nil, nil, err
	}
	res = convert.Convert(nbPath, data, convert.Options{
		Source: convert.Source{Repo: opt.Repo, Commit: rev},
		Layers: append(append([]convert.Layer{}, opt.Layers...), rc.Layers(nbPath)...),
		Locked: opt.Locked,
	})
	for _, f := range res.Findings {
		if f.Severity == convert.SevError {
			errs = append(errs, f.String())
		}
	}
	return res, errs, nil
}

// diff fills nb.Files: every produced file against the target branch, and
// every old output no longer produced that the target holds.
func (nb *Notebook) diff(produced map[string][]byte, old []string, read func(string) ([]byte, bool, error), own owner) error {
	var writes []FileDiff
	paths := make([]string, 0, len(produced))
	for p := range produced {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		content := produced[p]
		cur, ok, err := read(p)
		if err != nil {
			return err
		}
		if ok && !convert.IsOwned(cur) {
			nb.Warnings = append(nb.Warnings, p+" exists in the target without nbpipe's ownership header: publishing leaves it alone")
			continue
		}
		if ok {
			if may, why := own.mayTake(cur, nb.Path); !may {
				nb.Errors = append(nb.Errors, fmt.Sprintf("%s %s; dag_id %q is taken", p, why, nb.DagID))
				writes = nil
				break
			}
		} else {
			why, err := own.elsewhere(p, nb.Path, nb.DagID, read)
			if err != nil {
				return err
			}
			if why != "" {
				nb.Errors = append(nb.Errors, why)
				writes = nil
				break
			}
		}
		switch {
		case !ok:
			writes = append(writes, FileDiff{Path: p, Change: publish.Added, Added: lineCount(string(content))})
		case string(cur) != string(content):
			add, del := LineDiff(string(cur), string(content))
			writes = append(writes, FileDiff{Path: p, Change: publish.Modified, Added: add, Removed: del})
		}
	}
	nb.Files = append(nb.Files, writes...)
	for _, p := range old {
		if _, still := produced[p]; still {
			continue
		}
		cur, ok, err := read(p)
		if err != nil {
			return err
		}
		if ok && convert.IsOwned(cur) {
			nb.Files = append(nb.Files, FileDiff{Path: p, Change: publish.Removed, Removed: lineCount(string(cur))})
		}
	}
	sort.Slice(nb.Files, func(i, j int) bool { return nb.Files[i].Path < nb.Files[j].Path })
	return nil
}

// LineDiff counts the lines a line diff from a to b adds and removes.
func LineDiff(a, b string) (added, removed int) {
	for _, d := range diff.Do(a, b) {
		switch d.Type {
		case diffmatchpatch.DiffInsert:
			added += lineCount(d.Text)
		case diffmatchpatch.DiffDelete:
			removed += lineCount(d.Text)
		}
	}
	return added, removed
}

func lineCount(s string) int {
	if s == "" {
		return 0
	}
	n := strings.Count(s, "\n")
	if !strings.HasSuffix(s, "\n") {
		n++
	}
	return n
}
