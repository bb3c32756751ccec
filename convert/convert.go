// Package convert turns Jupyter notebooks into Airflow 3 DAG files, Spark job
// files and Ilum service classes. It is pure: bytes in, files and a report
// out; no network, git, clock or environment, and the same input always gives
// the same output bytes.
package convert

import (
	"fmt"
	"path"
	"strings"
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
	cfg, err := ResolveLocked(opt.Locked, append(append([]Layer{}, opt.Layers...), fm...)...)
	if err != nil {
		r.add(SevError, CodeConfig, 0, 0, "%v", err)
		return res
	}
	if cfg.DagID == "" {
		cfg.DagID = DefaultDagID(notebookPath)
	}
	res.DagID, res.Mode = cfg.DagID, cfg.Mode

	b := &builder{nb: nb, cfg: cfg, r: r, fmCell: fmCell, kernel: kernel}
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
	p = strings.ReplaceAll(p, "\\", "/")
	if !strings.EqualFold(path.Ext(p), ".ipynb") {
		return false
	}
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
	for _, t := range m.tasks {
		if p := t.tags.pool; p != "" && !seen[p] {
			seen[p] = true
			d.Pools = append(d.Pools, p)
		}
	}
	if m.cfg.Mode == "batch" && len(d.Pools) > 1 {
		d.Pools = d.Pools[:1] // the one task takes the first pool named
	}
	return d
}
