// Package sourcerepo holds the rules for what nbpipe reads from a source
// repository at a commit: which files are notebooks, which of them changed
// between two commits, and the repository's .nbpipe.yaml. The publishing run
// and the pull request preview share them, so a preview shows exactly what a
// merge would publish.
package sourcerepo

import (
	"context"
	"sort"

	"github.com/nbpipe/nbpipe/convert"
	"github.com/nbpipe/nbpipe/publish"
)

// Source is what the rules read; *publish.Repo has it.
type Source interface {
	Changes(ctx context.Context, before, after string, keep func(path string) bool) ([]publish.Change, error)
	ReadFile(rev, name string) ([]byte, bool, error)
	ReadPrefix(rev, name string, n int64) ([]byte, bool, error)
}

// sniffBytes is how much of a .py file is read to find a Jupytext header:
// headers are a few hundred bytes, and a large module is not loaded whole.
const sniffBytes = 1 << 20

// ConfigFile is the repository's own settings file.
const ConfigFile = ".nbpipe.yaml"

func candidate(p string) bool { return convert.IsNotebookPath(p) || convert.IsScriptPath(p) }

// Changed lists the notebooks that differ between from and to ("" for
// everything at to), sorted by path. When .nbpipe.yaml changed, every
// notebook at to counts as modified: its settings may change every DAG.
//
// A .py file counts only while it is a Jupytext notebook
// (convert.ScriptIsNotebook), so a script that gains a header is added, one
// that loses it is removed, and the paired copy of a .ipynb is skipped. When
// a .ipynb goes and its paired script stays, the script is added, so the
// DAG stays.
func Changed(ctx context.Context, src Source, from, to string) ([]publish.Change, error) {
	changes, err := src.Changes(ctx, from, to, candidate)
	if err != nil {
		return nil, err
	}
	if from != "" {
		cfg, err := src.Changes(ctx, from, to, func(p string) bool { return p == ConfigFile })
		if err != nil {
			return nil, err
		}
		if len(cfg) > 0 {
			all, err := src.Changes(ctx, "", to, candidate)
			if err != nil {
				return nil, err
			}
			changes = merge(changes, all, publish.Modified)
		}
	}
	s := &sniffer{ctx: ctx, src: src, stems: map[string]map[string]bool{}}
	var out []publish.Change
	for _, c := range changes {
		if convert.IsNotebookPath(c.Path) {
			out = append(out, c)
			continue
		}
		was, is := false, false
		if c.Kind != publish.Added && from != "" {
			if was, err = s.notebook(from, c.Path); err != nil {
				return nil, err
			}
		}
		if c.Kind != publish.Removed {
			if is, err = s.notebook(to, c.Path); err != nil {
				return nil, err
			}
		}
		switch {
		case was && is:
			out = append(out, publish.Change{Kind: publish.Modified, Path: c.Path})
		case is:
			out = append(out, publish.Change{Kind: publish.Added, Path: c.Path})
		case was:
			out = append(out, publish.Change{Kind: publish.Removed, Path: c.Path})
		}
	}
	// A removed .ipynb leaves its paired script the notebook.
	var orphans []publish.Change
	for _, c := range out {
		if c.Kind != publish.Removed || !convert.IsNotebookPath(c.Path) {
			continue
		}
		scripts, err := s.scripts(to, convert.NotebookStem(c.Path))
		if err != nil {
			return nil, err
		}
		for _, p := range scripts {
			if ok, err := s.notebook(to, p); err != nil {
				return nil, err
			} else if ok {
				orphans = append(orphans, publish.Change{Kind: publish.Added, Path: p})
			}
		}
	}
	out = merge(out, orphans, "")
	if out == nil {
		out = []publish.Change{}
	}
	return out, nil
}

// merge adds the changes of extra whose paths are not in changes yet, as
// kind (when set), and sorts by path.
func merge(changes, extra []publish.Change, kind publish.ChangeKind) []publish.Change {
	seen := map[string]bool{}
	for _, c := range changes {
		seen[c.Path] = true
	}
	for _, c := range extra {
		if !seen[c.Path] {
			seen[c.Path] = true
			if kind != "" {
				c.Kind = kind
			}
			changes = append(changes, c)
		}
	}
	sort.Slice(changes, func(i, j int) bool { return changes[i].Path < changes[j].Path })
	return changes
}

// sniffer reads .py headers and the .ipynb names of a commit, once each.
type sniffer struct {
	ctx   context.Context
	src   Source
	stems map[string]map[string]bool // rev -> stems of its .ipynb files
	py    map[string][]string        // rev+stem -> .py paths (filled with stems)
}

func (s *sniffer) index(rev string) (map[string]bool, error) {
	if st, ok := s.stems[rev]; ok {
		return st, nil
	}
	all, err := s.src.Changes(s.ctx, "", rev, candidate)
	if err != nil {
		return nil, err
	}
	st := map[string]bool{}
	if s.py == nil {
		s.py = map[string][]string{}
	}
	for _, c := range all {
		stem := convert.NotebookStem(c.Path)
		if convert.IsNotebookPath(c.Path) {
			st[stem] = true
		} else {
			s.py[rev+"\x00"+stem] = append(s.py[rev+"\x00"+stem], c.Path)
		}
	}
	s.stems[rev] = st
	return st, nil
}

// notebook reports whether the .py file p is a notebook at rev.
func (s *sniffer) notebook(rev, p string) (bool, error) {
	data, ok, err := s.src.ReadPrefix(rev, p, sniffBytes)
	if err != nil || !ok {
		return false, err
	}
	if !convert.SniffJupytext(data).Notebook {
		return false, nil // no need to list the commit
	}
	st, err := s.index(rev)
	if err != nil {
		return false, err
	}
	return convert.ScriptIsNotebook(data, st[convert.NotebookStem(p)]), nil
}

// scripts lists the .py files named stem at rev.
func (s *sniffer) scripts(rev, stem string) ([]string, error) {
	if _, err := s.index(rev); err != nil {
		return nil, err
	}
	return s.py[rev+"\x00"+stem], nil
}

// Config reads .nbpipe.yaml at rev; a repository without one has the empty
// configuration. bad is why the file does not parse, err a failed read.
func Config(src Source, rev string) (rc *convert.RepoConfig, bad, err error) {
	data, ok, err := src.ReadFile(rev, ConfigFile)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return &convert.RepoConfig{}, nil, nil
	}
	rc, bad = convert.ParseRepoConfig(ConfigFile, data)
	return rc, bad, nil
}
