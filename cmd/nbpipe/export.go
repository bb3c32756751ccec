package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/index"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/go-json-experiment/json/jsontext"
	"go.yaml.in/yaml/v3"

	"github.com/nbpipe/nbpipe/convert"
)

const exportUsage = `Usage: nbpipe export NOTEBOOK [--dag-id ID] [--schedule CRON|@preset|none] [--mode batch|per_cell]
                     [--trigger] [--targets LIST] [--owner NAME] [--tags LIST] [--start-date DATE]
                     [--catchup] [--retries N] [--set KEY=VALUE]... [--unset KEY]...
                     [-m MESSAGE] [--no-commit] [--push] [--remote NAME]

The JupyterLab export dialog as a command. It writes the chosen settings into
the notebook's metadata.nbpipe (JupyterLab's metadata editor shows them; the
rest of the file is kept byte for byte), checks the notebook with the rules of
conversion (the repository's .nbpipe.yaml included, and no other notebook of
the repository may hold the same dag_id), and commits the notebook, and only
the notebook, as it is on disk, to the current branch of the git repository
it lives in (linked work trees too). Other staged or modified files stay as
they were, in the index too. --push then
pushes the branch to its upstream (branch.<name>.remote, else origin); nbpipe
converts it there on push. For a Jupytext .py script the settings go under
jupyter.nbpipe in its commented YAML header (one is added when it has none).

--set takes any key of the front matter with a YAML value (--set
spark_conf='{spark.sql.shuffle.partitions: "64"}'); --schedule none (or null)
means manual runs only. Nothing is written when the settings or the notebook
do not convert.

Author: GIT_AUTHOR_NAME/GIT_AUTHOR_EMAIL, else git config user.name/user.email.
Push credentials, from what git itself would use:
  https/http remotes: user:password in the remote URL, else the git
      credential helpers (git credential fill: credential.helper such as
      store, cache, libsecret, osxkeychain, Git Credential Manager; git must
      be installed), asked only when the server requires authentication;
      accepted credentials are approved, refused ones rejected, as git does.
  ssh remotes: the ssh agent (SSH_AUTH_SOCK), else ~/.ssh/id_ed25519,
      id_ecdsa or id_rsa without a passphrase; host keys are checked against
      ~/.ssh/known_hosts (or SSH_KNOWN_HOSTS), never skipped.
  file paths: none.

Flags:
`

// exportFlagKeys maps export's own flags to front-matter keys.
var exportFlagKeys = map[string]string{
	"dag-id": "dag_id", "schedule": "schedule", "mode": "mode", "trigger": "trigger",
	"targets": "targets", "owner": "owner", "tags": "tags", "start-date": "start_date",
	"catchup": "catchup", "retries": "retries",
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func runExport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("export", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.String("dag-id", "", "the DAG id (default: from the file name)")
	fl.String("schedule", "", "cron expression, Airflow preset such as @daily, or none for manual runs")
	fl.String("mode", "", "batch (one task) or per_cell (one task per cell)")
	fl.Bool("trigger", false, "trigger a DAG run after publishing (--trigger=false to turn off)")
	fl.String("targets", "", "comma-separated: airflow, pyfile, ilum_single, ilum_service, ilum_cron")
	fl.String("owner", "", "the DAG owner")
	fl.String("tags", "", "comma-separated DAG tags")
	fl.String("start-date", "", "YYYY-MM-DD or RFC 3339")
	fl.Bool("catchup", false, "run the missed intervals since start-date")
	fl.Int("retries", 0, "task retries")
	var sets, unsets multiFlag
	fl.Var(&sets, "set", "`KEY=VALUE`: any front-matter key, VALUE in YAML (repeatable)")
	fl.Var(&unsets, "unset", "remove `KEY` from metadata.nbpipe (repeatable)")
	message := fl.String("m", "", "commit `message` (default: names the notebook and the settings)")
	noCommit := fl.Bool("no-commit", false, "write the settings into the notebook, commit nothing")
	push := fl.Bool("push", false, "push the current branch after committing")
	remote := fl.String("remote", "", "push to this remote instead of the branch's upstream")
	help := helpFlag(fl, exportUsage)
	paths, err := parseInterleaved(fl, args)
	if err != nil {
		return 2
	}
	if *help {
		printUsage(fl, stdout, exportUsage)
		return 0
	}
	if len(paths) != 1 {
		fmt.Fprint(stderr, "nbpipe export: give exactly one NOTEBOOK\n\n")
		fl.Usage()
		return 2
	}
	if *noCommit && *push {
		fmt.Fprintln(stderr, "nbpipe export: --push needs a commit; drop --no-commit")
		return 2
	}
	nbPath := paths[0]
	script := convert.IsScriptPath(filepath.Base(nbPath))
	if !convert.IsNotebookPath(filepath.Base(nbPath)) && !script {
		fmt.Fprintf(stderr, "nbpipe export: %s is not a notebook (.ipynb, or a Jupytext .py script)\n", nbPath)
		return 2
	}

	// The settings asked for, in flag order.
	settings := map[string]any{}
	var asked []string
	var flagErr error
	fl.Visit(func(f *flag.Flag) {
		key, ok := exportFlagKeys[f.Name]
		if !ok {
			return
		}
		v := f.Value.String()
		var val any
		switch key {
		case "schedule":
			if s := strings.ToLower(v); s == "none" || s == "null" || s == "" {
				val = nil
			} else {
				val = v
			}
		case "targets", "tags":
			val = splitList(v)
		case "trigger", "catchup":
			val = f.Value.(flag.Getter).Get().(bool)
		case "retries":
			val = f.Value.(flag.Getter).Get().(int)
		default:
			val = v
		}
		settings[key] = val
		asked = append(asked, key)
	})
	for _, s := range sets {
		k, v, ok := strings.Cut(s, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			flagErr = fmt.Errorf("--set %q: want KEY=VALUE", s)
			break
		}
		var val any
		if err := yaml.Unmarshal([]byte(v), &val); err != nil {
			flagErr = fmt.Errorf("--set %s: %v", k, err)
			break
		}
		if _, dup := settings[k]; !dup {
			asked = append(asked, k)
		}
		settings[k] = val
	}
	if flagErr != nil {
		fmt.Fprintln(stderr, "nbpipe export:", flagErr)
		return 2
	}
	if len(settings) == 0 && len(unsets) == 0 {
		fmt.Fprintln(stderr, "nbpipe export: no settings given: the notebook's metadata.nbpipe is kept as it is")
	}

	abs, err := filepath.Abs(nbPath)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		fmt.Fprintln(stderr, "nbpipe export:", err)
		return 1
	}
	old, err := os.ReadFile(abs)
	if err != nil {
		fmt.Fprintln(stderr, "nbpipe export:", err)
		return 1
	}
	var repo *exportRepo
	if !*noCommit {
		if repo, err = openExportRepo(abs); err != nil {
			fmt.Fprintln(stderr, "nbpipe export:", err)
			return 1
		}
	}
	// The name reports use, and that .nbpipe.yaml rules match: the path in the
	// repository, else the path as given.
	name, root := filepath.ToSlash(nbPath), filepath.Dir(abs)
	if repo != nil {
		name, root = repo.rel, repo.root
	} else if r, err := findRepoRoot(filepath.Dir(abs)); err == nil {
		root = r
		if rel, err := filepath.Rel(r, abs); err == nil {
			name = filepath.ToSlash(rel)
		}
	}

	set, where := setNbpipeMetadata, "metadata.nbpipe"
	if script {
		set, where = setJupytextNbpipe, "jupyter.nbpipe"
	}
	updated, merged, err := set(old, settings, unsets)
	if err != nil {
		fmt.Fprintf(stderr, "nbpipe export: %s: %v\n", name, err)
		return 1
	}
	if err := validateExport(name, root, abs, updated, merged, settings, asked, stderr); err != nil {
		fmt.Fprintf(stderr, "nbpipe export: %s: %v; nothing written\n", name, err)
		return 1
	}
	if !bytes.Equal(updated, old) {
		if err := writeFileAtomic(abs, updated); err != nil {
			fmt.Fprintln(stderr, "nbpipe export:", err)
			return 1
		}
	}
	fmt.Fprintf(stdout, "%s: %s %s\n", name, where, compactJSON(merged))
	if *noCommit {
		return 0
	}
	msg := *message
	if msg == "" {
		msg = exportMessage(name, settings, asked, unsets)
	}
	commit, err := repo.commitNotebook(updated, msg)
	switch {
	case errors.Is(err, errNothingToCommit):
		fmt.Fprintf(stdout, "%s is already committed with these settings on %s\n", name, repo.branchName())
	case err != nil:
		if commit.IsZero() && !bytes.Equal(updated, old) {
			_ = writeFileAtomic(abs, old) // no commit: leave the notebook as it was
		}
		fmt.Fprintln(stderr, "nbpipe export: commit:", err)
		return 1
	default:
		fmt.Fprintf(stdout, "committed %s on %s: %s\n", commit.String()[:12], repo.branchName(), firstLine(msg))
	}
	if !*push {
		fmt.Fprintln(stdout, "push the branch (git push, or nbpipe export --push) and nbpipe converts the notebook")
		return 0
	}
	res, err := repo.push(ctx, *remote, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "nbpipe export: push:", err)
		return 1
	}
	fmt.Fprintln(stdout, res)
	return 0
}

func splitList(s string) []string {
	out := []string{}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func exportMessage(name string, settings map[string]any, asked, unsets []string) string {
	var parts []string
	for _, k := range asked {
		parts = append(parts, k+"="+compactJSON(mustJSON(settings[k])))
	}
	for _, k := range unsets {
		parts = append(parts, "-"+k)
	}
	subject := "Export " + path.Base(name) + " with nbpipe"
	if len(parts) > 0 {
		return subject + "\n\nmetadata.nbpipe of " + name + ": " + strings.Join(parts, ", ") + "\n"
	}
	return subject + "\n"
}

func mustJSON(v any) []byte {
	b, err := marshalNoEscape(v, "", "")
	if err != nil {
		return []byte(fmt.Sprint(v))
	}
	return b
}

func compactJSON(b []byte) string {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return string(b)
	}
	return buf.String()
}

// marshalNoEscape is json.MarshalIndent without HTML escaping, as Python's
// json (and so Jupyter) writes: sorted keys, "<" stays "<".
func marshalNoEscape(v any, prefix, indent string) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent(prefix, indent)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// validateExport applies the conversion rules: the repository's .nbpipe.yaml,
// the new metadata.nbpipe and the notebook's own front matter and tags must
// convert; the front matter of cell 1 must not override what was asked; and no
// other notebook in the repository may resolve to the same dag_id.
func validateExport(name, root, abs string, data, merged []byte, settings map[string]any, asked []string, stderr io.Writer) error {
	var repoCfg *convert.RepoConfig
	if cfgData, err := os.ReadFile(filepath.Join(root, ".nbpipe.yaml")); err == nil {
		if repoCfg, err = convert.ParseRepoConfig(".nbpipe.yaml", cfgData); err != nil {
			return err
		}
	}
	if !repoCfg.Selected(name) {
		return errors.New("the repository's .nbpipe.yaml (include/exclude) leaves this notebook out: nbpipe would not convert it")
	}
	layers := repoCfg.Layers(name)
	meta, err := convert.ParseLayer("metadata.nbpipe", merged)
	if err != nil {
		return err
	}
	if _, err := convert.Resolve(append(append([]convert.Layer{}, layers...), meta)...); err != nil {
		return err
	}
	res := convert.Convert(name, data, convert.Options{Layers: layers})
	if res.Err() != nil {
		for _, f := range res.Findings {
			if f.Severity == convert.SevError {
				fmt.Fprintln(stderr, findingLine(name, f))
			}
		}
		return errors.New("the notebook does not convert with these settings")
	}
	// What was asked must be what conversion resolves: a raw front-matter
	// cell wins over metadata.nbpipe.
	askedLayer, err := convert.LayerFromValues("export flags", settings)
	if err != nil {
		return err
	}
	want, err := convert.Resolve(askedLayer)
	if err != nil {
		return err
	}
	got := res.Deploy.Config
	for _, k := range asked {
		if w, g := configField(want, k), configField(got, k); w.IsValid() && !reflect.DeepEqual(w.Interface(), g.Interface()) {
			return fmt.Errorf("the front matter in cell 1 sets %s, which wins over metadata.nbpipe: change or remove it there", k)
		}
	}
	// One notebook per dag_id in the repository, as publishing requires.
	others, err := collect(os.DirFS(root), ".", ".", repoCfg)
	if err != nil {
		return nil // the dag_id check is best effort; conversion passed
	}
	for _, o := range others {
		if filepath.Join(root, filepath.FromSlash(o.file)) == abs {
			continue
		}
		odata, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(o.file)))
		if err != nil {
			continue
		}
		if r := convert.Convert(o.name, odata, convert.Options{Layers: o.repo.Layers(o.file)}); r.DagID == res.DagID {
			return fmt.Errorf("dag_id %q is already used by %s", res.DagID, o.name)
		}
	}
	return nil
}

// configField is the field of c whose YAML name is key.
func configField(c convert.Config, key string) reflect.Value {
	v := reflect.ValueOf(c)
	for i := 0; i < v.NumField(); i++ {
		if v.Type().Field(i).Tag.Get("yaml") == key {
			return v.Field(i)
		}
	}
	return reflect.Value{}
}

// writeFileAtomic replaces a file through a temporary file in its directory,
// keeping its permissions.
func writeFileAtomic(p string, data []byte) error {
	st, err := os.Stat(p)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".nbpipe-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(st.Mode().Perm())
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// setNbpipeMetadata returns the notebook with metadata.nbpipe updated: the
// given settings set, the unset keys removed, the other keys kept. Only the
// bytes of metadata.nbpipe change (or are inserted); the object is written
// the way Jupyter writes notebooks (sorted keys, the file's own indentation),
// so that saving it again in JupyterLab changes nothing. It also returns the
// new metadata.nbpipe as JSON.
func setNbpipeMetadata(data []byte, settings map[string]any, unsets []string) ([]byte, []byte, error) {
	loc, err := locateNbpipe(data)
	if err != nil {
		return nil, nil, err
	}
	merged := map[string]json.RawMessage{}
	if loc.nbpipe != nil {
		if err := json.Unmarshal(loc.nbpipe, &merged); err != nil || merged == nil {
			return nil, nil, errors.New("metadata.nbpipe is not a JSON object")
		}
	}
	for _, k := range unsets {
		delete(merged, k)
	}
	for k, v := range settings {
		b, err := marshalNoEscape(v, "", "")
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %v", k, err)
		}
		merged[k] = b
	}
	compact, err := marshalNoEscape(merged, "", "")
	if err != nil {
		return nil, nil, err
	}
	if loc.nbpipe != nil && len(settings) == 0 && len(unsets) == 0 {
		return data, compact, nil // nothing to change: keep the bytes
	}
	unit := loc.unit
	memberIndent := loc.metaIndent
	var value []byte
	if loc.compact {
		value = compact
	} else {
		value, err = marshalNoEscape(merged, memberIndent, unit)
		if err != nil {
			return nil, nil, err
		}
	}
	// The new bytes go in place of data[from:to].
	var ins string
	from, to := 0, 0
	switch {
	case loc.nbpipe != nil: // replace the value
		from, to, ins = loc.nbStart, loc.nbEnd, string(value)
	case loc.metaEmpty: // {} becomes {"nbpipe": ...}
		from, to = loc.metaOpen+1, loc.metaClose
		if loc.compact {
			ins = fmt.Sprintf(`"nbpipe": %s`, value)
		} else {
			ins = fmt.Sprintf("\n%s\"nbpipe\": %s\n%s", memberIndent, value, loc.topIndent)
		}
	case loc.after >= 0: // after the member that sorts before "nbpipe"
		from, to = loc.after, loc.after
		if loc.compact {
			ins = fmt.Sprintf(`, "nbpipe": %s`, value)
		} else {
			ins = fmt.Sprintf(",\n%s\"nbpipe\": %s", memberIndent, value)
		}
	default: // first member
		from, to = loc.metaOpen+1, loc.metaOpen+1
		if loc.compact {
			ins = fmt.Sprintf(`"nbpipe": %s, `, value)
		} else {
			ins = fmt.Sprintf("\n%s\"nbpipe\": %s,", memberIndent, value)
		}
	}
	if bytes.Contains(data, []byte("\r\n")) { // keep Windows line ends
		ins = strings.ReplaceAll(ins, "\n", "\r\n")
	}
	out := make([]byte, 0, len(data)+len(ins))
	out = append(append(append(out, data[:from]...), ins...), data[to:]...)
	return out, compact, nil
}

// nbpipeLocation is where metadata and metadata.nbpipe are in a notebook's bytes.
type nbpipeLocation struct {
	metaOpen, metaClose int    // offsets of metadata's { and }
	metaEmpty           bool   // metadata is {}
	nbpipe              []byte // the raw value of metadata.nbpipe, nil when absent
	nbStart, nbEnd      int    // its span
	after               int    // end of the member after which "nbpipe" sorts; -1: first
	compact             bool   // metadata is written on one line
	topIndent           string // indentation of the top-level members
	metaIndent          string // indentation of metadata's members
	unit                string // one level of indentation
}

func locateNbpipe(data []byte) (*nbpipeLocation, error) {
	dec := jsontext.NewDecoder(bytes.NewReader(data), jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return nil, errors.New("not a JSON object: not a notebook")
	}
	topOpen := int(dec.InputOffset()) - 1
	loc := &nbpipeLocation{after: -1}
	found := false
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return nil, fmt.Errorf("invalid JSON: %v", err)
		}
		if tok.String() != "metadata" || found {
			if err := dec.SkipValue(); err != nil {
				return nil, fmt.Errorf("invalid JSON: %v", err)
			}
			continue
		}
		found = true
		nameEnd := int(dec.InputOffset())
		loc.topIndent = lineIndent(data, nameEnd-len(`"metadata"`))
		if dec.PeekKind() != '{' {
			return nil, errors.New("metadata is not a JSON object")
		}
		if _, err := dec.ReadToken(); err != nil {
			return nil, err
		}
		loc.metaOpen = int(dec.InputOffset()) - 1
		prevEnd := -1
		first := true
		for dec.PeekKind() != '}' {
			tok, err := dec.ReadToken()
			if err != nil {
				return nil, fmt.Errorf("invalid JSON: %v", err)
			}
			name := tok.String()
			if first {
				loc.metaIndent = lineIndent(data, int(dec.InputOffset())-len(name)-2)
				first = false
			}
			v, err := dec.ReadValue()
			if err != nil {
				return nil, fmt.Errorf("invalid JSON: %v", err)
			}
			end := int(dec.InputOffset())
			switch {
			case name == "nbpipe":
				loc.nbpipe = append([]byte(nil), v...)
				loc.nbStart, loc.nbEnd = end-len(v), end
			case name < "nbpipe":
				loc.after = end
			}
			prevEnd = end
		}
		if _, err := dec.ReadToken(); err != nil {
			return nil, err
		}
		loc.metaClose = int(dec.InputOffset()) - 1
		loc.metaEmpty = prevEnd < 0
	}
	if !found {
		return nil, errors.New("the notebook has no metadata object (nbformat 4 requires one)")
	}
	// Indentation: Jupyter writes indent=1; follow the file.
	loc.compact = !bytes.Contains(data[topOpen:loc.metaClose+1], []byte("\n"))
	if loc.topIndent == "" && !loc.compact {
		loc.topIndent = " "
	}
	if loc.metaEmpty || loc.metaIndent == "" {
		loc.unit = loc.topIndent
		loc.metaIndent = loc.topIndent + loc.unit
	} else if strings.HasPrefix(loc.metaIndent, loc.topIndent) && len(loc.metaIndent) > len(loc.topIndent) {
		loc.unit = loc.metaIndent[len(loc.topIndent):]
	} else {
		loc.unit = " "
	}
	if loc.compact {
		loc.topIndent, loc.metaIndent, loc.unit = "", "", ""
	}
	return loc, nil
}

// lineIndent is the whitespace that leads the line holding offset i, when
// only whitespace stands before i on that line.
func lineIndent(data []byte, i int) string {
	j := i
	for j > 0 && (data[j-1] == ' ' || data[j-1] == '\t') {
		j--
	}
	if j > 0 && data[j-1] != '\n' {
		return ""
	}
	return string(data[j:i])
}

// findRepoRoot is the nearest directory at or above dir holding .git.
func findRepoRoot(dir string) (string, error) {
	for {
		if _, err := os.Stat(filepath.Join(dir, ".git")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not in a git repository")
		}
		dir = parent
	}
}

var errNothingToCommit = errors.New("nothing to commit")

// exportRepo is the git repository a notebook lives in.
type exportRepo struct {
	repo   *git.Repository
	root   string // the work tree
	gitDir string
	rel    string // the notebook's slash path in the work tree
	branch plumbing.ReferenceName
}

func openExportRepo(notebook string) (*exportRepo, error) {
	repo, err := git.PlainOpenWithOptions(filepath.Dir(notebook), &git.PlainOpenOptions{DetectDotGit: true, EnableDotGitCommonDir: true})
	if err != nil {
		return nil, fmt.Errorf("%s is not in a git repository (%v); --no-commit only writes the settings", notebook, err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return nil, err
	}
	root, err := filepath.EvalSymlinks(wt.Filesystem.Root())
	if err != nil {
		return nil, err
	}
	rel, err := filepath.Rel(root, notebook)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return nil, fmt.Errorf("%s is outside the work tree %s", notebook, root)
	}
	fsStorage, ok := repo.Storer.(*filesystem.Storage)
	if !ok {
		return nil, errors.New("unsupported repository storage")
	}
	head, err := repo.Storer.Reference(plumbing.HEAD)
	if err != nil {
		return nil, err
	}
	if head.Type() != plumbing.SymbolicReference || !head.Target().IsBranch() {
		return nil, errors.New("HEAD is detached: check out a branch first (git switch BRANCH)")
	}
	return &exportRepo{repo: repo, root: root, gitDir: fsStorage.Filesystem().Root(), rel: filepath.ToSlash(rel), branch: head.Target()}, nil
}

func (r *exportRepo) branchName() string { return r.branch.Short() }

// signature is git's identity: GIT_<ROLE>_NAME/EMAIL, else the [author] or
// [committer] section, else [user], from the repository and global config.
func (r *exportRepo) signature(role string) (object.Signature, error) {
	cfg, err := r.repo.ConfigScoped(config.SystemScope)
	if err != nil {
		return object.Signature{}, err
	}
	name, email := cfg.User.Name, cfg.User.Email
	switch role {
	case "AUTHOR":
		name, email = firstNonEmpty(cfg.Author.Name, name), firstNonEmpty(cfg.Author.Email, email)
	case "COMMITTER":
		name, email = firstNonEmpty(cfg.Committer.Name, name), firstNonEmpty(cfg.Committer.Email, email)
	}
	name = firstNonEmpty(os.Getenv("GIT_"+role+"_NAME"), name)
	email = firstNonEmpty(os.Getenv("GIT_"+role+"_EMAIL"), email)
	if name == "" || email == "" {
		return object.Signature{}, errors.New("who are you? set git config user.name and user.email (git config --global user.name \"Your Name\"; git config --global user.email you@example.com)")
	}
	return object.Signature{Name: name, Email: email, When: time.Now()}, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// commitNotebook commits the notebook's new content, and nothing else, on the
// current branch: the commit's tree is HEAD's with the notebook's blob
// replaced (or added), whatever else is staged. The index keeps every other
// entry as it was; the notebook's entry becomes the committed blob. git's
// index.lock is held throughout, as git does.
func (r *exportRepo) commitNotebook(data []byte, msg string) (plumbing.Hash, error) {
	lockPath := filepath.Join(r.gitDir, "index.lock")
	lock, err := os.OpenFile(lockPath, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return plumbing.ZeroHash, fmt.Errorf("%s exists: another git process is running in this repository (remove the file if it is not)", lockPath)
		}
		return plumbing.ZeroHash, err
	}
	locked := true
	defer func() {
		if locked {
			lock.Close()
			os.Remove(lockPath)
		}
	}()
	idx, err := r.repo.Storer.Index()
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("read the index: %v", err)
	}
	for _, e := range idx.Entries {
		if e.Name == r.rel && e.Stage > 0 { // stage 0 is merged (go-git's index.Merged is 1)
			return plumbing.ZeroHash, fmt.Errorf("%s has a merge conflict: resolve it first", r.rel)
		}
	}

	st := r.repo.Storer
	blob := st.NewEncodedObject()
	blob.SetType(plumbing.BlobObject)
	w, err := blob.Writer()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if _, err := w.Write(data); err != nil {
		return plumbing.ZeroHash, err
	}
	if err := w.Close(); err != nil {
		return plumbing.ZeroHash, err
	}
	blobHash, err := st.SetEncodedObject(blob)
	if err != nil {
		return plumbing.ZeroHash, err
	}

	oldRef, err := st.Reference(r.branch)
	if err != nil && !errors.Is(err, plumbing.ErrReferenceNotFound) {
		return plumbing.ZeroHash, err
	}
	var parents []plumbing.Hash
	parentTree := plumbing.ZeroHash
	if oldRef != nil {
		parent, err := object.GetCommit(st, oldRef.Hash())
		if err != nil {
			return plumbing.ZeroHash, err
		}
		parents, parentTree = []plumbing.Hash{parent.Hash}, parent.TreeHash
	}
	mode := filemode.Regular
	if fi, err := os.Stat(filepath.Join(r.root, filepath.FromSlash(r.rel))); err == nil && fi.Mode().Perm()&0o111 != 0 {
		mode = filemode.Executable
	}
	treeHash, err := replaceInTree(st, parentTree, strings.Split(r.rel, "/"), blobHash, mode)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if treeHash == parentTree && oldRef != nil {
		return plumbing.ZeroHash, errNothingToCommit
	}
	author, err := r.signature("AUTHOR")
	if err != nil {
		return plumbing.ZeroHash, err
	}
	committer, err := r.signature("COMMITTER")
	if err != nil {
		return plumbing.ZeroHash, err
	}
	commit := &object.Commit{Author: author, Committer: committer, Message: msg, TreeHash: treeHash, ParentHashes: parents}
	cobj := st.NewEncodedObject()
	if err := commit.Encode(cobj); err != nil {
		return plumbing.ZeroHash, err
	}
	commitHash, err := st.SetEncodedObject(cobj)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if err := st.CheckAndSetReference(plumbing.NewHashReference(r.branch, commitHash), oldRef); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("%s moved while exporting (%v): run the export again", r.branch.Short(), err)
	}

	// The index: only the notebook's entry changes. The stat data left zero
	// makes git hash the file once more on its next look; it then finds it
	// clean. The cached-tree extension is not written (git rebuilds it).
	e, err := idx.Entry(r.rel)
	if err != nil {
		e = idx.Add(r.rel)
	}
	*e = index.Entry{Name: r.rel, Hash: blobHash, Mode: mode, Size: uint32(len(data))}
	if fi, err := os.Stat(filepath.Join(r.root, filepath.FromSlash(r.rel))); err == nil {
		e.ModifiedAt = fi.ModTime()
	}
	idx.Cache = nil
	if err := index.NewEncoder(lock).Encode(idx); err != nil {
		return commitHash, fmt.Errorf("committed %s, but writing the index failed: %v (git reset -- %s repairs it)", commitHash, err, r.rel)
	}
	if err := lock.Close(); err != nil {
		return commitHash, err
	}
	if err := os.Rename(lockPath, filepath.Join(r.gitDir, "index")); err != nil {
		return commitHash, err
	}
	locked = false
	return commitHash, nil
}

// replaceInTree returns the tree that is treeHash (zero: empty) with the blob
// at path parts set to blob.
func replaceInTree(st storer.EncodedObjectStorer, treeHash plumbing.Hash, parts []string, blob plumbing.Hash, mode filemode.FileMode) (plumbing.Hash, error) {
	var entries []object.TreeEntry
	if !treeHash.IsZero() {
		t, err := object.GetTree(st, treeHash)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		entries = append(entries, t.Entries...)
	}
	i := slices.IndexFunc(entries, func(e object.TreeEntry) bool { return e.Name == parts[0] })
	var entry object.TreeEntry
	if len(parts) == 1 {
		if i >= 0 && entries[i].Mode == filemode.Dir {
			return plumbing.ZeroHash, fmt.Errorf("%s is a directory in HEAD", parts[0])
		}
		entry = object.TreeEntry{Name: parts[0], Mode: mode, Hash: blob}
	} else {
		sub := plumbing.ZeroHash
		if i >= 0 {
			if entries[i].Mode != filemode.Dir {
				return plumbing.ZeroHash, fmt.Errorf("%s is not a directory in HEAD", parts[0])
			}
			sub = entries[i].Hash
		}
		h, err := replaceInTree(st, sub, parts[1:], blob, mode)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		entry = object.TreeEntry{Name: parts[0], Mode: filemode.Dir, Hash: h}
	}
	if i >= 0 {
		if entries[i] == entry {
			return treeHash, nil
		}
		entries[i] = entry
	} else {
		entries = append(entries, entry)
	}
	// git's order: names compared as if directories ended in "/".
	key := func(e object.TreeEntry) string {
		if e.Mode == filemode.Dir {
			return e.Name + "/"
		}
		return e.Name
	}
	slices.SortFunc(entries, func(a, b object.TreeEntry) int { return strings.Compare(key(a), key(b)) })
	t := &object.Tree{Entries: entries}
	o := st.NewEncodedObject()
	if err := t.Encode(o); err != nil {
		return plumbing.ZeroHash, err
	}
	return st.SetEncodedObject(o)
}

// push pushes the current branch to its upstream (or to remoteName), never
// forced, with the credentials git itself would use.
func (r *exportRepo) push(ctx context.Context, remoteName string, stderr io.Writer) (string, error) {
	cfg, err := r.repo.Config()
	if err != nil {
		return "", err
	}
	local := r.branch
	dst := local
	if b, ok := cfg.Branches[local.Short()]; ok && (remoteName == "" || remoteName == b.Remote) {
		remoteName = b.Remote
		if b.Merge != "" {
			dst = b.Merge
		}
	}
	if remoteName == "" {
		remoteName = "origin"
	}
	rc, ok := cfg.Remotes[remoteName]
	if !ok || len(rc.URLs) == 0 {
		return "", fmt.Errorf("no remote %q: git remote add %s URL", remoteName, remoteName)
	}
	head, err := r.repo.Storer.Reference(local)
	if err != nil {
		return "", err
	}
	ep, err := transport.NewEndpoint(rc.URLs[0])
	if err != nil {
		return "", err
	}
	opts := &git.PushOptions{
		RemoteName: remoteName,
		RefSpecs:   []config.RefSpec{config.RefSpec(local.String() + ":" + dst.String())},
	}
	var cred *gitCredentials
	switch ep.Protocol {
	case "http", "https":
		if ep.User != "" && ep.Password != "" {
			opts.Auth = &githttp.BasicAuth{Username: ep.User, Password: ep.Password}
		}
	case "ssh":
		if opts.Auth, err = sshAuth(ep.User); err != nil {
			return "", err
		}
	}
	err = r.repo.PushContext(ctx, opts)
	if (errors.Is(err, transport.ErrAuthenticationRequired) || errors.Is(err, transport.ErrAuthorizationFailed)) &&
		(ep.Protocol == "http" || ep.Protocol == "https") && opts.Auth == nil {
		// As git does: ask the credential helpers only when the server wants
		// credentials, then approve or reject what they gave.
		cred, err = credentialFill(ctx, r.root, rc.URLs[0], stderr)
		if err != nil {
			return "", fmt.Errorf("%s needs credentials and git credential fill gave none: %v (configure a credential helper, e.g. git config --global credential.helper store, or put a token in the remote URL)", redactURL(rc.URLs[0]), err)
		}
		opts.Auth = &githttp.BasicAuth{Username: cred.username, Password: cred.password}
		err = r.repo.PushContext(ctx, opts)
		if errors.Is(err, transport.ErrAuthenticationRequired) || errors.Is(err, transport.ErrAuthorizationFailed) {
			cred.send(ctx, "reject")
		} else if err == nil || errors.Is(err, git.NoErrAlreadyUpToDate) {
			cred.send(ctx, "approve")
		}
	}
	target := fmt.Sprintf("%s %s (%s)", remoteName, dst.Short(), redactURL(rc.URLs[0]))
	switch {
	case errors.Is(err, git.NoErrAlreadyUpToDate):
		return target + " is already up to date", nil
	case err != nil && strings.Contains(err.Error(), "non-fast-forward"):
		return "", fmt.Errorf("%s has commits this branch lacks: git pull --rebase, then push (nbpipe never forces): %v", target, err)
	case err != nil:
		return "", fmt.Errorf("%s: %v", target, err)
	}
	if dst.IsBranch() {
		tracking := plumbing.NewRemoteReferenceName(remoteName, dst.Short())
		_ = r.repo.Storer.SetReference(plumbing.NewHashReference(tracking, head.Hash()))
	}
	return fmt.Sprintf("pushed %s to %s", head.Hash().String()[:12], target), nil
}

// redactURL drops the password from a URL for messages.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			return u.String()
		}
	}
	return s
}

// sshAuth is the ssh agent, else the first default key without a passphrase.
// Host keys are checked against known_hosts (go-git's default).
func sshAuth(user string) (transport.AuthMethod, error) {
	if user == "" {
		user = "git"
	}
	if os.Getenv("SSH_AUTH_SOCK") != "" {
		return gitssh.NewSSHAgentAuth(user)
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return nil, err
	}
	for _, k := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
		p := filepath.Join(home, ".ssh", k)
		if _, err := os.Stat(p); err != nil {
			continue
		}
		auth, err := gitssh.NewPublicKeysFromFile(user, p, "")
		if err != nil {
			return nil, fmt.Errorf("%s: %v (start an ssh agent and ssh-add the key)", p, err)
		}
		return auth, nil
	}
	return nil, errors.New("no ssh agent (SSH_AUTH_SOCK) and no key in ~/.ssh (id_ed25519, id_ecdsa, id_rsa)")
}

// gitCredentials is what git credential fill answered, to approve or reject.
type gitCredentials struct {
	dir, url, username, password string
	attrs                        []string
}

// credentialFill asks git's credential helpers (and, on a terminal, the
// user) for the URL's credentials, as git push would.
func credentialFill(ctx context.Context, dir, rawURL string, stderr io.Writer) (*gitCredentials, error) {
	cmd := exec.CommandContext(ctx, "git", "credential", "fill")
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader("url=" + rawURL + "\n\n")
	cmd.Stderr = stderr
	cmd.Env = os.Environ()
	if fi, err := os.Stdin.Stat(); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		cmd.Env = append(cmd.Env, "GIT_TERMINAL_PROMPT=0")
	}
	out, err := cmd.Output()
	if err != nil {
		return nil, err
	}
	c := &gitCredentials{dir: dir, url: rawURL}
	for _, line := range strings.Split(string(out), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		switch k {
		case "username":
			c.username = v
		case "password":
			c.password = v
		}
		c.attrs = append(c.attrs, line)
	}
	if c.password == "" {
		return nil, errors.New("no password")
	}
	return c, nil
}

// send tells the credential helpers that the credentials worked (approve) or
// did not (reject).
func (c *gitCredentials) send(ctx context.Context, action string) {
	cmd := exec.CommandContext(ctx, "git", "credential", action)
	cmd.Dir = c.dir
	cmd.Stdin = strings.NewReader(strings.Join(c.attrs, "\n") + "\n\n")
	_ = cmd.Run()
}
