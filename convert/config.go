package convert

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/robfig/cron/v3"
	"go.yaml.in/yaml/v3"
)

// Config is the resolved configuration of one notebook. Its YAML names are the
// keys users write in front matter, metadata.nbpipe and .nbpipe.yaml.
type Config struct {
	DagID      string   `yaml:"dag_id"`
	Schedule   *string  `yaml:"schedule"` // nil: no schedule (manual runs only)
	StartDate  string   `yaml:"start_date"`
	Catchup    bool     `yaml:"catchup"`
	Mode       string   `yaml:"mode"`
	Targets    []string `yaml:"targets"`
	Owner      string   `yaml:"owner"`
	Tags       []string `yaml:"tags"`
	Retries    int      `yaml:"retries"`
	RetryDelay string   `yaml:"retry_delay"`
	// ExecutionTimeout and Pool apply to the batch task, and to every
	// per_cell task without its own timeout:/pool: tag.
	ExecutionTimeout string `yaml:"execution_timeout"`
	Pool             string `yaml:"pool"`
	// StatementTimeout bounds each Livy statement: a hung statement is
	// cancelled and fails its task.
	StatementTimeout string `yaml:"statement_timeout"`
	// MaxActiveRuns is the DAG's max_active_runs: 1 by default, since a
	// notebook's runs usually write the same tables.
	MaxActiveRuns    int               `yaml:"max_active_runs"`
	LivyConnID       string            `yaml:"livy_conn_id"`
	ClusterID        string            `yaml:"cluster_id"`
	SparkImage       string            `yaml:"spark_image"`
	DriverMemory     string            `yaml:"driver_memory"`
	ExecutorMemory   string            `yaml:"executor_memory"`
	NumExecutors     int               `yaml:"num_executors"`
	SparkConf        map[string]string `yaml:"spark_conf"`
	EnabledCellKinds []string          `yaml:"enabled_cell_kinds"`
	Params           map[string]any    `yaml:"params"`
	Trigger          bool              `yaml:"trigger"`
	Wait             bool              `yaml:"wait"`
	Unpause          bool              `yaml:"unpause"`
	ServiceName      string            `yaml:"service_name"`
	ScheduleName     string            `yaml:"schedule_name"`
	CronExpression   string            `yaml:"cron_expression"`
	Args             string            `yaml:"args"`
	AllowSecrets     bool              `yaml:"allow_secrets"`
	StripPrint       bool              `yaml:"strip_print"`
	StripDisplay     bool              `yaml:"strip_display"`
}

// Targets nbpipe can render.
const (
	TargetAirflow     = "airflow"
	TargetPyFile      = "pyfile"
	TargetIlumSingle  = "ilum_single"
	TargetIlumService = "ilum_service"
	TargetIlumCron    = "ilum_cron"
)

// DefaultConfig holds the built-in defaults, the lowest layer.
func DefaultConfig() Config {
	return Config{
		StartDate:        "2025-01-01",
		Mode:             "batch",
		Targets:          []string{TargetAirflow},
		Owner:            "nbpipe",
		Retries:          3,
		RetryDelay:       "5m",
		StatementTimeout: DefaultStatementTimeout,
		MaxActiveRuns:    1,
		LivyConnID:       "ilum-livy-proxy",
		ClusterID:        "default",
		EnabledCellKinds: []string{"spark", "pyspark", "sql", "plain"},
		CronExpression:   "0 */6 * * *",
		StripPrint:       true,
		StripDisplay:     true,
		Unpause:          true,
	}
}

// DefaultStatementTimeout is how long one Livy statement may run.
const DefaultStatementTimeout = "6h"

// Layer is one source of configuration, applied in order: later layers win.
type Layer struct {
	Name string     // where it came from, for messages: "front matter", ".nbpipe.yaml", ...
	Node *yaml.Node // a mapping node
	// Server marks the server's own settings, which locked keys do not bind.
	Server bool
}

// ParseLayer reads YAML (or JSON) text into a Layer. Empty text is an empty layer.
func ParseLayer(name string, data []byte) (Layer, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return Layer{}, fmt.Errorf("%s: %w", name, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return Layer{Name: name}, nil
	}
	n := doc.Content[0]
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return Layer{Name: name}, nil
	}
	if n.Kind != yaml.MappingNode {
		return Layer{}, fmt.Errorf("%s: line %d: expected a mapping of settings", name, n.Line)
	}
	return Layer{Name: name, Node: n}, nil
}

// LayerFromValues builds a layer from already-typed settings (flags, env).
func LayerFromValues(name string, values map[string]any) (Layer, error) {
	var n yaml.Node
	if err := n.Encode(values); err != nil {
		return Layer{}, fmt.Errorf("%s: %w", name, err)
	}
	return Layer{Name: name, Node: &n, Server: true}, nil
}

var configFields = func() map[string]int {
	m := map[string]int{}
	t := reflect.TypeOf(Config{})
	for i := 0; i < t.NumField(); i++ {
		m[t.Field(i).Tag.Get("yaml")] = i
	}
	return m
}()

// ConfigKeys lists every key a layer may set.
func ConfigKeys() []string { return sortedKeys(configFields) }

// apply sets every key of the layer on c. Unknown keys and wrong types are
// errors naming the layer, line and key.
func (c *Config) apply(l Layer) error {
	if l.Node == nil {
		return nil
	}
	v := reflect.ValueOf(c).Elem()
	for i := 0; i+1 < len(l.Node.Content); i += 2 {
		k, val := l.Node.Content[i], l.Node.Content[i+1]
		idx, ok := configFields[k.Value]
		if !ok {
			msg := fmt.Sprintf("%s: line %d: unknown key %q", l.Name, k.Line, k.Value)
			if s := suggest(k.Value, ConfigKeys()); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			return fmt.Errorf("%s", msg)
		}
		field := v.Field(idx)
		fresh := reflect.New(field.Type())
		if err := val.Decode(fresh.Interface()); err != nil {
			return fmt.Errorf("%s: line %d: key %q: %s", l.Name, val.Line, k.Value, yamlErrText(err))
		}
		field.Set(fresh.Elem())
	}
	return nil
}

func yamlErrText(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "yaml: unmarshal errors:\n")
	s = strings.TrimSpace(s)
	if i := strings.Index(s, ": "); i >= 0 && strings.HasPrefix(s, "line ") {
		s = s[i+2:]
	}
	return s
}

// suggest returns the candidate closest to s when it is close enough.
func suggest(s string, candidates []string) string {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(s), c); d < bestD {
			best, bestD = c, d
		}
	}
	if bestD <= 2 || (bestD <= len(s)/3 && bestD <= 4) {
		return best
	}
	for _, c := range candidates { // retry -> retries: a long shared stem
		if p := commonPrefix(strings.ToLower(s), c); p >= 4 && p >= min(len(s), len(c))-1 {
			return c
		}
	}
	return ""
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Resolve applies the layers over the defaults and validates the result.
func Resolve(layers ...Layer) (Config, error) { return ResolveLocked(nil, layers...) }

// ResolveLocked is Resolve where the server keeps some keys to itself: a
// repository file or a notebook that sets one of them is an error.
func ResolveLocked(locked []string, layers ...Layer) (Config, error) {
	c := DefaultConfig()
	for _, l := range layers {
		if !l.Server && l.Node != nil {
			for i := 0; i+1 < len(l.Node.Content); i += 2 {
				if k := l.Node.Content[i]; slices.Contains(locked, k.Value) {
					return c, fmt.Errorf("%s: line %d: key %q is set by the server and cannot be changed here", l.Name, k.Line, k.Value)
				}
			}
		}
		if err := c.apply(l); err != nil {
			return c, err
		}
	}
	return c, c.validate()
}

var (
	dagIDPattern   = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)
	identPattern   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	memoryPattern  = regexp.MustCompile(`(?i)^\d+[kmgt]b?$`)
	schedulePreset = map[string]bool{
		"@once": true, "@continuous": true, "@hourly": true, "@daily": true,
		"@weekly": true, "@monthly": true, "@quarterly": true, "@yearly": true,
	}
	cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)
	cellKinds  = map[string]bool{"spark": true, "pyspark": true, "sql": true, "plain": true, "local": true}
	allTargets = map[string]bool{TargetAirflow: true, TargetPyFile: true, TargetIlumSingle: true, TargetIlumService: true, TargetIlumCron: true}
)

func (c *Config) validate() error {
	if c.DagID != "" {
		if err := ValidateDagID(c.DagID); err != nil {
			return err
		}
	}
	if c.Schedule != nil {
		if err := validateSchedule(*c.Schedule); err != nil {
			return fmt.Errorf("schedule: %w", err)
		}
	}
	if _, err := parseStartDate(c.StartDate); err != nil {
		return fmt.Errorf("start_date %q: want YYYY-MM-DD or an RFC 3339 time", c.StartDate)
	}
	if c.Mode != "batch" && c.Mode != "per_cell" {
		return fmt.Errorf("mode %q: want batch or per_cell", c.Mode)
	}
	if len(c.Targets) == 0 {
		return fmt.Errorf("targets: at least one of %s", strings.Join(sortedKeys(allTargets), ", "))
	}
	for _, t := range c.Targets {
		if !allTargets[t] {
			return fmt.Errorf("targets: unknown target %q%s (known: %s)", t, didYouMean(t, sortedKeys(allTargets)), strings.Join(sortedKeys(allTargets), ", "))
		}
	}
	if strings.TrimSpace(c.Owner) == "" {
		return fmt.Errorf("owner: must not be empty")
	}
	if c.Retries < 0 || c.Retries > 100 {
		return fmt.Errorf("retries %d: want 0 to 100", c.Retries)
	}
	if _, err := parseDuration(c.RetryDelay); err != nil {
		return fmt.Errorf("retry_delay %q: %w", c.RetryDelay, err)
	}
	if c.ExecutionTimeout != "" {
		if d, err := parseDuration(c.ExecutionTimeout); err != nil || d <= 0 || d%time.Second != 0 {
			return fmt.Errorf("execution_timeout %q: want a positive whole-second duration such as 30m or 2h", c.ExecutionTimeout)
		}
	}
	if d, err := parseDuration(c.StatementTimeout); err != nil || d <= 0 || d%time.Second != 0 {
		return fmt.Errorf("statement_timeout %q: want a positive whole-second duration such as 30m or 6h", c.StatementTimeout)
	}
	for _, tag := range c.Tags {
		// Airflow refuses the whole DAG file at import over a long tag.
		if n := utf8.RuneCountInString(tag); n > MaxTagLen {
			return fmt.Errorf("tags: %.24q... is %d characters; Airflow allows at most %d", tag, n, MaxTagLen)
		}
	}
	if c.Pool != "" && (len(c.Pool) > 256 || strings.IndexFunc(c.Pool, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0) {
		return fmt.Errorf("pool %q: want a pool name", c.Pool)
	}
	if c.MaxActiveRuns < 1 || c.MaxActiveRuns > 1000 {
		return fmt.Errorf("max_active_runs %d: want 1 to 1000", c.MaxActiveRuns)
	}
	if c.Schedule != nil && *c.Schedule == "@continuous" && c.MaxActiveRuns > 1 {
		// Airflow refuses the DAG at import otherwise.
		return fmt.Errorf("max_active_runs %d: a @continuous schedule allows only 1", c.MaxActiveRuns)
	}
	if strings.TrimSpace(c.LivyConnID) == "" {
		return fmt.Errorf("livy_conn_id: must not be empty")
	}
	for key, v := range map[string]string{"driver_memory": c.DriverMemory, "executor_memory": c.ExecutorMemory} {
		if v != "" && !memoryPattern.MatchString(v) {
			return fmt.Errorf("%s %q: want a size such as 2g or 512m", key, v)
		}
	}
	if c.NumExecutors < 0 {
		return fmt.Errorf("num_executors %d: must not be negative", c.NumExecutors)
	}
	for _, k := range c.EnabledCellKinds {
		if !cellKinds[k] {
			return fmt.Errorf("enabled_cell_kinds: %q cannot be exported%s (exportable: %s)", k, didYouMean(k, sortedKeys(cellKinds)), strings.Join(sortedKeys(cellKinds), ", "))
		}
	}
	for _, name := range sortedKeys(c.Params) {
		if !identPattern.MatchString(name) || pyKeywords[name] {
			return fmt.Errorf("params: %q is not a valid Python name", name)
		}
	}
	if c.CronExpression != "" {
		if err := validateCron(c.CronExpression); err != nil {
			return fmt.Errorf("cron_expression: %w", err)
		}
	}
	return nil
}

func didYouMean(s string, candidates []string) string {
	if m := suggest(s, candidates); m != "" {
		return fmt.Sprintf(" (did you mean %q?)", m)
	}
	return ""
}

// MaxTagLen is Airflow's limit on a DAG tag (TAG_MAX_LEN): a longer one is
// an import error for the whole file.
const MaxTagLen = 100

// MaxDagIDLen bounds dag_ids so that every file named after one stays within
// the 255-byte file name limit with its longest suffix ("_service.py"):
// Airflow allows 250 characters, but a 250-character id gives a file name
// git stores and no checkout can write.
const MaxDagIDLen = 255 - len("_service.py")

// ValidateDagID applies Airflow's rule for DAG ids (letters, digits, '_', '.',
// '-'), restricted to ASCII so the id is also a safe file name, and at most
// MaxDagIDLen characters.
func ValidateDagID(id string) error {
	if len(id) > MaxDagIDLen {
		return fmt.Errorf("dag_id %.24q...: %d characters, over the limit of %d (file names derived from it must stay within 255 bytes)", id, len(id), MaxDagIDLen)
	}
	if !dagIDPattern.MatchString(id) || strings.Contains(id, "..") {
		return fmt.Errorf("dag_id %q: use letters, digits, '_', '.' and '-' (not starting with '.' or '-')", id)
	}
	return nil
}

func validateSchedule(s string) error {
	if strings.HasPrefix(s, "@") {
		if !schedulePreset[s] {
			return fmt.Errorf("%q is not an Airflow preset (%s)", s, strings.Join(sortedKeys(schedulePreset), ", "))
		}
		return nil
	}
	return validateCron(s)
}

func validateCron(s string) error {
	_, err := cronParser.Parse(s)
	if err == nil {
		return nil
	}
	// Airflow's croniter also takes L, W and # (0 0 L * *, 0 9 * * 1#3), which
	// the parser does not: accept those when the shape is a 5-field cron.
	if f := strings.Fields(s); len(f) == 5 && strings.ContainsAny(s, "LW#") && croniterFields.MatchString(s) {
		return nil
	}
	return fmt.Errorf("%q is not a 5-field cron expression: %v", s, err)
}

var croniterFields = regexp.MustCompile(`^(?:[0-9A-Za-z*/,#?-]+\s+){4}[0-9A-Za-z*/,#?-]+$`)

func parseStartDate(s string) (time.Time, error) {
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	return time.Parse(time.RFC3339, s)
}

// parseDuration accepts Go durations ("90s", "1h30m") and whole seconds.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.Atoi(s); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("must not be negative")
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("want a duration such as 30s, 10m or 1h30m")
	}
	if d < 0 {
		return 0, fmt.Errorf("must not be negative")
	}
	return d, nil
}

// frontMatter finds notebook-level settings: the first cell, when it is a raw
// cell holding YAML between "---" lines (jupytext/Quarto), and metadata.nbpipe.
// A front matter that has an "nbpipe" key is read from that key only, so Quarto
// or jupytext keys next to it are left alone.
func frontMatter(nb *Notebook) (layers []Layer, cell int, err error) {
	cell = -1
	if nb.Metadata != nil {
		l, err := ParseLayer("metadata.nbpipe", nb.Metadata)
		if err != nil {
			return nil, -1, err
		}
		layers = append(layers, l)
	}
	if len(nb.Cells) == 0 || nb.Cells[0].Type != "raw" {
		return layers, -1, nil
	}
	body, ok := yamlFence(nb.Cells[0].Source)
	if !ok {
		return layers, -1, nil
	}
	// body keeps the fence as an empty first line, so YAML's line numbers
	// are the cell's.
	l, err := ParseLayer("front matter (cell 1)", []byte(body))
	if err != nil {
		return nil, 0, err
	}
	if l.Node != nil {
		for i := 0; i+1 < len(l.Node.Content); i += 2 {
			if l.Node.Content[i].Value == "nbpipe" {
				sub := l.Node.Content[i+1]
				if sub.Kind != yaml.MappingNode {
					return nil, 0, fmt.Errorf("front matter (cell 1): line %d: nbpipe must be a mapping", sub.Line)
				}
				l.Node = sub
				break
			}
		}
	}
	return append(layers, l), 0, nil
}

func yamlFence(src string) (string, bool) {
	src = strings.TrimLeft(src, "\ufeff")
	lines := strings.SplitAfter(src, "\n")
	if len(lines) < 2 || strings.TrimRight(lines[0], " \t\r\n") != "---" {
		return "", false
	}
	for i := 1; i < len(lines); i++ {
		t := strings.TrimRight(lines[i], " \t\r\n")
		if t == "---" || t == "..." {
			return "\n" + strings.Join(lines[1:i], ""), true
		}
	}
	return "", false
}

// RepoConfig is a source repository's .nbpipe.yaml.
type RepoConfig struct {
	Defaults Layer
	Include  []string
	Exclude  []string
	Rules    []RepoRule
}

// RepoRule applies settings to the notebooks matching a glob.
type RepoRule struct {
	Match  string
	Config Layer
}

// ParseRepoConfig reads .nbpipe.yaml:
//
//	defaults: {settings}
//	include: ["pipelines/**/*.ipynb"]   # default: every notebook
//	exclude: ["scratch/**"]
//	rules:
//	  - match: "pipelines/hourly/*.ipynb"
//	    config: {settings}
func ParseRepoConfig(name string, data []byte) (*RepoConfig, error) {
	var raw struct {
		Defaults yaml.Node `yaml:"defaults"`
		Include  []string  `yaml:"include"`
		Exclude  []string  `yaml:"exclude"`
		Rules    []struct {
			Match  string    `yaml:"match"`
			Config yaml.Node `yaml:"config"`
		} `yaml:"rules"`
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if len(doc.Content) > 0 {
		top := doc.Content[0]
		if err := checkKeys(name, top, []string{"defaults", "include", "exclude", "rules"}); err != nil {
			return nil, err
		}
		if err := top.Decode(&raw); err != nil {
			return nil, fmt.Errorf("%s: %s", name, yamlErrText(err))
		}
		if rules := mappingValue(top, "rules"); rules != nil && rules.Kind == yaml.SequenceNode {
			for i, r := range rules.Content {
				if err := checkKeys(fmt.Sprintf("%s rules[%d]", name, i), r, []string{"match", "config"}); err != nil {
					return nil, err
				}
			}
		}
	}
	rc := &RepoConfig{Include: raw.Include, Exclude: raw.Exclude}
	node := func(n yaml.Node, what string) (Layer, error) {
		if n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
			return Layer{Name: what}, nil
		}
		if n.Kind != yaml.MappingNode {
			return Layer{}, fmt.Errorf("%s: line %d: expected a mapping of settings", what, n.Line)
		}
		nn := n
		return Layer{Name: what, Node: &nn}, nil
	}
	var err error
	if rc.Defaults, err = node(raw.Defaults, name+" defaults"); err != nil {
		return nil, err
	}
	if err := (&Config{}).apply(rc.Defaults); err != nil {
		return nil, err
	}
	for _, g := range append(append([]string{}, raw.Include...), raw.Exclude...) {
		if !doublestar.ValidatePattern(g) {
			return nil, fmt.Errorf("%s: invalid glob %q", name, g)
		}
	}
	for i, r := range raw.Rules {
		if !doublestar.ValidatePattern(r.Match) || r.Match == "" {
			return nil, fmt.Errorf("%s: rules[%d]: invalid glob %q", name, i, r.Match)
		}
		l, err := node(r.Config, fmt.Sprintf("%s rules[%d] (%s)", name, i, r.Match))
		if err != nil {
			return nil, err
		}
		if err := (&Config{}).apply(l); err != nil {
			return nil, err
		}
		rc.Rules = append(rc.Rules, RepoRule{Match: r.Match, Config: l})
	}
	return rc, nil
}

// checkKeys reports a mapping key that is not one of known, suggesting the
// closest one.
func checkKeys(where string, n *yaml.Node, known []string) error {
	if n == nil || n.Kind != yaml.MappingNode {
		if n != nil && !(n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
			return fmt.Errorf("%s: line %d: expected a mapping", where, n.Line)
		}
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if !slices.Contains(known, k.Value) {
			return fmt.Errorf("%s: line %d: unknown key %q%s (known: %s)", where, k.Line, k.Value, didYouMean(k.Value, known), strings.Join(known, ", "))
		}
	}
	return nil
}

// mappingValue returns the value node of key in a mapping node.
func mappingValue(n *yaml.Node, key string) *yaml.Node {
	for i := 0; n != nil && i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// Selected reports whether the notebook at path (slash-separated, relative to
// the repository root) is a pipeline under this file's include/exclude globs.
func (rc *RepoConfig) Selected(path string) bool {
	if rc == nil {
		return true
	}
	in := len(rc.Include) == 0
	for _, g := range rc.Include {
		if ok, _ := doublestar.Match(g, path); ok {
			in = true
		}
	}
	for _, g := range rc.Exclude {
		if ok, _ := doublestar.Match(g, path); ok {
			return false
		}
	}
	return in
}

// Stack is the one order of configuration layers for a notebook at path:
// the server's (or command line's) settings, then the repository's
// defaults and matching rules. The notebook's own front matter goes on top
// inside Convert.
func (rc *RepoConfig) Stack(server []Layer, path string) []Layer {
	return append(append([]Layer{}, server...), rc.Layers(path)...)
}

// Layers returns the defaults and every matching rule, in file order.
func (rc *RepoConfig) Layers(path string) []Layer {
	if rc == nil {
		return nil
	}
	out := []Layer{rc.Defaults}
	for _, r := range rc.Rules {
		if ok, _ := doublestar.Match(r.Match, path); ok {
			out = append(out, r.Config)
		}
	}
	return out
}

// sessionConf is the Livy session body resolved from %%configure cells and
// the config, as a JSON-like value.
func sessionConf(c Config, configure map[string]any) map[string]any {
	out := map[string]any{"kind": "pyspark"}
	for k, v := range configure {
		out[k] = v
	}
	if c.DriverMemory != "" {
		out["driverMemory"] = c.DriverMemory
	}
	if c.ExecutorMemory != "" {
		out["executorMemory"] = c.ExecutorMemory
	}
	if c.NumExecutors > 0 {
		out["numExecutors"] = c.NumExecutors
	}
	conf := map[string]any{}
	if m, ok := out["conf"].(map[string]any); ok {
		for k, v := range m {
			conf[k] = v
		}
	}
	for k, v := range c.SparkConf {
		conf[k] = v
	}
	if c.SparkImage != "" {
		conf["spark.kubernetes.container.image"] = c.SparkImage
	}
	if len(conf) > 0 {
		out["conf"] = conf
	} else {
		delete(out, "conf")
	}
	return out
}

// livySessionKeys are the fields Livy's POST /sessions accepts.
var livySessionKeys = map[string]bool{
	"kind": true, "proxyUser": true, "jars": true, "pyFiles": true, "files": true,
	"driverMemory": true, "driverCores": true, "executorMemory": true, "executorCores": true,
	"numExecutors": true, "archives": true, "queue": true, "name": true, "conf": true,
	"heartbeatTimeoutInSecond": true, "ttl": true, "idleTimeout": true,
}

// decodeJSONValue decodes JSON keeping numbers as int where they are whole.
func decodeJSONValue(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("unexpected text after the JSON value")
	}
	return normalizeNumbers(v), nil
}

func normalizeNumbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return int(i)
		}
		f, _ := v.Float64()
		return f
	case []any:
		for i := range v {
			v[i] = normalizeNumbers(v[i])
		}
	case map[string]any:
		for k := range v {
			v[k] = normalizeNumbers(v[k])
		}
	}
	return v
}

// sortedUnique returns the strings sorted without repeats.
func sortedUnique(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}
