package convert

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// cellTags are the tags nbpipe understands on one cell (or a merged group).
type cellTags struct {
	task        string
	retries     *int
	parameters  bool
	skip        bool
	after       []string
	timeout     time.Duration
	pool        string
	triggerRule string
}

var triggerRules = map[string]bool{
	"all_success": true, "all_failed": true, "all_done": true, "all_done_setup_success": true,
	"all_done_min_one_success": true, "all_skipped": true, "one_success": true, "one_failed": true,
	"one_done": true, "none_failed": true, "none_failed_min_one_success": true, "none_skipped": true,
	"always": true,
}

// tagWords are tag names for suggestions.
// maxTaskIDLen is Airflow's limit on a task id: a longer one fails the
// DAG's import.
const maxTaskIDLen = 250

var tagWords = []string{"task", "retries", "parameters", "skip", "after", "timeout", "pool", "trigger_rule"}

// parseTags reads tags in order; the first valid task:/retries:/timeout:/pool:/
// trigger_rule: wins, so merged cells inherit the first one available. Invalid
// and unknown tags are reported, never silently lost.
func parseTags(t *cellTags, tags []string, cell int, r *reporter) {
	for _, raw := range tags {
		tag := strings.TrimSpace(raw)
		name, val, hasVal := strings.Cut(tag, ":")
		name, val = strings.TrimSpace(name), strings.TrimSpace(val)
		bad := func(format string, args ...any) {
			r.add(SevWarning, CodeTag, cell, 0, "tag %s ignored: %s", strconv.Quote(raw), fmt.Sprintf(format, args...))
		}
		dup := func(have string) {
			r.add(SevNotice, CodeTag, cell, 0, "tag %s ignored: %s already set by an earlier tag", strconv.Quote(raw), have)
		}
		switch {
		case !hasVal && name == "parameters":
			t.parameters = true
		case !hasVal && name == "skip":
			t.skip = true
		case hasVal && name == "task":
			switch {
			case !identPattern.MatchString(val) || pyKeywords[val]:
				bad("task name must match [A-Za-z_][A-Za-z0-9_]*")
			case len(val) > maxTaskIDLen:
				bad("task name is %d characters; Airflow allows at most %d", len(val), maxTaskIDLen)
			case val == "open_session" || val == "close_session" || val == "run_notebook":
				bad("%q is reserved for nbpipe's own tasks", val)
			case t.task != "":
				dup("task")
			default:
				t.task = val
			}
		case hasVal && name == "retries":
			n, err := strconv.Atoi(val)
			switch {
			case err != nil || n < 0 || strings.HasPrefix(val, "+") || strings.HasPrefix(val, "-"):
				bad("retries must be a non-negative integer")
			case n > 100:
				bad("retries must be at most 100")
			case t.retries != nil:
				dup("retries")
			default:
				t.retries = &n
			}
		case hasVal && name == "after":
			for _, a := range strings.Split(val, ",") {
				a = strings.TrimSpace(a)
				if !identPattern.MatchString(a) {
					bad("after: needs a task name")
					continue
				}
				t.after = append(t.after, a)
			}
		case hasVal && name == "timeout":
			d, err := parseDuration(val)
			switch {
			case err != nil || d <= 0:
				bad("timeout must be a positive duration such as 30m or 1h")
			case d%time.Second != 0:
				bad("timeout must be whole seconds")
			case t.timeout != 0:
				dup("timeout")
			default:
				t.timeout = d
			}
		case hasVal && name == "pool":
			switch {
			case val == "" || len(val) > 256 || strings.IndexFunc(val, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0:
				bad("pool needs a name")
			case t.pool != "":
				dup("pool")
			default:
				t.pool = val
			}
		case hasVal && name == "trigger_rule":
			switch {
			case !triggerRules[val]:
				bad("unknown trigger rule%s", didYouMean(val, sortedKeys(triggerRules)))
			case t.triggerRule != "":
				dup("trigger_rule")
			default:
				t.triggerRule = val
			}
		default:
			hint := ""
			if s := suggest(name, tagWords); s != "" && s != name {
				hint = fmt.Sprintf(" (did you mean %q?)", s)
			} else if s == name {
				hint = " (wrong form: see the README's tag list)"
			}
			r.add(SevWarning, CodeTag, cell, 0, "unknown tag %s ignored%s", strconv.Quote(raw), hint)
		}
	}
}

var pyKeywords = func() map[string]bool {
	m := map[string]bool{}
	for _, k := range strings.Fields(`False None True and as assert async await break class continue
		def del elif else except finally for from global if import in is lambda nonlocal not or pass
		raise return try while with yield`) {
		m[k] = true
	}
	return m
}()
