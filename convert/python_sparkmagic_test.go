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
//     a magic are SQL), with a %%pyspark cell and an assert_true check;
//   - one whose SQL check fails, which must fail the job and the service;
//   - one whose %%configure conf and spark_conf the job file's session must
//     have.
func TestOtherKernelsRunInPySpark(t *testing.T) {
	v := venv(t)
	// A Synapse Spark SQL notebook whose SQL check fails: the job must fail.
	failing := filepath.Join(t.TempDir(), "failing_check.ipynb")
	if err := os.WriteFile(failing, []byte(`{"nbformat": 4, "nbformat_minor": 2, "metadata": {"saveOutput": true, "language_info": {"name": "sql"}},
 "cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "source": "SELECT assert_true(1 = 2, 'the check failed as it should') AS ok"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	// The job file builds its session with the notebook's settings.
	conf := filepath.Join(t.TempDir(), "job_conf.ipynb")
	if err := os.WriteFile(conf, []byte(`{"nbformat": 4, "nbformat_minor": 5,
 "metadata": {"kernelspec": {"name": "pysparkkernel", "language": "python"}, "nbpipe": {"spark_conf": {"spark.sql.shuffle.partitions": "7"}}},
 "cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "source": "%%configure -f\n{\"conf\": {\"spark.sql.session.timeZone\": \"Asia/Tokyo\"}}"},
  {"cell_type": "code", "metadata": {}, "outputs": [], "source": "got = (spark.conf.get('spark.sql.shuffle.partitions'), spark.conf.get('spark.sql.session.timeZone'))\nassert got == ('7', 'Asia/Tokyo'), got"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, setup string
		wantFail          string // in the failed run's output
		jobOnly           bool   // Ilum gives a service its settings, not the class
	}{
		{"sparkmagic Spark kernel", filepath.Join(corpusDir(t), "sparkmagic__Spark_Kernel.ipynb"),
			"CREATE OR REPLACE TEMP VIEW hivesampletable AS SELECT * FROM VALUES (1, 'a'), (2, 'b') AS t(clientid, querytime)", "", false},
		{"Synapse Spark SQL", filepath.Join("testdata", "notebooks", "probe_synapse_sparksql.ipynb"), "", "", false},
		{"a failing SQL check", failing, "", "the check failed as it should", false},
		{"%%configure and spark_conf in the job file", conf, "", "", true},
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
			writeOutputs(t, dir, res)
			var setup []string
			if tc.setup != "" {
				setup = []string{"--setup-sql", tc.setup}
			}
			t.Run("pyfile", func(t *testing.T) {
				args := append([]string{script("run_spark.py"), "pyfile", filepath.Join(dir, "spark", res.DagID+".py")}, setup...)
				_, stderr, err := runPython(t, v, 10*time.Minute, args...)
				switch {
				case tc.wantFail != "" && (err == nil || !strings.Contains(stderr, tc.wantFail)):
					t.Fatalf("the job file did not fail with %q: %v\n%s", tc.wantFail, err, tail(stderr, 40))
				case tc.wantFail == "" && err != nil:
					t.Fatalf("job file failed: %v\n%s", err, tail(stderr, 40))
				}
			})
			t.Run("service", func(t *testing.T) {
				if tc.jobOnly {
					t.Skip("Ilum applies a service's settings through its API")
				}
				args := append([]string{script("run_spark.py"), "service", filepath.Join(dir, "ilum", res.DagID+"_service.py"),
					"--class", convert.ServiceClassName(res.DagID), "--no-ilum"}, setup...)
				stdout, stderr, err := runPython(t, v, 10*time.Minute, args...)
				switch {
				case tc.wantFail != "" && (err == nil || !strings.Contains(stdout+stderr, tc.wantFail)):
					t.Fatalf("the service did not fail with %q: %v\n%s\n%s", tc.wantFail, err, stdout, tail(stderr, 40))
				case tc.wantFail == "" && (err != nil || !strings.Contains(stdout, `"status": "ok"`)):
					t.Fatalf("service failed: %v\n%s\n%s", err, stdout, tail(stderr, 40))
				}
			})
		})
	}
}
