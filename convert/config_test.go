package convert

import (
	"reflect"
	"strings"
	"testing"
)

func cfgLayer(t *testing.T, name, text string) Layer {
	t.Helper()
	l, err := ParseLayer(name, []byte(text))
	if err != nil {
		t.Fatalf("ParseLayer(%q): %v", name, err)
	}
	return l
}

// cfgResolve resolves one front-matter layer over the defaults.
func cfgResolve(t *testing.T, text string) (Config, error) {
	t.Helper()
	return Resolve(cfgLayer(t, "front matter", text))
}

func TestDefaultConfig(t *testing.T) {
	c, err := Resolve()
	if err != nil {
		t.Fatalf("Resolve(): %v", err)
	}
	if !reflect.DeepEqual(c, DefaultConfig()) {
		t.Errorf("Resolve() = %+v, want DefaultConfig()", c)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"mode", c.Mode, "batch"},
		{"targets", c.Targets, []string{TargetAirflow}},
		{"retries", c.Retries, 3},
		{"retry_delay", c.RetryDelay, "5m"},
		{"livy_conn_id", c.LivyConnID, "ilum-livy-proxy"},
		{"schedule", c.Schedule, (*string)(nil)},
		{"strip_print", c.StripPrint, true},
		{"strip_display", c.StripDisplay, true},
		{"allow_secrets", c.AllowSecrets, false},
		{"enabled_cell_kinds", c.EnabledCellKinds, []string{"spark", "pyspark", "sql", "plain"}},
	}
	for _, ck := range checks {
		t.Run(ck.name, func(t *testing.T) {
			if !reflect.DeepEqual(ck.got, ck.want) {
				t.Errorf("%s = %#v, want %#v", ck.name, ck.got, ck.want)
			}
		})
	}
	t.Run("DefaultConfig returns fresh slices", func(t *testing.T) {
		a := DefaultConfig()
		a.Targets[0] = "changed"
		if DefaultConfig().Targets[0] != TargetAirflow {
			t.Error("DefaultConfig shares its Targets slice")
		}
	})
}

func TestConfigKeys(t *testing.T) {
	keys := map[string]bool{}
	for _, k := range ConfigKeys() {
		keys[k] = true
	}
	// The keys DESIGN.md promises for front matter.
	for _, k := range strings.Fields(`dag_id schedule start_date catchup mode targets owner tags retries
		retry_delay livy_conn_id cluster_id spark_image driver_memory executor_memory num_executors
		spark_conf enabled_cell_kinds params trigger service_name schedule_name cron_expression args
		allow_secrets strip_print strip_display`) {
		if !keys[k] {
			t.Errorf("ConfigKeys() lacks %q", k)
		}
	}
	got := ConfigKeys()
	for i := 1; i < len(got); i++ {
		if got[i-1] >= got[i] {
			t.Errorf("ConfigKeys() not sorted: %q before %q", got[i-1], got[i])
		}
	}
}

func TestResolveLayers(t *testing.T) {
	server := cfgLayer(t, "server", "schedule: '@daily'\nretries: 1\nowner: platform\ntargets: [airflow, pyfile]\nspark_conf: {a: '1', b: '2'}\n")
	repo := cfgLayer(t, ".nbpipe.yaml", "retries: 2\ntargets: [ilum_service]\nspark_conf: {c: '3'}\n")
	front := cfgLayer(t, "front matter", "schedule: null\ndag_id: my_dag\n")
	c, err := Resolve(server, repo, front)
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	t.Run("later layer wins", func(t *testing.T) {
		if c.Retries != 2 {
			t.Errorf("retries = %d, want 2", c.Retries)
		}
	})
	t.Run("untouched keys come from lower layers", func(t *testing.T) {
		if c.Owner != "platform" || c.Mode != "batch" {
			t.Errorf("owner = %q, mode = %q", c.Owner, c.Mode)
		}
	})
	t.Run("null schedule overrides a lower preset", func(t *testing.T) {
		if c.Schedule != nil {
			t.Errorf("schedule = %q, want nil", *c.Schedule)
		}
	})
	t.Run("lists are replaced, not merged", func(t *testing.T) {
		if !reflect.DeepEqual(c.Targets, []string{TargetIlumService}) {
			t.Errorf("targets = %q", c.Targets)
		}
	})
	t.Run("maps are replaced, not merged", func(t *testing.T) {
		if !reflect.DeepEqual(c.SparkConf, map[string]string{"c": "3"}) {
			t.Errorf("spark_conf = %v", c.SparkConf)
		}
	})
	t.Run("dag_id", func(t *testing.T) {
		if c.DagID != "my_dag" {
			t.Errorf("dag_id = %q", c.DagID)
		}
	})
	t.Run("empty schedule value is null too", func(t *testing.T) {
		c, err := Resolve(server, cfgLayer(t, "front matter", "schedule:\n"))
		if err != nil || c.Schedule != nil {
			t.Errorf("schedule = %v, err = %v; want nil", c.Schedule, err)
		}
	})
	t.Run("a set schedule survives a layer without it", func(t *testing.T) {
		c, err := Resolve(server, repo)
		if err != nil || c.Schedule == nil || *c.Schedule != "@daily" {
			t.Errorf("schedule = %v, err = %v; want @daily", c.Schedule, err)
		}
	})
	t.Run("empty layers change nothing", func(t *testing.T) {
		c, err := Resolve(cfgLayer(t, "a", ""), cfgLayer(t, "b", "~"), Layer{Name: "c"})
		if err != nil || !reflect.DeepEqual(c, DefaultConfig()) {
			t.Errorf("config = %+v, err = %v", c, err)
		}
	})
	t.Run("values from flags", func(t *testing.T) {
		l, err := LayerFromValues("flags", map[string]any{"retries": 7, "catchup": true, "tags": []string{"x"}})
		if err != nil {
			t.Fatal(err)
		}
		c, err := Resolve(server, l)
		if err != nil || c.Retries != 7 || !c.Catchup || !reflect.DeepEqual(c.Tags, []string{"x"}) {
			t.Errorf("config = %+v, err = %v", c, err)
		}
	})
	t.Run("JSON text is a layer", func(t *testing.T) {
		c, err := Resolve(cfgLayer(t, "metadata.nbpipe", `{"dag_id": "j", "retries": 0, "params": {"n": 1.5}}`))
		if err != nil || c.DagID != "j" || c.Retries != 0 || c.Params["n"] != 1.5 {
			t.Errorf("config = %+v, err = %v", c, err)
		}
	})
}

func TestResolveKeyErrors(t *testing.T) {
	tests := []struct {
		name  string
		layer string
		text  string
		want  string // exact error, or substrings separated by "|"
	}{
		{"unknown key with suggestion", "front matter", "dag_id: x\nretries: 1\nshedule: '@daily'\n",
			`front matter: line 3: unknown key "shedule" (did you mean "schedule"?)`},
		{"unknown key close to owner", ".nbpipe.yaml", "ownr: me\n", `.nbpipe.yaml: line 1: unknown key "ownr" (did you mean "owner"?)`},
		{"unknown key upper case", "front matter", "DAG_ID: x\n", `front matter: line 1: unknown key "DAG_ID" (did you mean "dag_id"?)`},
		{"unknown key without suggestion", "front matter", "\n\ncompletely_unrelated_setting: 1\n", `front matter: line 3: unknown key "completely_unrelated_setting"`},
		{"wrong type int", "front matter", "dag_id: a\nretries: abc\n", `front matter: line 2: key "retries": |abc|int`},
		{"wrong type list", "server", "tags: notalist\n", `server: line 1: key "tags": |notalist`},
		{"wrong type bool", "front matter", "catchup: sometimes\n", `front matter: line 1: key "catchup": |sometimes|bool`},
		{"wrong type map", "front matter", "spark_conf: [a, b]\n", `front matter: line 1: key "spark_conf": |map`},
		{"wrong type on a later line of a block value", "front matter", "owner: x\nnum_executors:\n  - 1\n", `front matter: line 3: key "num_executors": |int`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Resolve(cfgLayer(t, tc.layer, tc.text))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(tc.want, "|") {
				if err.Error() != tc.want {
					t.Errorf("error = %q, want %q", err, tc.want)
				}
				return
			}
			for _, part := range strings.Split(tc.want, "|") {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("error %q does not contain %q", err, part)
				}
			}
		})
	}
	t.Run("no suggestion for a far-off key", func(t *testing.T) {
		_, err := cfgResolve(t, "completely_unrelated_setting: 1\n")
		if err == nil || strings.Contains(err.Error(), "did you mean") {
			t.Errorf("error = %v", err)
		}
	})
}

func TestParseLayerErrors(t *testing.T) {
	tests := []struct {
		name, text string
		want       []string
	}{
		{"list", "- a\n- b\n", []string{"front matter", "line 1", "expected a mapping of settings"}},
		{"scalar", "just text", []string{"front matter", "expected a mapping of settings"}},
		{"invalid YAML", "a: [1, 2\n", []string{"front matter"}},
		{"unquoted at sign", "schedule: @daily\n", []string{"front matter"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseLayer("front matter", []byte(tc.text))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestResolveSchedule(t *testing.T) {
	valid := []string{"@once", "@continuous", "@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly",
		"0 0 * * *", "*/15 * * * *", "0 6 * * MON-FRI", "30 2 1 1 *", "0 0 1,15 * *", "0 */6 * * *", "5 4 * * sun"}
	for _, s := range valid {
		t.Run("valid "+s, func(t *testing.T) {
			c, err := cfgResolve(t, "schedule: '"+s+"'\n")
			if err != nil || c.Schedule == nil || *c.Schedule != s {
				t.Errorf("schedule %q: config %v, err %v", s, c.Schedule, err)
			}
		})
	}
	invalid := []struct{ s, want string }{
		{"@every 5m", "is not an Airflow preset"},
		{"@Daily", "is not an Airflow preset"},
		{"@", "is not an Airflow preset"},
		{"61 * * * *", "is not a 5-field cron expression"},
		{"* * * *", "is not a 5-field cron expression"},
		{"0 0 * * * *", "is not a 5-field cron expression"},
		{"daily", "is not a 5-field cron expression"},
		{"0 25 * * *", "is not a 5-field cron expression"},
		{"", "is not a 5-field cron expression"},
	}
	for _, tc := range invalid {
		t.Run("invalid "+tc.s, func(t *testing.T) {
			_, err := cfgResolve(t, "schedule: '"+tc.s+"'\n")
			if err == nil || !strings.HasPrefix(err.Error(), "schedule: ") || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `"`+tc.s+`"`) {
				t.Errorf("err = %v, want schedule error %q naming the value", err, tc.want)
			}
		})
	}
	t.Run("preset error lists the presets", func(t *testing.T) {
		_, err := cfgResolve(t, "schedule: '@every 5m'\n")
		if err == nil || !strings.Contains(err.Error(), "@daily") || !strings.Contains(err.Error(), "@once") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestValidateDagID(t *testing.T) {
	tests := []struct {
		id string
		ok bool
	}{
		{"my_dag", true},
		{"MyDag2", true},
		{"a", true},
		{"_private", true},
		{"0starts_with_digit", true},
		{"team.etl-daily_v2", true},
		{"trailing.", true},
		{"trailing-", true},
		{strings.Repeat("a", MaxDagIDLen), true},
		{strings.Repeat("a", MaxDagIDLen+1), false},
		{strings.Repeat("a", 250), false}, // Airflow's limit, but <id>_service.py would be 261 bytes
		{"", false},
		{".hidden", false},
		{"-dash", false},
		{"a..b", false},
		{"a/b", false},
		{"../etc", false},
		{"a b", false},
		{"a\\b", false},
		{"dag:1", false},
		{"données", false},
		{"a\nb", false},
		{"a\x00", false},
	}
	for _, tc := range tests {
		name := tc.id
		if len(name) > 20 {
			name = name[:10] + "...(" + string(rune('0'+len(tc.id)%10)) + ")"
		}
		t.Run(name, func(t *testing.T) {
			err := ValidateDagID(tc.id)
			if (err == nil) != tc.ok {
				t.Errorf("ValidateDagID(%q) = %v, want ok=%v", tc.id, err, tc.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "dag_id") {
				t.Errorf("error %q does not name dag_id", err)
			}
		})
	}
	t.Run("too long says so", func(t *testing.T) {
		err := ValidateDagID(strings.Repeat("b", 300))
		if err == nil || !strings.Contains(err.Error(), "255 bytes") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("Resolve checks dag_id", func(t *testing.T) {
		if _, err := cfgResolve(t, "dag_id: 'a/b'\n"); err == nil || !strings.Contains(err.Error(), "dag_id") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestResolveValues(t *testing.T) {
	tests := []struct {
		name string
		text string
		want string // "" means valid; else a substring of the error
	}{
		{"start_date ISO date", "start_date: '2024-06-01'", ""},
		{"start_date unquoted YAML date", "start_date: 2024-06-01", ""},
		{"start_date RFC 3339 UTC", "start_date: '2024-06-01T10:30:00Z'", ""},
		{"start_date RFC 3339 offset", "start_date: '2024-06-01T10:30:00+02:00'", ""},
		{"start_date slashes", "start_date: '2024/06/01'", `start_date "2024/06/01": want YYYY-MM-DD or an RFC 3339 time`},
		{"start_date month 13", "start_date: '2024-13-01'", "start_date"},
		{"start_date word", "start_date: yesterday", "start_date"},
		{"start_date without zone", "start_date: '2024-06-01 10:00:00'", "start_date"},
		{"start_date empty", "start_date: ''", "start_date"},
		{"retry_delay minutes", "retry_delay: 10m", ""},
		{"retry_delay seconds as YAML int", "retry_delay: 300", ""},
		{"retry_delay compound", "retry_delay: 1h30m", ""},
		{"retry_delay zero", "retry_delay: 0", ""},
		{"retry_delay negative seconds", "retry_delay: -1", `retry_delay "-1": must not be negative`},
		{"retry_delay negative duration", "retry_delay: -5m", "must not be negative"},
		{"retry_delay word", "retry_delay: soon", `retry_delay "soon": want a duration`},
		{"memory g", "driver_memory: 2g", ""},
		{"memory m", "executor_memory: 512m", ""},
		{"memory GB", "driver_memory: 4GB", ""},
		{"memory upper case", "executor_memory: 8G", ""},
		{"memory k", "driver_memory: 1024k", ""},
		{"memory t", "driver_memory: 1t", ""},
		{"memory fraction", "driver_memory: 2.5g", `driver_memory "2.5g": want a size such as 2g or 512m`},
		{"memory no unit", "executor_memory: 1024", `executor_memory "1024"`},
		{"memory space", "driver_memory: 2 g", "driver_memory"},
		{"memory unit only", "driver_memory: g", "driver_memory"},
		{"memory negative", "driver_memory: -2g", "driver_memory"},
		{"memory wrong unit", "driver_memory: 2x", "driver_memory"},
		{"targets all", "targets: [airflow, pyfile, ilum_single, ilum_service, ilum_cron]", ""},
		{"targets empty", "targets: []", "targets: at least one of"},
		{"targets typo", "targets: [airflw]", `targets: unknown target "airflw" (did you mean "airflow"?)`},
		{"targets unknown", "targets: [kubernetes_pod]", `unknown target "kubernetes_pod"`},
		{"enabled_cell_kinds all", "enabled_cell_kinds: [spark, pyspark, sql, plain, local]", ""},
		{"enabled_cell_kinds empty", "enabled_cell_kinds: []", ""},
		{"enabled_cell_kinds typo", "enabled_cell_kinds: [sparks]", `enabled_cell_kinds: "sparks" cannot be exported (did you mean "spark"?)`},
		{"enabled_cell_kinds bash", "enabled_cell_kinds: [plain, bash]", `"bash" cannot be exported`},
		{"enabled_cell_kinds configure", "enabled_cell_kinds: [configure]", `"configure" cannot be exported`},
		{"params names", "params: {a: 1, _b: x, c2: [1, 2], d: {e: f}}", ""},
		{"params starting with a digit", "params: {1x: 2}", `params: "1x" is not a valid Python name`},
		{"params keyword", "params: {class: 1}", `params: "class" is not a valid Python name`},
		{"params with a dash", "params: {a-b: 1}", `params: "a-b" is not a valid Python name`},
		{"mode per_cell", "mode: per_cell", ""},
		{"mode typo", "mode: percell", `mode "percell": want batch or per_cell`},
		{"owner empty", "owner: ''", "owner: must not be empty"},
		{"owner blank", "owner: '   '", "owner: must not be empty"},
		{"retries range", "retries: 101", "retries 101: want 0 to 100"},
		{"continuous, one run at a time", "{schedule: '@continuous', max_active_runs: 1}", ""},
		{"continuous, several runs", "{schedule: '@continuous', max_active_runs: 2}", "max_active_runs 2: a @continuous schedule allows only 1"},
		{"tag at Airflow's limit", "tags: [" + strings.Repeat("t", 100) + ", é" + strings.Repeat("t", 99) + "]", ""},
		{"tag over Airflow's limit", "tags: [ok, " + strings.Repeat("t", 101) + "]", `"tttttttttttttttttttttttt"... is 101 characters; Airflow allows at most 100`},
		{"retries negative", "retries: -1", "retries -1"},
		{"livy_conn_id empty", "livy_conn_id: ''", "livy_conn_id: must not be empty"},
		{"num_executors negative", "num_executors: -1", "num_executors -1: must not be negative"},
		{"cron_expression valid", "cron_expression: '0 0 * * *'", ""},
		{"cron_expression empty", "cron_expression: ''", ""},
		{"cron_expression invalid", "cron_expression: bad", `cron_expression: "bad" is not a 5-field cron expression`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := cfgResolve(t, tc.text+"\n")
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.want != "" && err == nil:
				t.Errorf("no error, want one containing %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
	t.Run("unquoted YAML date keeps its text", func(t *testing.T) {
		c, err := cfgResolve(t, "start_date: 2024-06-01\n")
		if err != nil {
			t.Fatal(err)
		}
		if tm, err := parseStartDate(c.StartDate); err != nil || tm.Format("2006-01-02") != "2024-06-01" {
			t.Errorf("start_date = %q (%v, %v)", c.StartDate, tm, err)
		}
	})
	t.Run("params keep YAML types", func(t *testing.T) {
		c, err := cfgResolve(t, "params: {n: 3, f: 1.5, s: x, b: true, l: [1, a], z: null}\n")
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"n": 3, "f": 1.5, "s": "x", "b": true, "l": []any{1, "a"}, "z": nil}
		if !reflect.DeepEqual(c.Params, want) {
			t.Errorf("params = %#v, want %#v", c.Params, want)
		}
	})
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		wantSec float64
		ok      bool
	}{
		{"90", 90, true},
		{" 90 ", 90, true},
		{"0", 0, true},
		{"90s", 90, true},
		{"1h30m", 5400, true},
		{"1.5s", 1.5, true},
		{"-1", 0, false},
		{"-1s", 0, false},
		{"", 0, false},
		{"1 h", 0, false},
		{"1d", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			d, err := parseDuration(tc.in)
			if (err == nil) != tc.ok || (tc.ok && d.Seconds() != tc.wantSec) {
				t.Errorf("parseDuration(%q) = %v, %v; want %vs ok=%v", tc.in, d, err, tc.wantSec, tc.ok)
			}
		})
	}
}

func TestFrontMatter(t *testing.T) {
	raw := func(src string) Cell { return Cell{Index: 0, Type: "raw", Source: src} }
	code := Cell{Index: 1, Type: "code", Source: "x = 1"}
	tests := []struct {
		name      string
		nb        Notebook
		wantNames []string
		wantCell  int
		wantDagID string
	}{
		{"raw first cell with fences", Notebook{Cells: []Cell{raw("---\ndag_id: from_front\nretries: 1\n---\n"), code}},
			[]string{"front matter (cell 1)"}, 0, "from_front"},
		{"closing fence with dots", Notebook{Cells: []Cell{raw("---\ndag_id: dots\n...\n"), code}},
			[]string{"front matter (cell 1)"}, 0, "dots"},
		{"CRLF fences", Notebook{Cells: []Cell{raw("---\r\ndag_id: crlf\r\n---\r\n"), code}},
			[]string{"front matter (cell 1)"}, 0, "crlf"},
		{"byte order mark", Notebook{Cells: []Cell{raw("\ufeff---\ndag_id: bom\n---"), code}},
			[]string{"front matter (cell 1)"}, 0, "bom"},
		{"empty front matter", Notebook{Cells: []Cell{raw("---\n---\n"), code}},
			[]string{"front matter (cell 1)"}, 0, ""},
		{"nbpipe key shields Quarto keys", Notebook{Cells: []Cell{raw("---\ntitle: Report\nformat: html\njupyter: python3\nnbpipe:\n  dag_id: quarto\n---\n"), code}},
			[]string{"front matter (cell 1)"}, 0, "quarto"},
		{"metadata.nbpipe", Notebook{Metadata: []byte(`{"dag_id": "from_meta"}`), Cells: []Cell{code}},
			[]string{"metadata.nbpipe"}, -1, "from_meta"},
		{"front matter wins over metadata", Notebook{Metadata: []byte(`{"dag_id": "from_meta", "retries": 0}`), Cells: []Cell{raw("---\ndag_id: from_front\n---"), code}},
			[]string{"metadata.nbpipe", "front matter (cell 1)"}, 0, "from_front"},
		{"first cell is code", Notebook{Cells: []Cell{code, raw("---\ndag_id: late\n---")}}, nil, -1, ""},
		{"first cell is markdown", Notebook{Cells: []Cell{{Type: "markdown", Source: "---\ndag_id: md\n---"}, code}}, nil, -1, ""},
		{"raw cell without fence", Notebook{Cells: []Cell{raw("dag_id: nofence\n"), code}}, nil, -1, ""},
		{"raw cell with an unclosed fence", Notebook{Cells: []Cell{raw("---\ndag_id: open\n"), code}}, nil, -1, ""},
		{"raw cell with text before the fence", Notebook{Cells: []Cell{raw("\n---\ndag_id: late\n---"), code}}, nil, -1, ""},
		{"no cells", Notebook{}, nil, -1, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			layers, cell, err := frontMatter(&tc.nb)
			if err != nil {
				t.Fatalf("frontMatter: %v", err)
			}
			var names []string
			for _, l := range layers {
				names = append(names, l.Name)
			}
			if !reflect.DeepEqual(names, tc.wantNames) {
				t.Errorf("layers = %q, want %q", names, tc.wantNames)
			}
			if cell != tc.wantCell {
				t.Errorf("cell = %d, want %d", cell, tc.wantCell)
			}
			c, err := Resolve(layers...)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if c.DagID != tc.wantDagID {
				t.Errorf("dag_id = %q, want %q", c.DagID, tc.wantDagID)
			}
		})
	}
}

func TestFrontMatterErrors(t *testing.T) {
	raw := func(src string) *Notebook {
		return &Notebook{Cells: []Cell{{Type: "raw", Source: src}, {Index: 1, Type: "code", Source: "x = 1"}}}
	}
	tests := []struct {
		name string
		nb   *Notebook
		want string // exact error from frontMatter, then Resolve
	}{
		{"unknown key line is the cell's line", raw("---\ndag_id: x\nshedule: '@daily'\n---"),
			`front matter (cell 1): line 3: unknown key "shedule" (did you mean "schedule"?)`},
		{"unknown key under nbpipe", raw("---\ntitle: Q\nnbpipe:\n  dag_id: abc\n  shedule: x\n---\n"),
			`front matter (cell 1): line 5: unknown key "shedule" (did you mean "schedule"?)`},
		{"Quarto key without an nbpipe key is unknown", raw("---\ntitle: Q\n---"),
			`front matter (cell 1): line 2: unknown key "title"`},
		{"wrong type line", raw("---\ndag_id: x\n\nretries: many\n---"),
			`front matter (cell 1): line 4: key "retries": `},
		{"nbpipe key not a mapping", raw("---\ntitle: Q\nnbpipe: yes\n---"),
			"front matter (cell 1): line 3: nbpipe must be a mapping"},
		{"invalid YAML", raw("---\ndag_id: [x\n---"), "front matter (cell 1)"},
		{"not a mapping", raw("---\n- a\n---"), "front matter (cell 1)"},
		{"metadata.nbpipe unknown key", &Notebook{Metadata: []byte(`{"dag_id": "x", "shedule": "@daily"}`)},
			`metadata.nbpipe: line 1: unknown key "shedule" (did you mean "schedule"?)`},
		{"metadata.nbpipe not an object", &Notebook{Metadata: []byte(`[1]`)}, "metadata.nbpipe"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			layers, _, err := frontMatter(tc.nb)
			if err == nil {
				_, err = Resolve(layers...)
			}
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error = %q, want it to start with %q", err, tc.want)
			}
		})
	}
	t.Run("error cell is the first cell", func(t *testing.T) {
		_, cell, err := frontMatter(raw("---\nnbpipe: 1\n---"))
		if err == nil || cell != 0 {
			t.Errorf("cell = %d, err = %v; want cell 0 and an error", cell, err)
		}
	})
}

// YAML syntax errors in front matter must use the cell's line numbers like
// every other front matter error (the opening fence is line 1).
func TestFrontMatterYAMLSyntaxErrorLine(t *testing.T) {
	nb := &Notebook{Cells: []Cell{{Type: "raw", Source: "---\n\n\nschedule: @daily\n---"}}}
	_, _, err := frontMatter(nb)
	if err == nil {
		t.Fatal("no error")
	}
	if !strings.Contains(err.Error(), "line 4") {
		t.Errorf("error %q: the unquoted @daily is on line 4 of the cell", err)
	}
}

const cfgRepoYAML = `defaults:
  retries: 1
  owner: data
include:
  - "pipelines/**/*.ipynb"
  - "jobs/*.ipynb"
exclude:
  - "**/scratch/**"
  - "pipelines/wip_*.ipynb"
rules:
  - match: "pipelines/hourly/*.ipynb"
    config:
      schedule: "@hourly"
  - match: "pipelines/**/heavy_*.ipynb"
    config:
      executor_memory: 8g
      retries: 5
`

func TestParseRepoConfig(t *testing.T) {
	rc, err := ParseRepoConfig(".nbpipe.yaml", []byte(cfgRepoYAML))
	if err != nil {
		t.Fatalf("ParseRepoConfig: %v", err)
	}
	t.Run("fields", func(t *testing.T) {
		if !reflect.DeepEqual(rc.Include, []string{"pipelines/**/*.ipynb", "jobs/*.ipynb"}) {
			t.Errorf("include = %q", rc.Include)
		}
		if !reflect.DeepEqual(rc.Exclude, []string{"**/scratch/**", "pipelines/wip_*.ipynb"}) {
			t.Errorf("exclude = %q", rc.Exclude)
		}
		if len(rc.Rules) != 2 || rc.Rules[0].Match != "pipelines/hourly/*.ipynb" || rc.Rules[1].Match != "pipelines/**/heavy_*.ipynb" {
			t.Errorf("rules = %+v", rc.Rules)
		}
		if rc.Defaults.Name != ".nbpipe.yaml defaults" || rc.Defaults.Node == nil {
			t.Errorf("defaults = %+v", rc.Defaults)
		}
	})
	selected := []struct {
		path string
		want bool
	}{
		{"pipelines/a.ipynb", true},
		{"pipelines/hourly/b.ipynb", true},
		{"pipelines/deep/er/c.ipynb", true},
		{"jobs/d.ipynb", true},
		{"jobs/sub/e.ipynb", false},
		{"other/f.ipynb", false},
		{"g.ipynb", false},
		{"pipelines/scratch/h.ipynb", false},
		{"pipelines/x/scratch/i.ipynb", false},
		{"pipelines/wip_j.ipynb", false},
		{"pipelines/k.py", false},
	}
	for _, tc := range selected {
		t.Run("Selected "+tc.path, func(t *testing.T) {
			if got := rc.Selected(tc.path); got != tc.want {
				t.Errorf("Selected(%q) = %v, want %v", tc.path, got, tc.want)
			}
		})
	}
	layers := []struct {
		path        string
		wantNames   []string
		wantRetries int
		wantSched   string
		wantMemory  string
	}{
		{"pipelines/a.ipynb", []string{".nbpipe.yaml defaults"}, 1, "", ""},
		{"pipelines/hourly/b.ipynb", []string{".nbpipe.yaml defaults", ".nbpipe.yaml rules[0] (pipelines/hourly/*.ipynb)"}, 1, "@hourly", ""},
		{"pipelines/hourly/heavy_c.ipynb", []string{".nbpipe.yaml defaults", ".nbpipe.yaml rules[0] (pipelines/hourly/*.ipynb)", ".nbpipe.yaml rules[1] (pipelines/**/heavy_*.ipynb)"}, 5, "@hourly", "8g"},
	}
	for _, tc := range layers {
		t.Run("Layers "+tc.path, func(t *testing.T) {
			ls := rc.Layers(tc.path)
			var names []string
			for _, l := range ls {
				names = append(names, l.Name)
			}
			if !reflect.DeepEqual(names, tc.wantNames) {
				t.Errorf("layers = %q, want %q", names, tc.wantNames)
			}
			c, err := Resolve(ls...)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			sched := ""
			if c.Schedule != nil {
				sched = *c.Schedule
			}
			if c.Retries != tc.wantRetries || sched != tc.wantSched || c.ExecutorMemory != tc.wantMemory || c.Owner != "data" {
				t.Errorf("config retries=%d schedule=%q executor_memory=%q owner=%q", c.Retries, sched, c.ExecutorMemory, c.Owner)
			}
		})
	}
	t.Run("nil RepoConfig selects everything", func(t *testing.T) {
		var none *RepoConfig
		if !none.Selected("any/where.ipynb") || none.Layers("x.ipynb") != nil {
			t.Error("nil RepoConfig")
		}
	})
	t.Run("empty file selects everything", func(t *testing.T) {
		rc, err := ParseRepoConfig(".nbpipe.yaml", nil)
		if err != nil {
			t.Fatal(err)
		}
		if !rc.Selected("a/b.ipynb") || len(rc.Layers("a/b.ipynb")) != 1 {
			t.Errorf("rc = %+v", rc)
		}
		if _, err := Resolve(rc.Layers("a/b.ipynb")...); err != nil {
			t.Errorf("Resolve: %v", err)
		}
	})
	t.Run("exclude only", func(t *testing.T) {
		rc, err := ParseRepoConfig(".nbpipe.yaml", []byte("exclude: ['tmp/**']\n"))
		if err != nil {
			t.Fatal(err)
		}
		if !rc.Selected("a.ipynb") || rc.Selected("tmp/x/a.ipynb") {
			t.Error("exclude-only selection wrong")
		}
	})
}

func TestParseRepoConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []string
	}{
		{"unknown key in defaults", "defaults:\n  retries: 1\n  shedule: x\n", []string{`.nbpipe.yaml defaults: line 3: unknown key "shedule" (did you mean "schedule"?)`}},
		{"wrong type in defaults", "defaults:\n  retries: many\n", []string{".nbpipe.yaml defaults: line 2", `key "retries"`}},
		{"unknown key in a rule", "rules:\n  - match: a.ipynb\n    config:\n      bogus: 1\n", []string{`.nbpipe.yaml rules[0] (a.ipynb): line 4: unknown key "bogus"`}},
		{"defaults not a mapping", "defaults: [1]\n", []string{".nbpipe.yaml defaults: line 1: expected a mapping of settings"}},
		{"rule config not a mapping", "rules:\n  - match: a\n    config: 3\n", []string{"rules[0]", "line 3", "expected a mapping"}},
		{"invalid include glob", "include: ['[']\n", []string{`.nbpipe.yaml: invalid glob "["`}},
		{"invalid exclude glob", "exclude: ['a/{b']\n", []string{`invalid glob "a/{b"`}},
		{"invalid rule glob", "rules:\n  - match: 'x/[a'\n", []string{`.nbpipe.yaml: rules[0]: invalid glob "x/[a"`}},
		{"empty rule glob", "rules:\n  - config: {retries: 1}\n", []string{`rules[0]: invalid glob ""`}},
		{"include not a list", "include: 'a/*.ipynb'\n", []string{".nbpipe.yaml"}},
		{"unknown rule field", "rules:\n  - match: a\n    configs: {}\n", []string{".nbpipe.yaml", "configs"}},
		{"unknown top-level key", "defaults:\n  retries: 1\nexlude: ['x']\n", []string{".nbpipe.yaml", "exlude"}},
		{"invalid YAML", "defaults: [\n", []string{".nbpipe.yaml"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc, err := ParseRepoConfig(".nbpipe.yaml", []byte(tc.text))
			if err == nil {
				t.Fatalf("no error; got %+v", rc)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// An unknown top-level key in .nbpipe.yaml should read like the other config
// errors: the key, its line and the closest known key, without Go type names.
func TestParseRepoConfigUnknownTopLevelKeyMessage(t *testing.T) {
	_, err := ParseRepoConfig(".nbpipe.yaml", []byte("default:\n  retries: 1\n"))
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, w := range []string{".nbpipe.yaml", "line 1", `"default"`, `did you mean "defaults"?`} {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not contain %q", msg, w)
		}
	}
	if strings.Contains(msg, "struct {") || strings.Contains(msg, "yaml.Node") {
		t.Errorf("error %q shows Go type internals", msg)
	}
}

// `defaults:` with nothing under it (every setting commented out) is an empty
// mapping in spirit, as ParseLayer already treats a null document.
func TestParseRepoConfigNullSections(t *testing.T) {
	for _, text := range []string{
		"defaults:\n",
		"defaults: ~\n",
		"defaults:\n#  retries: 1\n",
		"rules:\n  - match: 'a/*.ipynb'\n    config:\n",
	} {
		t.Run(text, func(t *testing.T) {
			rc, err := ParseRepoConfig(".nbpipe.yaml", []byte(text))
			if err != nil {
				t.Fatalf("ParseRepoConfig: %v", err)
			}
			if _, err := Resolve(rc.Layers("a/b.ipynb")...); err != nil {
				t.Errorf("Resolve: %v", err)
			}
		})
	}
}

func TestDefaultDagID(t *testing.T) {
	tests := []struct{ path, want string }{
		{"My Notebook (v2).ipynb", "my_notebook_v2"},
		{"2024-report.ipynb", "nb_2024_report"},
		{"dir/sub/etl.ipynb", "etl"},
		{`dir\sub\win.ipynb`, "win"},
		{"x.y.ipynb", "x_y"},
		{"Already_Snake.ipynb", "already_snake"},
		{"--weird--name--.ipynb", "weird_name"},
		{"___.ipynb", "nb"},
		{".ipynb", "nb"},
		{"7.ipynb", "nb_7"},
		{"noext", "noext"},
		{strings.Repeat("a", 300) + ".ipynb", strings.Repeat("a", 200)},
		{strings.Repeat("ab_", 100) + ".ipynb", strings.Repeat("ab_", 66) + "ab"},
	}
	for _, tc := range tests {
		name := tc.path
		if len(name) > 30 {
			name = name[:30]
		}
		t.Run(name, func(t *testing.T) {
			got := DefaultDagID(tc.path)
			if got != tc.want {
				t.Errorf("DefaultDagID(%q) = %q, want %q", tc.path, got, tc.want)
			}
			if err := ValidateDagID(got); err != nil {
				t.Errorf("DefaultDagID(%q) = %q is not a valid dag_id: %v", tc.path, got, err)
			}
		})
	}
}

func TestSuggest(t *testing.T) {
	keys := ConfigKeys()
	tests := []struct{ in, want string }{
		{"shedule", "schedule"},
		{"dagid", "dag_id"},
		{"retry_delays", "retry_delay"},
		{"executor_memroy", "executor_memory"},
		{"zzzzzzzzzzzz", ""},
		{"", ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := suggest(tc.in, keys); got != tc.want {
				t.Errorf("suggest(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
	t.Run("edit distance", func(t *testing.T) {
		for _, c := range []struct {
			a, b string
			d    int
		}{{"", "", 0}, {"a", "", 1}, {"kitten", "sitting", 3}, {"abc", "abc", 0}, {"ab", "ba", 2}} {
			if got := editDistance(c.a, c.b); got != c.d {
				t.Errorf("editDistance(%q, %q) = %d, want %d", c.a, c.b, got, c.d)
			}
		}
	})
}

// Airflow's croniter accepts L, W and # where the 5-field parser does not.
func TestValidateScheduleCroniterExtensions(t *testing.T) {
	for _, s := range []string{"0 0 L * *", "0 9 * * 1#3", "0 0 15W * *"} {
		if err := validateSchedule(s); err != nil {
			t.Errorf("validateSchedule(%q) = %v, want nil (croniter accepts it)", s, err)
		}
	}
	for _, s := range []string{"0 0 L *", "0 0 L * * *", "0 0 $ * L"} {
		if err := validateSchedule(s); err == nil {
			t.Errorf("validateSchedule(%q) = nil, want an error", s)
		}
	}
	if got := suggest("retry", tagWords); got != "retries" {
		t.Errorf("suggest(retry) = %q, want retries", got)
	}
}

// A server can keep keys to itself: neither .nbpipe.yaml nor front matter may
// set them, while its own layers still can.
func TestResolveLockedKeys(t *testing.T) {
	server, _ := LayerFromValues("server", map[string]any{"livy_conn_id": "prod_livy"})
	repo, _ := ParseLayer(".nbpipe.yaml defaults", []byte("owner: team\nlivy_conn_id: mine\n"))
	if _, err := ResolveLocked([]string{"livy_conn_id"}, server, repo); err == nil || !strings.Contains(err.Error(), `line 2: key "livy_conn_id" is set by the server`) {
		t.Fatalf("err = %v", err)
	}
	c, err := ResolveLocked([]string{"livy_conn_id"}, server)
	if err != nil || c.LivyConnID != "prod_livy" {
		t.Fatalf("server layer: %+v %v", c.LivyConnID, err)
	}
	nb := []byte(`{"nbformat": 4, "metadata": {"nbpipe": {"allow_secrets": true}}, "cells": [{"cell_type": "code", "metadata": {}, "source": "x = 1"}]}`)
	res := Convert("n.ipynb", nb, Options{Locked: []string{"allow_secrets"}})
	if res.Err() == nil || !strings.Contains(res.Err().Error(), "allow_secrets") {
		t.Fatalf("front matter set a locked key: %v", res.Err())
	}
}

// TestJobSparkConf: the job file's SPARK_CONF is the Livy session's settings
// as Spark properties with Spark's string values.
func TestJobSparkConf(t *testing.T) {
	got := jobSparkConf(map[string]any{"kind": "pyspark", "driverMemory": "2g", "numExecutors": 3, "name": "x",
		"conf": map[string]any{"spark.sql.adaptive.enabled": true, "spark.sql.shuffle.partitions": "64"}})
	want := map[string]any{"spark.driver.memory": "2g", "spark.executor.instances": "3",
		"spark.sql.adaptive.enabled": "true", "spark.sql.shuffle.partitions": "64"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
}
