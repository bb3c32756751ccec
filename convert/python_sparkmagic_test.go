package convert_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nbpipe/nbpipe/convert"
)

// TestOtherKernelsRunInPySpark converts notebooks whose cells are not
// IPython's and runs their job file and service class under real PySpark:
//   - sparkmagic's own Spark (Scala) kernel example, whose exported cells
//     are %%sql. It reads hivesampletable (an HDInsight sample); a
//     temporary view stands in for it.
//   - a Synapse Studio notebook whose language is Spark SQL (cells without
//     a magic are SQL), with a %%pyspark cell and an assert_true check.
func TestOtherKernelsRunInPySpark(t *testing.T) {
	v := venv(t)
	for _, tc := range []struct {
		name, path, setup string
	}{
		{"sparkmagic Spark kernel", filepath.Join(corpusDir(t), "sparkmagic__Spark_Kernel.ipynb"),
			"CREATE OR REPLACE TEMP VIEW hivesampletable AS SELECT * FROM VALUES (1, 'a'), (2, 'b') AS t(clientid, querytime)"},
		{"Synapse Spark SQL", filepath.Join("testdata", "notebooks", "probe_synapse_sparksql.ipynb"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := os.ReadFile(tc.path)
			if err != nil {
				t.Skipf("notebook missing: %v", err)
			}
			layer, err := convert.LayerFromValues("test", map[string]any{"targets": []string{"pyfile", "ilum_service"}})
			if err != nil {
				t.Fatal(err)
			}
			res := convert.Convert(filepath.Base(tc.path), data, convert.Options{Layers: []convert.Layer{layer}})
			if err := res.Err(); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			for _, f := range res.Files {
				dst := filepath.Join(dir, filepath.FromSlash(f.Path))
				if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(dst, f.Content, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var setup []string
			if tc.setup != "" {
				setup = []string{"--setup-sql", tc.setup}
			}
			t.Run("pyfile", func(t *testing.T) {
				args := append([]string{script("run_spark.py"), "pyfile", filepath.Join(dir, "spark", res.DagID+".py")}, setup...)
				if _, stderr, err := runPython(t, v, 10*time.Minute, args...); err != nil {
					t.Fatalf("job file failed: %v\n%s", err, tail(stderr, 40))
				}
			})
			t.Run("service", func(t *testing.T) {
				args := append([]string{script("run_spark.py"), "service", filepath.Join(dir, "ilum", res.DagID+"_service.py"),
					"--class", convert.ServiceClassName(res.DagID), "--no-ilum"}, setup...)
				stdout, stderr, err := runPython(t, v, 10*time.Minute, args...)
				if err != nil || !strings.Contains(stdout, `"status": "ok"`) {
					t.Fatalf("service failed: %v\n%s\n%s", err, stdout, tail(stderr, 40))
				}
			})
		})
	}
}
