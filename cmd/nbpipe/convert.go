package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/nbpipe/nbpipe/convert"
	"github.com/nbpipe/nbpipe/internal/examples"
)

// notebookFile is a notebook to convert: where to read it, the name reports use,
// and the repository config that governs it.
type notebookFile struct {
	fsys fs.FS
	file string // path inside fsys
	name string // slash path for reports and headers
	repo *convert.RepoConfig
}

const convertUsage = `Usage: nbpipe convert [--out DIR] [--target LIST] [--mode batch|per_cell] [--json] [--config FILE] [PATH...]

Converts notebooks (files or directories, searched recursively; hidden folders
skipped) into Airflow DAGs, Spark job files and Ilum services under DIR.
Notebooks are .ipynb files and Jupytext percent-format .py scripts: a named
.py file is always read as one; in a directory only those with a Jupytext
header count, and not the paired copy of a .ipynb beside them. Without PATH it converts the bundled example notebooks. The exit status is 1
when any notebook failed (the others are still written).

Flags:
`

func runConvert(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("convert", flag.ContinueOnError)
	fl.SetOutput(stderr)
	out := fl.String("out", "nbpipe-out", "output `directory`")
	targets := fl.String("target", "", "comma-separated targets: airflow, pyfile, ilum_single, ilum_service, ilum_cron")
	mode := fl.String("mode", "", "DAG mode: batch or per_cell")
	asJSON := fl.Bool("json", false, "print the report as JSON")
	configFile := fl.String("config", "", "repository config `file` (.nbpipe.yaml) for every PATH")
	help := helpFlag(fl, convertUsage)
	paths, err := parseInterleaved(fl, args)
	if err != nil {
		return 2
	}
	if *help {
		printUsage(fl, stdout, convertUsage)
		return 0
	}
	serverLayer, forced, err := flagSettings(*targets, *mode, *configFile)
	if err != nil {
		fmt.Fprintln(stderr, "nbpipe:", err)
		return 2
	}
	var files []notebookFile
	if len(paths) == 0 {
		fmt.Fprintln(stderr, "nbpipe: no PATH given: converting the bundled example notebooks")
		files, err = collect(examples.FS, ".", "examples", forced)
	} else {
		for _, p := range paths {
			var found []notebookFile
			found, err = collectPath(p, forced)
			if err != nil {
				break
			}
			files = append(files, found...)
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "nbpipe:", err)
		return 2
	}
	results, failed := convertAll(ctx, files, serverLayer)
	failed += writeFiles(*out, results, stderr)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"out": *out, "results": results, "failed": failed}); err != nil {
			return 1
		}
	} else {
		printReport(stdout, *out, results, failed)
	}
	if failed > 0 {
		return 1
	}
	return 0
}

// flagSettings turns the --target and --mode flags into a settings layer
// (checked) and reads the --config file, for convert and check alike.
func flagSettings(targets, mode, configFile string) (convert.Layer, *convert.RepoConfig, error) {
	server := map[string]any{}
	if targets != "" {
		server["targets"] = strings.Split(targets, ",")
	}
	if mode != "" {
		server["mode"] = mode
	}
	layer, err := convert.LayerFromValues("command-line flags", server)
	if err == nil {
		_, err = convert.Resolve(layer)
	}
	if err != nil || configFile == "" {
		return layer, nil, err
	}
	data, err := os.ReadFile(configFile)
	if err != nil {
		return layer, nil, err
	}
	rc, err := convert.ParseRepoConfig(configFile, data)
	return layer, rc, err
}

// parseInterleaved lets flags follow paths (nbpipe convert nb.ipynb --json).
func parseInterleaved(fl *flag.FlagSet, args []string) ([]string, error) {
	var paths []string
	for {
		if err := fl.Parse(args); err != nil {
			return nil, err
		}
		if fl.NArg() == 0 {
			return paths, nil
		}
		paths = append(paths, fl.Arg(0))
		args = fl.Args()[1:]
	}
}

// collectPath finds notebooks under a file or directory. A directory's own
// .nbpipe.yaml applies to the notebooks below it unless --config was given.
func collectPath(p string, forced *convert.RepoConfig) ([]notebookFile, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		dir, base := filepath.Split(p)
		if dir == "" {
			dir = "."
		}
		return []notebookFile{{fsys: os.DirFS(dir), file: base, name: filepath.ToSlash(p), repo: forced}}, nil
	}
	return collect(os.DirFS(p), ".", filepath.ToSlash(p), forced)
}

func collect(fsys fs.FS, root, label string, forced *convert.RepoConfig) ([]notebookFile, error) {
	repo := forced
	if repo == nil {
		if data, err := fs.ReadFile(fsys, ".nbpipe.yaml"); err == nil {
			if repo, err = convert.ParseRepoConfig(path.Join(label, ".nbpipe.yaml"), data); err != nil {
				return nil, err
			}
		}
	}
	var out []notebookFile
	err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "__pycache__") {
				return fs.SkipDir
			}
			return nil
		}
		rel := p
		if root != "." {
			rel = strings.TrimPrefix(strings.TrimPrefix(p, root), "/")
		}
		if (convert.IsNotebookPath(rel) || convert.IsScriptPath(rel)) && repo.Selected(p) {
			out = append(out, notebookFile{fsys: fsys, file: p, name: p, repo: repo})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	out, _ = scriptNotebooks(out)
	return out, nil
}

// scriptNotebooks drops the .py files of a walk that are not notebooks: those
// without a Jupytext header, and paired copies of a .ipynb that is there too
// (the same rule a push follows), and returns them as skipped. A file that
// cannot be read stays, so its error is reported.
func scriptNotebooks(files []notebookFile) (kept, skipped []notebookFile) {
	ipynb := map[string]bool{}
	for _, f := range files {
		if convert.IsNotebookPath(f.file) {
			ipynb[convert.NotebookStem(f.file)] = true
		}
	}
	for _, f := range files {
		if !convert.IsNotebookPath(f.file) {
			data, err := fs.ReadFile(f.fsys, f.file)
			if err == nil && !convert.ScriptIsNotebook(data, ipynb[convert.NotebookStem(f.file)]) {
				skipped = append(skipped, f)
				continue
			}
		}
		kept = append(kept, f)
	}
	return kept, skipped
}

// convertAll converts every notebook; one failure never stops the others. A
// DAG id claimed by an earlier notebook is an error for the later one.
func convertAll(ctx context.Context, files []notebookFile, server convert.Layer) ([]*convert.Result, int) {
	var results []*convert.Result
	failed := 0
	owner := map[string]string{}
	for _, f := range files {
		if ctx.Err() != nil {
			break
		}
		data, err := fs.ReadFile(f.fsys, f.file)
		var res *convert.Result
		if err != nil {
			res = &convert.Result{Notebook: f.name, Findings: []convert.Finding{{Severity: convert.SevError, Code: convert.CodeInvalidNotebook, Message: err.Error()}}}
		} else {
			// The flags are this run's explicit settings: they win over the
			// repository file and the notebook's front matter.
			res = convert.Convert(f.name, data, convert.Options{Layers: f.repo.Layers(f.file), Override: []convert.Layer{server}})
		}
		if res.Err() == nil {
			if prev, dup := owner[res.DagID]; dup {
				res.Files = nil
				res.Findings = append(res.Findings, convert.Finding{Severity: convert.SevError, Code: convert.CodeConfig,
					Message: fmt.Sprintf("dag_id %q is already used by %s", res.DagID, prev)})
			} else {
				owner[res.DagID] = f.name
			}
		}
		if res.Err() != nil {
			failed++
		}
		results = append(results, res)
	}
	return results, failed
}

// writeFiles writes every result's files; a file that cannot be written fails
// its notebook (reported) and the others are still written. It returns how
// many notebooks newly failed.
func writeFiles(out string, results []*convert.Result, stderr io.Writer) int {
	failed := 0
	for _, r := range results {
		wasOK := r.Err() == nil
		for _, f := range r.Files {
			dst := filepath.Join(out, filepath.FromSlash(f.Path))
			err := os.MkdirAll(filepath.Dir(dst), 0o755)
			if err == nil {
				err = writeOwned(dst, f.Content)
			}
			if err != nil {
				msg := fmt.Sprintf("write %s: %v", dst, err)
				fmt.Fprintf(stderr, "nbpipe: %s: %s\n", r.Notebook, msg)
				r.Findings = append(r.Findings, convert.Finding{Severity: convert.SevError, Code: "write", Message: msg})
			}
		}
		if wasOK && r.Err() != nil {
			failed++
		}
	}
	return failed
}

var errNotOwned = errors.New("the file exists and was not generated by nbpipe; not overwritten")

// writeOwned never overwrites a file that lacks nbpipe's ownership marker.
func writeOwned(dst string, content []byte) error {
	if old, err := os.ReadFile(dst); err == nil && !convert.IsOwned(old) {
		return errNotOwned
	}
	return os.WriteFile(dst, content, 0o644)
}

func printReport(w io.Writer, out string, results []*convert.Result, failed int) {
	for _, r := range results {
		if r.Err() != nil {
			fmt.Fprintf(w, "FAIL  %s\n", r.Notebook)
		} else {
			var paths []string
			for _, f := range r.Files {
				paths = append(paths, path.Join(filepath.ToSlash(out), f.Path))
			}
			fmt.Fprintf(w, "ok    %s -> %s (%s, %d task(s))\n", r.Notebook, strings.Join(paths, ", "), r.Mode, len(r.Tasks))
		}
		for _, f := range r.Findings {
			fmt.Fprintf(w, "      %s\n", f)
		}
	}
	fmt.Fprintf(w, "%d notebook(s): %d converted, %d failed\n", len(results), len(results)-failed, failed)
}
