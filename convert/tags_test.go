package convert

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// tagFinding is the part of a Finding the tag tests compare.
type tagFinding struct {
	sev Severity
	msg string // substring
}

func tagsParse(tags ...string) (cellTags, []Finding) {
	var ct cellTags
	r := &reporter{}
	parseTags(&ct, tags, 5, r)
	return ct, r.findings
}

func tagsCheckFindings(t *testing.T, got []Finding, want []tagFinding) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("findings = %v, want %d: %v", got, len(want), want)
	}
	for i, w := range want {
		f := got[i]
		if f.Severity != w.sev || f.Code != CodeTag || f.Cell != 5 || f.Line != 0 || !strings.Contains(f.Message, w.msg) {
			t.Errorf("finding %d = %+v, want severity %s, code tag, cell 5, message containing %q", i, f, w.sev, w.msg)
		}
	}
}

func TestParseTagsTask(t *testing.T) {
	tests := []struct {
		name     string
		tags     []string
		want     string
		findings []tagFinding
	}{
		{"valid", []string{"task:load_data"}, "load_data", nil},
		{"underscore start", []string{"task:_private"}, "_private", nil},
		{"spaces around", []string{"  task : extract2  "}, "extract2", nil},
		{"first valid wins", []string{"task:first", "task:second"}, "first", []tagFinding{{SevNotice, `tag "task:second" ignored: task already set`}}},
		{"invalid then valid", []string{"task:1bad", "task:good"}, "good", []tagFinding{{SevWarning, `tag "task:1bad" ignored: task name must match`}}},
		{"invalid characters", []string{"task:load-data"}, "", []tagFinding{{SevWarning, "task name must match [A-Za-z_][A-Za-z0-9_]*"}}},
		{"space inside", []string{"task: a b"}, "", []tagFinding{{SevWarning, "task name must match"}}},
		{"empty name", []string{"task:"}, "", []tagFinding{{SevWarning, "task name must match"}}},
		{"keyword", []string{"task:class"}, "", []tagFinding{{SevWarning, "task name must match"}}},
		{"at Airflow's length limit", []string{"task:" + strings.Repeat("t", 250)}, strings.Repeat("t", 250), nil},
		{"over Airflow's length limit", []string{"task:" + strings.Repeat("t", 251)}, "", []tagFinding{{SevWarning, "task name is 251 characters; Airflow allows at most 250"}}},
		{"reserved open_session", []string{"task:open_session"}, "", []tagFinding{{SevWarning, `"open_session" is reserved`}}},
		{"reserved close_session", []string{"task:close_session"}, "", []tagFinding{{SevWarning, `"close_session" is reserved`}}},
		{"reserved run_notebook then valid", []string{"task:run_notebook", "task:ok"}, "ok", []tagFinding{{SevWarning, `"run_notebook" is reserved`}}},
		{"non-ASCII", []string{"task:données"}, "", []tagFinding{{SevWarning, "task name must match"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ct, fs := tagsParse(tc.tags...)
			if ct.task != tc.want {
				t.Errorf("task = %q, want %q", ct.task, tc.want)
			}
			tagsCheckFindings(t, fs, tc.findings)
		})
	}
}

func TestParseTagsRetries(t *testing.T) {
	tests := []struct {
		name     string
		tags     []string
		want     int // -1: not set
		findings []tagFinding
	}{
		{"simple", []string{"retries:5"}, 5, nil},
		{"spaces", []string{" retries: 2 "}, 2, nil},
		{"zero", []string{"retries:0"}, 0, nil},
		{"maximum", []string{"retries:100"}, 100, nil},
		{"first valid wins", []string{"retries:1", "retries:2"}, 1, []tagFinding{{SevNotice, "retries already set"}}},
		{"negative", []string{"retries:-1"}, -1, []tagFinding{{SevWarning, "retries must be a non-negative integer"}}},
		{"plus sign", []string{"retries:+3"}, -1, []tagFinding{{SevWarning, "retries must be a non-negative integer"}}},
		{"word", []string{"retries:abc"}, -1, []tagFinding{{SevWarning, "retries must be a non-negative integer"}}},
		{"fraction", []string{"retries:2.5"}, -1, []tagFinding{{SevWarning, "retries must be a non-negative integer"}}},
		{"empty", []string{"retries:"}, -1, []tagFinding{{SevWarning, "retries must be a non-negative integer"}}},
		{"too many", []string{"retries:101"}, -1, []tagFinding{{SevWarning, "at most 100"}}},
		{"invalid then valid", []string{"retries:x", "retries:4"}, 4, []tagFinding{{SevWarning, `tag "retries:x" ignored`}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ct, fs := tagsParse(tc.tags...)
			got := -1
			if ct.retries != nil {
				got = *ct.retries
			}
			if got != tc.want {
				t.Errorf("retries = %d, want %d", got, tc.want)
			}
			tagsCheckFindings(t, fs, tc.findings)
		})
	}
}

func TestParseTagsAfter(t *testing.T) {
	tests := []struct {
		name     string
		tags     []string
		want     []string
		findings []tagFinding
	}{
		{"one", []string{"after:load"}, []string{"load"}, nil},
		{"several tags", []string{"after:a", "after:b"}, []string{"a", "b"}, nil},
		{"comma list", []string{"after:a,b, c"}, []string{"a", "b", "c"}, nil},
		{"mixed", []string{"after:a", "after: b ,c"}, []string{"a", "b", "c"}, nil},
		{"empty", []string{"after:"}, nil, []tagFinding{{SevWarning, "after: needs a task name"}}},
		{"empty item keeps the others", []string{"after:a,,b"}, []string{"a", "b"}, []tagFinding{{SevWarning, `tag "after:a,,b" ignored: after: needs a task name`}}},
		{"invalid name", []string{"after:bad-name"}, nil, []tagFinding{{SevWarning, "after: needs a task name"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ct, fs := tagsParse(tc.tags...)
			if !reflect.DeepEqual(ct.after, tc.want) {
				t.Errorf("after = %q, want %q", ct.after, tc.want)
			}
			tagsCheckFindings(t, fs, tc.findings)
		})
	}
}

func TestParseTagsTimeout(t *testing.T) {
	tests := []struct {
		name     string
		tags     []string
		want     time.Duration
		findings []tagFinding
	}{
		{"minutes", []string{"timeout:30m"}, 30 * time.Minute, nil},
		{"hours and minutes", []string{"timeout:1h30m"}, 90 * time.Minute, nil},
		{"bare seconds", []string{"timeout:90"}, 90 * time.Second, nil},
		{"spaces", []string{" timeout : 45s "}, 45 * time.Second, nil},
		{"fractional hours are whole seconds", []string{"timeout:1.5h"}, 90 * time.Minute, nil},
		{"zero", []string{"timeout:0"}, 0, []tagFinding{{SevWarning, "timeout must be a positive duration"}}},
		{"zero with unit", []string{"timeout:0s"}, 0, []tagFinding{{SevWarning, "timeout must be a positive duration"}}},
		{"negative", []string{"timeout:-5s"}, 0, []tagFinding{{SevWarning, "timeout must be a positive duration"}}},
		{"negative bare", []string{"timeout:-5"}, 0, []tagFinding{{SevWarning, "timeout must be a positive duration"}}},
		{"fraction of a second", []string{"timeout:1.5s"}, 0, []tagFinding{{SevWarning, "timeout must be whole seconds"}}},
		{"milliseconds", []string{"timeout:1500ms"}, 0, []tagFinding{{SevWarning, "whole seconds"}}},
		{"garbage", []string{"timeout:soon"}, 0, []tagFinding{{SevWarning, "positive duration such as 30m or 1h"}}},
		{"first valid wins", []string{"timeout:1h", "timeout:2h"}, time.Hour, []tagFinding{{SevNotice, "timeout already set"}}},
		{"invalid then valid", []string{"timeout:x", "timeout:10m"}, 10 * time.Minute, []tagFinding{{SevWarning, `tag "timeout:x" ignored`}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ct, fs := tagsParse(tc.tags...)
			if ct.timeout != tc.want {
				t.Errorf("timeout = %v, want %v", ct.timeout, tc.want)
			}
			tagsCheckFindings(t, fs, tc.findings)
		})
	}
}

func TestParseTagsPool(t *testing.T) {
	tests := []struct {
		name     string
		tags     []string
		want     string
		findings []tagFinding
	}{
		{"simple", []string{"pool:etl"}, "etl", nil},
		{"spaces inside are kept", []string{"pool: big pool "}, "big pool", nil},
		{"colon inside", []string{"pool:a:b"}, "a:b", nil},
		{"empty", []string{"pool:"}, "", []tagFinding{{SevWarning, "pool needs a name"}}},
		{"control character", []string{"pool:a\x01b"}, "", []tagFinding{{SevWarning, "pool needs a name"}}},
		{"too long", []string{"pool:" + strings.Repeat("p", 257)}, "", []tagFinding{{SevWarning, "pool needs a name"}}},
		{"longest allowed", []string{"pool:" + strings.Repeat("p", 256)}, strings.Repeat("p", 256), nil},
		{"first valid wins", []string{"pool:a", "pool:b"}, "a", []tagFinding{{SevNotice, "pool already set"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ct, fs := tagsParse(tc.tags...)
			if ct.pool != tc.want {
				t.Errorf("pool = %q, want %q", ct.pool, tc.want)
			}
			tagsCheckFindings(t, fs, tc.findings)
		})
	}
}

func TestParseTagsTriggerRule(t *testing.T) {
	for rule := range triggerRules {
		t.Run("valid "+rule, func(t *testing.T) {
			ct, fs := tagsParse("trigger_rule:" + rule)
			if ct.triggerRule != rule || len(fs) != 0 {
				t.Errorf("triggerRule = %q, findings %v", ct.triggerRule, fs)
			}
		})
	}
	tests := []struct {
		name     string
		tags     []string
		want     string
		findings []tagFinding
	}{
		{"typo gets a suggestion", []string{"trigger_rule:all_sucess"}, "", []tagFinding{{SevWarning, `unknown trigger rule (did you mean "all_success"?)`}}},
		{"close to none_failed", []string{"trigger_rule:none_faild"}, "", []tagFinding{{SevWarning, `did you mean "none_failed"?`}}},
		{"nothing close", []string{"trigger_rule:whenever_you_like"}, "", []tagFinding{{SevWarning, "unknown trigger rule"}}},
		{"upper case is not a rule", []string{"trigger_rule:ALL_DONE"}, "", []tagFinding{{SevWarning, "unknown trigger rule"}}},
		{"first valid wins", []string{"trigger_rule:all_done", "trigger_rule:always"}, "all_done", []tagFinding{{SevNotice, "trigger_rule already set"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ct, fs := tagsParse(tc.tags...)
			if ct.triggerRule != tc.want {
				t.Errorf("triggerRule = %q, want %q", ct.triggerRule, tc.want)
			}
			tagsCheckFindings(t, fs, tc.findings)
		})
	}
	t.Run("no suggestion for a far-off rule", func(t *testing.T) {
		_, fs := tagsParse("trigger_rule:whenever_you_like")
		if len(fs) == 1 && strings.Contains(fs[0].Message, "did you mean") {
			t.Errorf("unexpected suggestion: %s", fs[0].Message)
		}
	})
}

func TestParseTagsFlags(t *testing.T) {
	tests := []struct {
		name           string
		tags           []string
		skip, params   bool
		findingsSubstr []tagFinding
	}{
		{"skip", []string{"skip"}, true, false, nil},
		{"parameters", []string{"parameters"}, false, true, nil},
		{"both with spaces", []string{" skip ", " parameters"}, true, true, nil},
		{"skip with a value is the wrong form", []string{"skip:true"}, false, false, []tagFinding{{SevWarning, `unknown tag "skip:true" ignored (wrong form`}}},
		{"parameters with a colon is the wrong form", []string{"parameters:"}, false, false, []tagFinding{{SevWarning, `unknown tag "parameters:" ignored (wrong form`}}},
		{"task without a value is the wrong form", []string{"task"}, false, false, []tagFinding{{SevWarning, `unknown tag "task" ignored (wrong form`}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ct, fs := tagsParse(tc.tags...)
			if ct.skip != tc.skip || ct.parameters != tc.params {
				t.Errorf("skip = %v, parameters = %v; want %v, %v", ct.skip, ct.parameters, tc.skip, tc.params)
			}
			tagsCheckFindings(t, fs, tc.findingsSubstr)
		})
	}
}

func TestParseTagsUnknown(t *testing.T) {
	tests := []struct {
		tag     string
		suggest string // "" means no "did you mean"
	}{
		{"taks:x", "task"},
		{"Task:x", "task"},
		{"retires:3", "retries"},
		{"timout:5m", "timeout"},
		{"parameter", "parameters"},
		{"triggerrule:all_done", "trigger_rule"},
		{"aftr:a", "after"},
		{"papermill-error-cell-tag", ""},
		{"hide-input", ""},
		{"something_else_entirely", ""},
	}
	for _, tc := range tests {
		t.Run(tc.tag, func(t *testing.T) {
			ct, fs := tagsParse(tc.tag)
			if !reflect.DeepEqual(ct, cellTags{}) {
				t.Errorf("unknown tag changed the cell's tags: %+v", ct)
			}
			if len(fs) != 1 {
				t.Fatalf("findings = %v, want one", fs)
			}
			f := fs[0]
			if f.Severity != SevWarning || f.Code != CodeTag || !strings.Contains(f.Message, `unknown tag "`+tc.tag+`" ignored`) {
				t.Errorf("finding = %+v", f)
			}
			hint := strings.Contains(f.Message, "did you mean")
			switch {
			case tc.suggest == "" && hint:
				t.Errorf("unexpected suggestion in %q", f.Message)
			case tc.suggest != "" && !strings.Contains(f.Message, `(did you mean "`+tc.suggest+`"?)`):
				t.Errorf("message %q does not suggest %q", f.Message, tc.suggest)
			}
		})
	}
}

func TestParseTagsCombined(t *testing.T) {
	ct, fs := tagsParse("task:load", "retries:2", "after:a,b", "timeout:10m", "pool:p", "trigger_rule:all_done", "parameters", "skip", "hide-input")
	n := 2
	want := cellTags{task: "load", retries: &n, parameters: true, skip: true, after: []string{"a", "b"}, timeout: 10 * time.Minute, pool: "p", triggerRule: "all_done"}
	if !reflect.DeepEqual(ct, want) {
		t.Errorf("tags = %+v, want %+v", ct, want)
	}
	tagsCheckFindings(t, fs, []tagFinding{{SevWarning, `unknown tag "hide-input"`}})
}

func TestParseTagsMergedCellsKeepEarlierValues(t *testing.T) {
	// Merged cells call parseTags once with the tags of every cell in order.
	var ct cellTags
	r := &reporter{}
	parseTags(&ct, []string{"task:first"}, 5, r)
	parseTags(&ct, []string{"task:second", "retries:1"}, 5, r)
	if ct.task != "first" || ct.retries == nil || *ct.retries != 1 {
		t.Errorf("tags = %+v", ct)
	}
	tagsCheckFindings(t, r.findings, []tagFinding{{SevNotice, "task already set"}})
}
