package convert

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/nbpipe/nbpipe/internal/examples"
)

// The fuzz targets check two promises: nothing panics, and a generated file
// holds no code that did not come from nbpipe itself or from a code cell's
// text inside a string literal. Their seeds run with every `go test`.

func seedNotebooks(f *testing.F) [][]byte {
	var out [][]byte
	add := func(fsys fs.FS, dir string) {
		entries, _ := fs.ReadDir(fsys, dir)
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".ipynb") {
				if data, err := fs.ReadFile(fsys, filepath.ToSlash(filepath.Join(dir, e.Name()))); err == nil {
					out = append(out, data)
				}
			}
		}
	}
	add(examples.FS, ".")
	add(os.DirFS("testdata"), "notebooks")
	if len(out) == 0 {
		f.Fatal("no seed notebooks")
	}
	return out
}

var (
	vocabOnce sync.Once
	vocab     map[string]bool
)

// templateVocabulary is every name nbpipe's own code uses, collected by
// rendering the project's notebooks with every target in both modes.
func templateVocabulary(t testing.TB) map[string]bool {
	vocabOnce.Do(func() {
		vocab = map[string]bool{}
		var seeds [][]byte
		for _, dir := range []struct {
			fsys fs.FS
			dir  string
		}{{examples.FS, "."}, {os.DirFS("testdata"), "notebooks"}} {
			entries, _ := fs.ReadDir(dir.fsys, dir.dir)
			for _, e := range entries {
				if data, err := fs.ReadFile(dir.fsys, filepath.ToSlash(filepath.Join(dir.dir, e.Name()))); err == nil && strings.HasSuffix(e.Name(), ".ipynb") {
					seeds = append(seeds, data)
				}
			}
		}
		for _, mode := range []string{"batch", "per_cell"} {
			l, _ := LayerFromValues("t", map[string]any{"mode": mode, "targets": []string{"airflow", "pyfile", "ilum_service"}})
			for _, data := range seeds {
				res := Convert("seed.ipynb", data, Options{Layers: []Layer{l}})
				for _, f := range res.Files {
					for _, ll := range scanSource(string(f.Content)).lines {
						for _, tok := range ll.toks {
							if tok.kind == tokName && !strings.HasPrefix(tok.text, "t_") {
								vocab[tok.text] = true
							}
						}
					}
				}
			}
		}
	})
	if len(vocab) < 50 {
		t.Fatalf("template vocabulary too small (%d names)", len(vocab))
	}
	return vocab
}

// checkGenerated asserts the properties every generated file must have.
func checkGenerated(t *testing.T, res *Result) {
	t.Helper()
	if res.Err() != nil {
		if len(res.Files) != 0 {
			t.Fatalf("refused notebook produced files: %v", res.Err())
		}
		return
	}
	v := templateVocabulary(t)
	taskIDs := map[string]bool{}
	for _, id := range res.Tasks {
		taskIDs[id] = true
	}
	for _, f := range res.Files {
		src := string(f.Content)
		if !IsOwned(f.Content) {
			t.Fatalf("%s: no ownership marker", f.Path)
		}
		sr := scanSource(src)
		if len(sr.issues) > 0 || sr.incomplete() != "" {
			t.Fatalf("%s: generated file does not scan as Python: %v %s\n%s", f.Path, sr.issues, sr.incomplete(), src)
		}
		for _, ll := range sr.lines {
			if ll.kind != lineCode && ll.kind != lineBlank {
				t.Fatalf("%s: line %d is not Python: %q", f.Path, ll.first, ll.text(src))
			}
			for _, tok := range ll.toks {
				if tok.kind != tokName || v[tok.text] {
					continue
				}
				if strings.HasPrefix(tok.text, "t_") && taskIDs[strings.TrimPrefix(tok.text, "t_")] {
					continue
				}
				if tok.text == ServiceClassName(res.DagID) {
					continue // built from the validated dag_id's letters and digits only
				}
				t.Fatalf("%s: line %d: name %q did not come from nbpipe's templates: input reached code outside a literal\n%s", f.Path, tok.line, tok.text, src)
			}
		}
	}
}

func FuzzConvert(f *testing.F) {
	for _, s := range seedNotebooks(f) {
		f.Add(s)
	}
	f.Add([]byte(`{"nbformat": 4, "cells": [{"cell_type": "code", "source": "x = (\n", "metadata": {}}]}`))
	f.Add([]byte(`{"nbformat": 3, "worksheets": [{"cells": [{"cell_type": "code", "input": "%%sql\nSELECT 1", "metadata": {"tags": ["task:a"]}}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, mode := range []string{"batch", "per_cell"} {
			l, _ := LayerFromValues("fuzz", map[string]any{"mode": mode, "targets": []string{"airflow", "pyfile", "ilum_service"}})
			checkGenerated(t, Convert("fuzz.ipynb", data, Options{Layers: []Layer{l}, Source: Source{Repo: "r\n# x", Commit: "\x00"}}))
		}
	})
}

// notebookWith builds a notebook around one cell's source and tags, and an
// optional front matter.
func notebookWith(frontMatter, source string, tags []string) []byte {
	cells := []map[string]any{}
	if frontMatter != "" {
		cells = append(cells, map[string]any{"cell_type": "raw", "metadata": map[string]any{}, "source": "---\n" + frontMatter + "\n---\n"})
	}
	cells = append(cells,
		map[string]any{"cell_type": "code", "metadata": map[string]any{"tags": tags}, "source": source},
		map[string]any{"cell_type": "code", "metadata": map[string]any{"tags": []string{"task:last"}}, "source": "done = True\n"},
	)
	data, _ := json.Marshal(map[string]any{"nbformat": 4, "nbformat_minor": 5, "metadata": map[string]any{}, "cells": cells})
	return data
}

func FuzzCellSource(f *testing.F) {
	for _, s := range []string{
		"print('x')\n", "if x:\n    print(1)\n", "%pip install a\n!ls\nobj?\n", "x = '''\n%magic\n'''\n",
		"f\"{a!r:>{w}}\"\n", "def f(\n", "@dec\n", "x = 1 \\\n", "s = '\\\n'", "get_ipython().run_line_magic('x', '')\n",
		"for i in y:\n    display(i)\nelse:\n    print(2)\n", "%%sql -o df\nSELECT ';' FROM t; SELECT 2\n", "%%configure -f\n{\"conf\": {}}\n",
		"x = 1\r\ny = 2\r\n", "%time y = f(1)\n", "if a:\n    %time b = 2\n", "\t\tprint(1)\n", "x = \"\"\"\"\"\"\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		sr := scanSource(src)
		prev := 0
		for _, l := range sr.lines {
			if l.start < prev || l.end < l.start || l.end > len(src) || l.last < l.first {
				t.Fatalf("bad line bounds %+v (prev end %d, len %d)", l, prev, len(src))
			}
			prev = l.end
		}
		s := sanitize(src, sr, sanitizeOptions{stripPrint: true, stripDisplay: true})
		// Sanitizing keeps every physical line: kept lines are byte-identical,
		// removed ones become nbpipe's comment (or pass) or an empty line.
		in, out := strings.Split(src, "\n"), strings.Split(s.code, "\n")
		if len(in) != len(out) {
			t.Fatalf("line count changed: %d -> %d\n%q\n%q", len(in), len(out), src, s.code)
		}
		for i := range in {
			o := strings.TrimLeft(out[i], " \t\f")
			timed := strings.HasSuffix(out[i], "  "+timeMarker) && strings.Contains(in[i], strings.TrimSpace(strings.TrimSuffix(out[i], "  "+timeMarker)))
			if out[i] != in[i] && o != "" && !timed && !strings.HasPrefix(o, "# nbpipe: removed ") && !strings.HasPrefix(o, "pass  # nbpipe: removed ") {
				t.Fatalf("line %d changed to something that is not a removal marker: %q -> %q", i+1, in[i], out[i])
			}
		}
		for _, mode := range []string{"batch", "per_cell"} {
			fm := "mode: " + mode + "\ntargets: [airflow, pyfile, ilum_service]"
			checkGenerated(t, Convert("fuzz.ipynb", notebookWith(fm, src, nil), Options{}))
		}
	})
}

func FuzzFrontMatter(f *testing.F) {
	for _, s := range []string{
		"dag_id: a\nschedule: '@daily'", "schedule: null", "shedule: x", "params: {a: 1, b: [1, 'x']}",
		"nbpipe:\n  mode: per_cell\ntitle: x", "tags: [\"a'\\\"\"]\nowner: \"o\\n\"", "retries: -1", "spark_conf: {\"a\": \"b\"}",
		"start_date: 2025-01-01T05:06:07Z", "cron_expression: '*/5 * * * *'", "{", "- a\n- b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, fm string) {
		checkGenerated(t, Convert("fuzz.ipynb", notebookWith(fm, "x = 1\n", []string{"parameters"}), Options{}))
	})
}

func FuzzTags(f *testing.F) {
	for _, s := range []string{"task:a", "retries:3", "after:last", "timeout:5m", "pool:p\"x", "trigger_rule:all_done", "skip", "parameters", "task:x\"); os.system('id')#"} {
		f.Add(s, "per_cell")
	}
	f.Fuzz(func(t *testing.T, tag, mode string) {
		if mode != "batch" {
			mode = "per_cell"
		}
		checkGenerated(t, Convert("fuzz.ipynb", notebookWith("mode: "+mode, "y = 2\n", []string{tag, "task:first"}), Options{}))
	})
}
