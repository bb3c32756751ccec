package convert_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nbpipe/nbpipe/convert"
)

// TestSparkmagicExampleRunsInPySpark converts sparkmagic's own Spark (Scala)
// kernel example, whose exported cells are %%sql, and runs its job file and
// service class under real PySpark. The example reads hivesampletable (an
// HDInsight sample); a temporary view stands in for it.
func TestSparkmagicExampleRunsInPySpark(t *testing.T) {
	v := venv(t)
	nbPath := filepath.Join(corpusDir(t), "sparkmagic__Spark_Kernel.ipynb")
	data, err := os.ReadFile(nbPath)
	if err != nil {
		t.Skipf("corpus notebook missing: %v", err)
	}
	layer, err := convert.LayerFromValues("test", map[string]any{"targets": []string{"pyfile", "ilum_service"}})
	if err != nil {
		t.Fatal(err)
	}
	res := convert.Convert("sparkmagic__Spark_Kernel.ipynb", data, convert.Options{Layers: []convert.Layer{layer}})
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
	setup := "CREATE OR REPLACE TEMP VIEW hivesampletable AS SELECT * FROM VALUES (1, 'a'), (2, 'b') AS t(clientid, querytime)"
	t.Run("pyfile", func(t *testing.T) {
		args := []string{script("run_spark.py"), "pyfile", filepath.Join(dir, "spark", res.DagID+".py"), "--setup-sql", setup}
		if _, stderr, err := runPython(t, v, 10*time.Minute, args...); err != nil {
			t.Fatalf("job file failed: %v\n%s", err, tail(stderr, 40))
		}
	})
	t.Run("service", func(t *testing.T) {
		args := []string{script("run_spark.py"), "service", filepath.Join(dir, "ilum", res.DagID+"_service.py"),
			"--class", convert.ServiceClassName(res.DagID), "--no-ilum", "--setup-sql", setup}
		stdout, stderr, err := runPython(t, v, 10*time.Minute, args...)
		if err != nil || !strings.Contains(stdout, `"status": "ok"`) {
			t.Fatalf("service failed: %v\n%s\n%s", err, stdout, tail(stderr, 40))
		}
	})
}
