package convert_test

import (
	"bytes"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/nbpipe/nbpipe/convert"
	"github.com/nbpipe/nbpipe/internal/examples"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

var goldenSource = convert.Source{Repo: "example/notebooks", Commit: "0123456789abcdef0123456789abcdef01234567"}

// namedNotebook is a notebook the project ships for tests: the bundled examples
// and convert/testdata/notebooks.
type namedNotebook struct {
	name string
	data []byte
}

func projectNotebooks(t testing.TB) []namedNotebook {
	t.Helper()
	var out []namedNotebook
	add := func(fsys fs.FS, dir string) {
		entries, err := fs.ReadDir(fsys, dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".ipynb") && !(dir == "notebooks" && strings.HasSuffix(e.Name(), ".py")) {
				continue
			}
			data, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, namedNotebook{name: e.Name(), data: data})
		}
	}
	add(examples.FS, ".")
	add(os.DirFS("testdata"), "notebooks")
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// report renders findings and files the way the golden report stores them.
func report(r *convert.Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "dag_id: %s\nmode: %s\ntasks: %s\nrequirements: %s\n", r.DagID, r.Mode, strings.Join(r.Tasks, " "), strings.Join(r.Requirements, " "))
	for _, f := range r.Files {
		fmt.Fprintf(&b, "file: %s (%s)\n", f.Path, f.Target)
	}
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "%s [%s]\n", f, f.Code)
	}
	return b.String()
}

// TestGolden compares every output of the project's notebooks with
// testdata/golden. The Python tier (python_test.go) proves the same files
// import in Airflow and pass ruff and black.
func TestGolden(t *testing.T) {
	for _, nb := range projectNotebooks(t) {
		t.Run(nb.name, func(t *testing.T) {
			res := convert.Convert(nb.name, nb.data, convert.Options{Source: goldenSource})
			if err := res.Err(); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join("testdata", "golden", strings.TrimSuffix(strings.TrimSuffix(nb.name, ".ipynb"), ".py"))
			want := map[string][]byte{"report.txt": []byte(report(res))}
			for _, f := range res.Files {
				want[filepath.FromSlash(f.Path)] = f.Content
			}
			if *update {
				if err := os.RemoveAll(dir); err != nil {
					t.Fatal(err)
				}
				for p, content := range want {
					dst := filepath.Join(dir, p)
					if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(dst, content, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				return
			}
			got := 0
			err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				rel, _ := filepath.Rel(dir, p)
				got++
				content, ok := want[rel]
				if !ok {
					t.Errorf("golden file %s is no longer generated", rel)
					return nil
				}
				old, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				if !bytes.Equal(old, content) {
					t.Errorf("%s differs from the golden file (run go test ./convert -update):\n%s", rel, firstDiff(string(old), string(content)))
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if got != len(want) {
				t.Errorf("golden dir has %d files, conversion made %d (run go test ./convert -update)", got, len(want))
			}
		})
	}
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d:\n  golden: %q\n  now:    %q", i+1, x, y)
		}
	}
	return "(same lines, different bytes)"
}

// corpusDir is ../shared/corpus/notebooks, or NBPIPE_CORPUS.
func corpusDir(t testing.TB) string {
	if d := os.Getenv("NBPIPE_CORPUS"); d != "" {
		return d
	}
	d := filepath.Join("..", "..", "shared", "corpus", "notebooks")
	if _, err := os.Stat(d); err != nil {
		t.Skipf("corpus not found at %s (set NBPIPE_CORPUS): %v", d, err)
	}
	return d
}

func readCorpus(t testing.TB) []namedNotebook {
	dir := corpusDir(t)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []namedNotebook
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".ipynb") {
			data, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, namedNotebook{e.Name(), data})
		}
	}
	if len(out) == 0 {
		t.Fatalf("no notebooks in %s", dir)
	}
	return out
}

// TestDeterministic converts every notebook twice, in both modes and with
// every target: the bytes must be identical.
func TestDeterministic(t *testing.T) {
	var inputs []namedNotebook
	inputs = append(inputs, projectNotebooks(t)...)
	if os.Getenv("NBPIPE_CORPUS") != "" || dirExists(filepath.Join("..", "..", "shared", "corpus", "notebooks")) {
		inputs = append(inputs, readCorpus(t)...)
	}
	for _, mode := range []string{"batch", "per_cell"} {
		layer, err := convert.LayerFromValues("test", map[string]any{"mode": mode, "targets": []string{"airflow", "pyfile", "ilum_service"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, nb := range inputs {
			a := convert.Convert(nb.name, nb.data, convert.Options{Source: goldenSource, Layers: []convert.Layer{layer}})
			b := convert.Convert(nb.name, nb.data, convert.Options{Source: goldenSource, Layers: []convert.Layer{layer}})
			if report(a) != report(b) || len(a.Files) != len(b.Files) {
				t.Fatalf("%s (%s): reports differ between runs", nb.name, mode)
			}
			for i := range a.Files {
				if !bytes.Equal(a.Files[i].Content, b.Files[i].Content) {
					t.Fatalf("%s (%s): %s differs between runs", nb.name, mode, a.Files[i].Path)
				}
			}
		}
	}
}

func dirExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// TestCorpusOutcomes pins which corpus notebooks convert and why the others
// are refused, so a conversion change cannot silently drop one.
func TestCorpusOutcomes(t *testing.T) {
	refused := map[string]string{
		"Synapse__Hitchhikers_Guide_to_DotNET_for_Apache_Spark.ipynb":                 convert.CodeKernel,
		"Synapse__Introduction_to_Azure_Synapse_Studio_Notebooks.ipynb":               convert.CodeEmpty,
		"Synapse__Migrate_snowflake_schema.ipynb":                                     convert.CodeKernel,
		"Synapse__PySpark_03_Read_and_write_from_SQL_pool_table.ipynb":                convert.CodeKernel,
		"Synapse__covid-ecdc.ipynb":                                                   convert.CodeKernel,
		"docker-spark-iceberg__Iceberg_Java_API.ipynb":                                convert.CodeKernel,
		"docker-spark-iceberg__Table_Maintenance_Spark_Procedures.ipynb":              convert.CodeKernel,
		"elyra__test-bad-notebookA.ipynb":                                             convert.CodeInvalidNotebook,
		"emr-studio-notebook-examples__query-hudi-0.9.0-dataset-with-spark-sql.ipynb": convert.CodeKernel,
		"jupytext__Notebook_with_R_magic.ipynb":                                       convert.CodeKernel,
		"jupytext__The_flavors_of_raw_cells.ipynb":                                    convert.CodeEmpty,
		"jupytext__ir_notebook.ipynb":                                                 convert.CodeKernel,
		"jupytext__sample_bash_notebook.ipynb":                                        convert.CodeKernel,
		"nbconvert__attachment.ipynb":                                                 convert.CodeEmpty,
		"papermill__binder.ipynb":                                                     convert.CodeEmpty,
		"papermill__blank-vscode.ipynb":                                               convert.CodeEmpty,
		"papermill__complex_parameters.ipynb":                                         convert.CodeSyntax,
		"papermill__line_magic_error.ipynb":                                           convert.CodeEmpty,
		"spark-py-notebooks__nb8-mllib-logit.ipynb":                                   convert.CodeSyntax, // lambda (a, b): Python 2 tuple parameters
		"papermill__notimplemented_translator.ipynb":                                  convert.CodeKernel,
		"sparkmagic__Multilang_Notebook.ipynb":                                        convert.CodeKernel,
		"sparkmagic__alti_thriftsql_demo.ipynb":                                       convert.CodeKernel,
		"sparkmagic__spark_collect_magic_example.ipynb":                               convert.CodeKernel,
	}
	converted := 0
	for _, nb := range readCorpus(t) {
		res := convert.Convert(nb.name, nb.data, convert.Options{})
		want, shouldFail := refused[nb.name]
		err := res.Err()
		switch {
		case shouldFail && err == nil:
			t.Errorf("%s: converted, but it should be refused (%s)", nb.name, want)
		case !shouldFail && err != nil:
			t.Errorf("%s: refused: %v", nb.name, err)
		case shouldFail:
			found := false
			for _, f := range res.Findings {
				if f.Severity == convert.SevError && f.Code == want {
					found = true
				}
				if f.Severity == convert.SevError && f.Code != convert.CodeInvalidNotebook && f.Code != convert.CodeKernel && f.Code != convert.CodeConfig && f.Code != convert.CodeEmpty && f.Cell == 0 {
					t.Errorf("%s: error without a cell: %s", nb.name, f)
				}
			}
			if !found {
				t.Errorf("%s: refused, but not for %s: %v", nb.name, want, err)
			}
			if len(res.Files) != 0 {
				t.Errorf("%s: refused notebook still produced files", nb.name)
			}
		default:
			converted++
			if len(res.Files) == 0 {
				t.Errorf("%s: converted without files", nb.name)
			}
		}
	}
	if converted+len(refused) < 59 {
		t.Logf("corpus has fewer notebooks than expected: %d converted, %d refused", converted, len(refused))
	}
	t.Logf("%d corpus notebooks converted, %d refused", converted, len(refused))
}

// BenchmarkConvertCorpus converts the whole corpus per iteration; MB/s is
// notebook JSON throughput. bench/bench.sh reads its output.
func BenchmarkConvertCorpus(b *testing.B) {
	nbs := readCorpus(b)
	var total int64
	for _, nb := range nbs {
		total += int64(len(nb.data))
	}
	layer, err := convert.LayerFromValues("bench", map[string]any{"targets": []string{"airflow", "pyfile", "ilum_service"}})
	if err != nil {
		b.Fatal(err)
	}
	opt := convert.Options{Source: goldenSource, Layers: []convert.Layer{layer}}
	b.SetBytes(total)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, nb := range nbs {
			convert.Convert(nb.name, nb.data, opt)
		}
	}
	b.ReportMetric(float64(len(nbs)*b.N)/b.Elapsed().Seconds(), "notebooks/s")
}
