package ilum

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"mime/multipart"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Resources are the Spark settings of a job, a group or a schedule: the
// %%configure cells and the notebook's config (see ResourcesFromSession).
type Resources struct {
	DriverMemory   string // "2g"
	ExecutorMemory string
	NumExecutors   int // 0: the cluster's default
	DriverCores    int
	ExecutorCores  int
	// Conf is Spark configuration, sent in the jobConfig field as
	// "k=v;k2=v2". Keys may not hold "=" or ";", values not ";".
	Conf map[string]string
}

// ResourcesFromSession reads a Livy session body, the shape nbpipe makes of
// %%configure cells and the config (driverMemory, executorMemory,
// numExecutors, driverCores, executorCores, conf), into Resources. Other keys
// are ignored; conf values that are not strings are written as JSON.
func ResourcesFromSession(session map[string]any) Resources {
	var r Resources
	r.DriverMemory, _ = session["driverMemory"].(string)
	r.ExecutorMemory, _ = session["executorMemory"].(string)
	r.NumExecutors = intOf(session["numExecutors"])
	r.DriverCores = intOf(session["driverCores"])
	r.ExecutorCores = intOf(session["executorCores"])
	if conf, ok := session["conf"].(map[string]any); ok && len(conf) > 0 {
		r.Conf = map[string]string{}
		for k, v := range conf {
			r.Conf[k] = stringOf(v)
		}
	}
	if conf, ok := session["conf"].(map[string]string); ok && len(conf) > 0 {
		r.Conf = map[string]string{}
		for k, v := range conf {
			r.Conf[k] = v
		}
	}
	return r
}

func intOf(v any) int {
	switch n := v.(type) {
	case int:
		return n
	case int64:
		return int(n)
	case float64:
		if n == math.Trunc(n) {
			return int(n)
		}
	case json.Number:
		i, _ := n.Int64()
		return int(i)
	case string:
		i, _ := strconv.Atoi(n)
		return i
	}
	return 0
}

// stringOf is a value as a form or argument string: strings as they are,
// anything else as JSON (nbpipe's generated code reads non-string parameters
// back with json.loads).
func stringOf(v any) string {
	switch s := v.(type) {
	case string:
		return s
	case nil:
		return "null"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// field is one multipart text field, in sending order.
type field struct{ name, value string }

type fields []field

func (f *fields) add(name, value string) { *f = append(*f, field{name, value}) }

func (f *fields) addIf(name, value string) {
	if value != "" {
		f.add(name, value)
	}
}

func (f *fields) addInt(name string, n int) {
	if n > 0 {
		f.add(name, strconv.Itoa(n))
	}
}

// resources adds the resource fields that are set (facts §3.2).
func (f *fields) resources(r Resources) {
	f.addInt("executors", r.NumExecutors)
	f.addInt("driverCores", r.DriverCores)
	f.addInt("executorCores", r.ExecutorCores)
	f.addIf("driverMemory", r.DriverMemory)
	f.addIf("executorMemory", r.ExecutorMemory)
}

// upload is a file part.
type upload struct {
	field, filename string
	content         []byte
}

// multipartBody writes the fields, then the files.
func multipartBody(fs fields, files ...upload) (contentType string, body []byte, err error) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, f := range fs {
		if err := w.WriteField(f.name, f.value); err != nil {
			return "", nil, err
		}
	}
	for _, u := range files {
		part, err := w.CreateFormFile(u.field, u.filename)
		if err != nil {
			return "", nil, err
		}
		if _, err := part.Write(u.content); err != nil {
			return "", nil, err
		}
	}
	if err := w.Close(); err != nil {
		return "", nil, err
	}
	return w.FormDataContentType(), buf.Bytes(), nil
}

// SparkImageConf is the Spark setting that selects the container image.
const SparkImageConf = "spark.kubernetes.container.image"

// jobConfig is the jobConfig field: Conf plus the image, "k=v;k2=v2" sorted.
func jobConfig(image string, r Resources) (string, error) {
	conf := map[string]string{}
	for k, v := range r.Conf {
		conf[k] = v
	}
	if image != "" {
		conf[SparkImageConf] = image
	}
	return keyValues("Spark conf", conf)
}

// keyValues writes m as "k=v;k2=v2", sorted by key.
func keyValues(what string, m map[string]string) (string, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		if k == "" || strings.ContainsAny(k, "=;") || hasControl(k) {
			return "", invalid("%s key %q: must be non-empty without '=', ';' or control characters", what, k)
		}
		if strings.Contains(m[k], ";") || hasControl(m[k]) {
			return "", invalid("%s %s: the value may not contain ';' or control characters (Ilum separates entries with ';')", what, k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ";"), nil
}

// list writes items as "a;b", dropping empty ones.
func list(what string, items []string) (string, error) {
	var out []string
	for _, it := range items {
		if strings.TrimSpace(it) == "" {
			continue
		}
		if strings.Contains(it, ";") || hasControl(it) {
			return "", invalid("%s %q: may not contain ';' or control characters (Ilum separates entries with ';')", what, it)
		}
		out = append(out, it)
	}
	return strings.Join(out, ";"), nil
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// ParamArgs turns a run's parameters into the job file's arguments,
// "--name=value" sorted by name: strings as they are, other values as JSON.
// nbpipe's job file (spark/<dag_id>.py) parses them with argparse and reads
// non-string values back with json.loads.
func ParamArgs(params map[string]any) ([]string, error) {
	names := make([]string, 0, len(params))
	for n := range params {
		if !paramName.MatchString(n) {
			return nil, invalid("parameter name %q is not a Python identifier", n)
		}
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = "--" + n + "=" + stringOf(params[n])
	}
	return out, nil
}

var paramName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// args is the args field: the given arguments, then the parameters.
func args(given []string, params map[string]any) (string, error) {
	pa, err := ParamArgs(params)
	if err != nil {
		return "", err
	}
	return list("argument", append(append([]string{}, given...), pa...))
}

// ModuleName is the Python module a job file is uploaded as: its base name
// without .py, with every character that cannot be in a Python identifier
// replaced by "_" (a DAG id may hold "-" and "."), and "_" in front of a
// leading digit. The file part is named ModuleName(file)+".py".
func ModuleName(file string) string {
	base := strings.TrimSuffix(path.Base(file), ".py")
	var b strings.Builder
	for i, r := range base {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '_':
		case r >= '0' && r <= '9':
			if i == 0 {
				b.WriteByte('_')
			}
		default:
			r = '_'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// pyUpload is the pyFiles part of a job or service file.
func pyUpload(file string, content []byte) upload {
	return upload{"pyFiles", ModuleName(file) + ".py", content}
}

// ServiceJobClass is the jobClass nbpipe sends for a service class: class
// as is when it is already dotted, else "<module>.<class>" with the module of
// the uploaded file (UNCONFIRMED format, see the package doc).
func ServiceJobClass(file, class string) string {
	if strings.Contains(class, ".") || file == "" {
		return class
	}
	return ModuleName(file) + "." + class
}

// checkFile checks a job file name and content.
func checkFile(file string, content []byte) error {
	if file == "" || strings.ContainsAny(file, "/\\") || hasControl(file) || strings.Contains(file, `"`) {
		return invalid("file name %q: want a plain file name such as job.py", file)
	}
	if !strings.HasSuffix(file, ".py") || len(file) == len(".py") {
		return invalid("file name %q: want a .py file", file)
	}
	if len(content) == 0 {
		return invalid("file %s is empty", file)
	}
	return nil
}

// checkName checks a job, group or schedule name, which also goes into a
// URL path.
func checkName(what, name string) error {
	if strings.TrimSpace(name) == "" {
		return invalid("%s name is empty", what)
	}
	if strings.ContainsAny(name, "/\\;") || hasControl(name) || name == "." || name == ".." {
		return invalid("%s name %q may not contain '/', '\\', ';' or control characters", what, name)
	}
	return nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// DefaultCluster is Ilum's default cluster name (facts §3.1).
const DefaultCluster = "default"

// Fingerprints: nbpipe marks what it deployed so that a repeated call with
// the same spec changes nothing. "code" covers what an update cannot
// change (the uploaded file, cluster, language); "spec" covers everything.
const (
	tagCode = "nbpipe-code"
	tagSpec = "nbpipe-spec"
)

func digest(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s;", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))[:24]
}

func (fs fields) digestParts() []string {
	out := make([]string, 0, 2*len(fs))
	for _, f := range fs {
		out = append(out, f.name, f.value)
	}
	return out
}

// marks are the fingerprints found on an existing group or schedule.
type marks struct{ code, spec string }

var descMark = regexp.MustCompile(`\(nbpipe ` + tagCode + `=([0-9a-f]+) ` + tagSpec + `=([0-9a-f]+)\)`)

// describe is the description with the fingerprints appended.
func describe(desc string, m marks) string {
	mark := fmt.Sprintf("(nbpipe %s=%s %s=%s)", tagCode, m.code, tagSpec, m.spec)
	if desc = strings.TrimSpace(desc); desc == "" {
		return mark
	}
	return desc + " " + mark
}

// tagsField is the tags field: the user's tags plus the fingerprints.
func tagsField(user map[string]string, m marks) (string, error) {
	all := map[string]string{}
	for k, v := range user {
		if k == tagCode || k == tagSpec {
			return "", invalid("tag %q is reserved for nbpipe", k)
		}
		all[k] = v
	}
	all[tagCode], all[tagSpec] = m.code, m.spec
	return keyValues("tag", all)
}

// readMarks finds the fingerprints in tags (a "k=v;..." string or a JSON
// object, UNCONFIRMED which) or else in the description.
func readMarks(tags json.RawMessage, description string) marks {
	t := map[string]string{}
	var s string
	var obj map[string]any
	var list []string
	pairs := func(kvs []string) {
		for _, kv := range kvs {
			if k, v, ok := strings.Cut(kv, "="); ok {
				t[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		}
	}
	switch {
	case json.Unmarshal(tags, &s) == nil:
		pairs(strings.Split(s, ";"))
	case json.Unmarshal(tags, &obj) == nil:
		for k, v := range obj {
			t[k] = stringOf(v)
		}
	case json.Unmarshal(tags, &list) == nil:
		// Older Ilum versions answer a list of "k=v" strings (as the
		// seed's client reads them).
		pairs(list)
	}
	if t[tagCode] != "" && t[tagSpec] != "" {
		return marks{code: t[tagCode], spec: t[tagSpec]}
	}
	if m := descMark.FindStringSubmatch(description); m != nil {
		return marks{code: m[1], spec: m[2]}
	}
	return marks{}
}
