// Package convert turns Jupyter notebooks into Airflow 3 DAG files, Spark job
// files and Ilum service classes. It is pure: bytes in, files and a report
// out; no network, git, clock or environment, and the same input always gives
// the same output bytes.
package convert

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// Source names where a notebook came from, for the ownership header.
type Source struct {
	Repo   string // e.g. "team/notebooks"; empty for local files
	Commit string // the source commit; empty for local files
}

// Options are the inputs besides the notebook itself.
type Options struct {
	Source Source
	// Layers apply over the built-in defaults and under the notebook's own
	// front matter: server settings first, then the repository's .nbpipe.yaml.
	Layers []Layer
	// Locked keys may only come from server layers.
	Locked []string
	// Override layers apply over everything, the notebook's own front matter
	// included: explicit settings for this run, such as command-line flags.
	// The report says which notebook setting each one overrode.
	Override []Layer
}

// File is one generated output, with a slash-separated path relative to the
// output root: dags/<dag_id>.py, spark/<dag_id>.py or ilum/<dag_id>_service.py.
type File struct {
	Path    string `json:"path"`
	Target  string `json:"target"`
	Content []byte `json:"-"`
}

// Result is the outcome for one notebook. A notebook with error findings has
// no files.
type Result struct {
	Notebook     string    `json:"notebook"`
	DagID        string    `json:"dag_id,omitempty"`
	Mode         string    `json:"mode,omitempty"`
	Tasks        []string  `json:"tasks,omitempty"`
	Files        []File    `json:"files,omitempty"`
	Requirements []string  `json:"requirements,omitempty"`
	Findings     []Finding `json:"findings"`
	// Deploy is what the steps after publishing need (triggering Airflow,
	// submitting to Ilum); nil when the notebook did not convert.
	Deploy *Deploy `json:"-"`
}

// Deploy holds a converted notebook's resolved settings for the steps after
// publishing.
type Deploy struct {
	Config Config
	// Params are the notebook's parameters with their defaults: a run's conf.
	Params map[string]any
	// Pools are the Airflow pools the DAG's tasks name.
	Pools []string
	// Session holds the Livy session settings (%%configure and config).
	Session map[string]any
}

// Err summarises the error findings, or is nil when the notebook converted.
func (r *Result) Err() error {
	var msgs []string
	for _, f := range r.Findings {
		if f.Severity == SevError {
			msgs = append(msgs, f.String())
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return fmt.Errorf("convert %s: %s", r.Notebook, strings.Join(msgs, "; "))
}

// Convert converts one notebook. notebookPath is the path used in reports and
// headers (relative to the repository root for pushed notebooks).
func Convert(notebookPath string, data []byte, opt Options) *Result {
	res := &Result{Notebook: notebookPath}
	r := &reporter{findings: []Finding{}} // [] rather than null in JSON
	defer func() { res.Findings = r.findings }()

	parse := ParseNotebook
	if IsJupytextPath(notebookPath) {
		parse = ParseJupytext
	}
	nb, err := parse(notebookPath, data)
	if err != nil {
		r.add(SevError, CodeInvalidNotebook, 0, 0, "%s", strings.TrimPrefix(err.Error(), notebookPath+": "))
		return res
	}
	kernel, err := checkKernel(nb.Kernel)
	if err != nil {
		r.add(SevError, CodeKernel, 0, 0, "%v", err)
		return res
	}
	fm, fmCell, err := frontMatter(nb)
	if err != nil {
		r.add(SevError, CodeConfig, fmCell+1, 0, "%v", err)
		return res
	}
	layers := append(append(append([]Layer{}, opt.Layers...), fm...), opt.Override...)
	cfg, err := ResolveLocked(opt.Locked, layers...)
	if err != nil {
		r.add(SevError, CodeConfig, 0, 0, "%v", err)
		return res
	}
	reportOverrides(r, opt.Override, fm, fmCell)
	if cfg.DagID == "" {
		cfg.DagID = DefaultDagID(notebookPath)
	}
	res.DagID, res.Mode = cfg.DagID, cfg.Mode

	explicit := map[string]bool{}
	for _, l := range layers {
		for _, k := range layerKeys(l) {
			explicit[k] = true
		}
	}
	b := &builder{nb: nb, cfg: cfg, r: r, fmCell: fmCell, kernel: kernel, explicit: explicit}
	m := b.build()
	if r.errors() > 0 {
		return res
	}
	m.source, m.notebook = opt.Source, notebookPath
	for _, t := range m.tasks {
		res.Tasks = append(res.Tasks, t.id)
	}
	if cfg.Mode == "batch" {
		res.Tasks = []string{"run_notebook"}
	}
	res.Requirements = m.requirements
	res.Files = render(m)
	res.Deploy = m.deploy()
	return res
}

// DefaultDagID derives a DAG id from the notebook's file name.
func DefaultDagID(notebookPath string) string {
	base := path.Base(strings.ReplaceAll(notebookPath, "\\", "/"))
	base = strings.TrimSuffix(base, path.Ext(base))
	var b strings.Builder
	under := false
	for _, r := range strings.ToLower(base) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			under = false
		} else if !under && b.Len() > 0 {
			b.WriteByte('_')
			under = true
		}
	}
	id := strings.TrimRight(b.String(), "_")
	if id == "" || id[0] >= '0' && id[0] <= '9' {
		id = "nb_" + id
	}
	if len(id) > 200 {
		id = id[:200]
	}
	return strings.TrimRight(id, "_")
}

// IsNotebookPath is the one rule for which files are notebooks, in a pushed
// repository and on disk alike: a .ipynb extension in any case, outside
// hidden folders (.ipynb_checkpoints, .git, ...) and __pycache__.
func IsNotebookPath(p string) bool {
	return strings.EqualFold(path.Ext(p), ".ipynb") && visible(p)
}

// IsScriptPath reports whether a path may hold a Jupytext script notebook:
// a .py file outside hidden folders. Its header decides (SniffJupytext).
func IsScriptPath(p string) bool {
	return IsJupytextPath(p) && visible(p)
}

// visible reports whether no folder of p is hidden or __pycache__.
func visible(p string) bool {
	p = strings.ReplaceAll(p, "\\", "/")
	dirs := strings.Split(p, "/")
	for _, d := range dirs[:len(dirs)-1] {
		if strings.HasPrefix(d, ".") && d != "." && d != ".." || d == "__pycache__" {
			return false
		}
	}
	return true
}

func (m *model) deploy() *Deploy {
	d := &Deploy{Config: m.cfg, Params: map[string]any{}, Session: m.session}
	for _, p := range m.params {
		d.Params[p.name] = p.value
	}
	seen := map[string]bool{}
	add := func(p string) {
		if p != "" && !seen[p] {
			seen[p] = true
			d.Pools = append(d.Pools, p)
		}
	}
	if m.cfg.Mode == "batch" {
		add(m.cfg.Pool) // the one task's pool is the notebook's
		return d
	}
	for _, t := range m.tasks {
		if t.tags.pool != "" {
			add(t.tags.pool)
		} else {
			add(m.cfg.Pool)
		}
	}
	return d
}

// reportOverrides says which of the notebook's own settings an override
// layer replaced, so that the user sees which setting won and why.
func reportOverrides(r *reporter, over, nb []Layer, fmCell int) {
	for _, o := range over {
		for _, k := range layerKeys(o) {
			for _, l := range nb {
				if v, ok := layerValue(l, k); ok {
					ov, _ := layerValue(o, k)
					if ov != v {
						r.add(SevNotice, CodeConfig, fmCell+1, 0, "%s: %s from %s overridden by %s (%s): an explicit setting for this run wins over the notebook", k, clip(v, 60), l.Name, o.Name, clip(ov, 60))
					}
				}
			}
		}
	}
}

func layerKeys(l Layer) []string {
	var out []string
	if l.Node != nil {
		for i := 0; i+1 < len(l.Node.Content); i += 2 {
			out = append(out, l.Node.Content[i].Value)
		}
	}
	return out
}

// layerValue returns a key's value in a layer as flow-style YAML text.
func layerValue(l Layer, key string) (string, bool) {
	if l.Node == nil {
		return "", false
	}
	for i := 0; i+1 < len(l.Node.Content); i += 2 {
		if l.Node.Content[i].Value == key {
			return nodeText(l.Node.Content[i+1]), true
		}
	}
	return "", false
}

// nodeText is a YAML value on one line: a scalar's value, or a sequence or
// mapping in flow style.
func nodeText(n *yaml.Node) string {
	switch n.Kind {
	case yaml.ScalarNode:
		return n.Value
	case yaml.SequenceNode:
		parts := make([]string, len(n.Content))
		for i, c := range n.Content {
			parts[i] = nodeText(c)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case yaml.MappingNode:
		var parts []string
		for i := 0; i+1 < len(n.Content); i += 2 {
			parts = append(parts, n.Content[i].Value+": "+nodeText(n.Content[i+1]))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case yaml.AliasNode:
		if n.Alias != nil {
			return nodeText(n.Alias)
		}
	case yaml.DocumentNode:
		if len(n.Content) > 0 {
			return nodeText(n.Content[0])
		}
	}
	return ""
}

// maxNameBytes is the longest file or directory name git checkouts accept
// on common file systems.
const maxNameBytes = 255

// BadNotebookPath says why a pushed notebook path is refused ("" when it is
// fine): control characters, which could forge lines in reports and commit
// messages. Publishing and the pull request preview share it.
func BadNotebookPath(p string) string {
	for _, r := range p {
		if unicode.IsControl(r) {
			return fmt.Sprintf("notebook path %s contains control characters; rename the file", strconv.Quote(p))
		}
	}
	return ""
}

// BadOutputPath says why an output path cannot be written ("" when it can):
// a name longer than file systems allow breaks every checkout of the target.
func BadOutputPath(p string) string {
	for _, part := range strings.Split(p, "/") {
		if len(part) > maxNameBytes {
			return fmt.Sprintf("output path component %.40q... is %d bytes, over the %d-byte file name limit; shorten the dag_id or target directory", part, len(part), maxNameBytes)
		}
	}
	return ""
}
