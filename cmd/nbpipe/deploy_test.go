package main

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/nbpipe/nbpipe/internal/server"
)

// The validators, from the registries (nothing is fetched from GitHub):
//   - kubeconform, a Go module, built with go install from the module proxy;
//   - the Kubernetes JSON schemas of the PyPI package kubernetes-validate
//     (its kubernetes-json-schema/vX.Y.Z-local-strict directories: the
//     yannh/kubernetes-json-schema layout, strict variant), downloaded with
//     pip. Their $refs point at https://kubernetes.io/api/_definitions.json;
//     kubeconform's schema cache (-cache) is seeded with the package's own
//     _definitions.json under that URL, so nothing is downloaded and the
//     schema files are used as shipped;
//   - compose-go's compose-spec command (the loader Docker Compose itself
//     uses: the Compose JSON schema plus its consistency checks), a Go
//     module, built with go install.
const (
	kubeconformModule   = "github.com/yannh/kubeconform/cmd/kubeconform@v0.7.0"
	composeSpecModule   = "github.com/compose-spec/compose-go/v2/cmd@v2.16.2"
	k8sSchemaPackage    = "kubernetes-validate==1.37.0"
	k8sDefinitionsURL   = "https://kubernetes.io/api/_definitions.json"
	deployKubernetesDir = "../../deploy/kubernetes"
	deployComposeFile   = "../../deploy/compose/docker-compose.yml"
)

// k8sVersions are validated: the oldest and the newest the package ships
// that a platform team is likely to run.
var k8sVersions = []string{"v1.30.0", "v1.37.0"}

func deployCache(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: the deployment validators are built and downloaded on first use")
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(cache, "nbpipe", "deploy-validate")
	lockFile(t, dir+".lock")
	return dir
}

// goTool builds a Go command from the module proxy once into the cache.
func goTool(t *testing.T, cache, module, name string) string {
	t.Helper()
	bin := filepath.Join(cache, "bin", strings.NewReplacer("/", "_", "@", "_").Replace(module))
	exe := filepath.Join(bin, name)
	if _, err := os.Stat(exe); err == nil {
		return exe
	}
	start := time.Now()
	cmd := exec.Command("go", "install", module)
	cmd.Env = append(os.Environ(), "GOBIN="+bin, "GOFLAGS=-mod=mod", "GOWORK=off")
	cmd.Dir = t.TempDir()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go install %s: %v\n%s", module, err, out)
	}
	t.Logf("built %s in %v", module, time.Since(start).Round(time.Millisecond))
	return exe
}

// pythonForPip is the Python tier's interpreter, else python3 with pip.
func pythonForPip(t *testing.T) string {
	t.Helper()
	if v := os.Getenv("NBPIPE_VENV"); v != "" {
		return filepath.Join(v, "bin", "python")
	}
	py, err := exec.LookPath("python3")
	if err == nil {
		err = exec.Command(py, "-m", "pip", "--version").Run()
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set but there is no python3 with pip for the Kubernetes schemas: %v", err)
		}
		t.Skip("no python3 with pip (needed to download the Kubernetes schemas from PyPI):", err)
	}
	return py
}

// k8sSchemas returns, per Kubernetes version, the schema directory and a
// kubeconform cache seeded with that version's definitions.
func k8sSchemas(t *testing.T, cache string) map[string][2]string {
	t.Helper()
	root := filepath.Join(cache, strings.ReplaceAll(k8sSchemaPackage, "==", "-"))
	out := map[string][2]string{}
	missing := false
	for _, v := range k8sVersions {
		schemas, seeded := filepath.Join(root, v+"-local-strict"), filepath.Join(root, v+"-cache")
		out[v] = [2]string{schemas, seeded}
		if _, err := os.Stat(filepath.Join(seeded, ".done")); err != nil {
			missing = true
		}
	}
	if !missing {
		return out
	}
	start := time.Now()
	dl := t.TempDir()
	cmd := exec.Command(pythonForPip(t), "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q", "-d", dl, k8sSchemaPackage)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pip download %s: %v\n%s", k8sSchemaPackage, err, b)
	}
	wheels, _ := filepath.Glob(filepath.Join(dl, "*.whl"))
	if len(wheels) != 1 {
		t.Fatalf("pip download gave %v", wheels)
	}
	zr, err := zip.OpenReader(wheels[0])
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	for _, v := range k8sVersions {
		prefix := "kubernetes_validate/kubernetes-json-schema/" + v + "-local-strict/"
		dir := out[v][0]
		n := 0
		for _, f := range zr.File {
			if !strings.HasPrefix(f.Name, prefix) || strings.HasSuffix(f.Name, "/") {
				continue
			}
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			data, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(dir, filepath.Base(f.Name)), string(data))
			n++
		}
		if n == 0 {
			t.Fatalf("%s has no %s", wheels[0], prefix)
		}
		defs, err := os.ReadFile(filepath.Join(dir, "_definitions.json"))
		if err != nil {
			t.Fatal(err)
		}
		// kubeconform's on-disk cache: the file name is the hex SHA-256 of the URL.
		sum := sha256.Sum256([]byte(k8sDefinitionsURL))
		writeFile(t, filepath.Join(out[v][1], hex.EncodeToString(sum[:])), string(defs))
		writeFile(t, filepath.Join(out[v][1], ".done"), "")
	}
	t.Logf("Kubernetes schemas %v from PyPI's %s in %v", k8sVersions, k8sSchemaPackage, time.Since(start).Round(time.Millisecond))
	return out
}

func runTool(t *testing.T, dir, exe string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(exe, args...)
	cmd.Dir = dir
	// No proxy: a validator that tried the network would fail, not hang.
	cmd.Env = append(os.Environ(), "HTTPS_PROXY=http://127.0.0.1:1", "HTTP_PROXY=http://127.0.0.1:1", "NO_PROXY=")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, out.String()
}

// TestDeployKubernetesManifestsValidateWithKubeconform validates every
// manifest in deploy/kubernetes with kubeconform -strict against the
// Kubernetes schemas (offline), and shows that a broken manifest fails.
func TestDeployKubernetesManifestsValidateWithKubeconform(t *testing.T) {
	cache := deployCache(t)
	kubeconform := goTool(t, cache, kubeconformModule, "kubeconform")
	schemas := k8sSchemas(t, cache)
	dir, err := filepath.Abs(deployKubernetesDir)
	if err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(t.TempDir(), "broken.yaml")
	deployment := readFile(t, filepath.Join(dir, "deployment.yaml"))
	writeFile(t, broken, strings.Replace(strings.Replace(deployment, "containerPort: 8080", "containerPort: \"8080\"", 1),
		"readOnlyRootFilesystem: true", "readOnlyRootFilesystem: true\n            readOnlyRootFileSystem: true", 1))
	for _, v := range k8sVersions {
		args := []string{"-strict", "-summary", "-skip", "Kustomization", "-cache", schemas[v][1],
			"-schema-location", schemas[v][0] + "/{{ .ResourceKind }}{{ .KindSuffix }}.json"}
		start := time.Now()
		code, out := runTool(t, dir, kubeconform, append(args, ".")...)
		t.Logf("kubeconform, Kubernetes %s, %v: %s", v, time.Since(start).Round(time.Millisecond), strings.TrimSpace(out))
		if code != 0 || !strings.Contains(out, "Valid: 5, Invalid: 0, Errors: 0, Skipped: 1") {
			t.Errorf("Kubernetes %s: exit %d\n%s", v, code, out)
		}
		code, out = runTool(t, dir, kubeconform, append(args, broken)...)
		if code == 0 || !strings.Contains(out, "got string, want integer") || !strings.Contains(out, "readOnlyRootFileSystem") {
			t.Errorf("Kubernetes %s: a broken Deployment passed: exit %d\n%s", v, code, out)
		}
	}
}

// TestDeployComposeFileValidates loads deploy/compose/docker-compose.yml with
// compose-go, Docker Compose's own loader (the Compose Specification's JSON
// schema and its consistency checks), and shows that a wrong key fails.
func TestDeployComposeFileValidates(t *testing.T) {
	cache := deployCache(t)
	spec := goTool(t, cache, composeSpecModule, "cmd")
	file, err := filepath.Abs(deployComposeFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"NBPIPE_TRIAL_JWT_SECRET", "NBPIPE_TRIAL_API_SECRET_KEY", "NBPIPE_TRIAL_WEBHOOK_SECRET", "COMPOSE_FILE", "COMPOSE_PROJECT_NAME"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	code, out := runTool(t, filepath.Dir(file), spec, "--format", "yaml", filepath.Base(file))
	if code != 0 {
		t.Fatalf("compose-spec: exit %d\n%s", code, out)
	}
	var model struct {
		Services map[string]struct {
			Image   string
			Command []string
		}
		Configs map[string]struct{ Content string }
	}
	if err := yaml.Unmarshal([]byte(out), &model); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var names []string
	for n := range model.Services {
		names = append(names, n)
	}
	for _, want := range []string{"gitea", "gitea-init", "nbpipe", "airflow-api-server", "airflow-scheduler", "airflow-dag-processor"} {
		if !slices.Contains(names, want) {
			t.Errorf("no service %s in %v", want, names)
		}
	}
	bad := filepath.Join(t.TempDir(), "docker-compose.yml")
	writeFile(t, bad, strings.Replace(readFile(t, file), "    read_only: true\n", "    read_only: true\n    readonly: true\n", 1))
	if code, out := runTool(t, filepath.Dir(bad), spec, filepath.Base(bad)); code == 0 || !strings.Contains(out, "readonly") {
		t.Errorf("a wrong key passed: exit %d\n%s", code, out)
	}
	// The nbpipe.yaml the trial runs with is one nbpipe accepts.
	cfg := filepath.Join(t.TempDir(), "nbpipe.yaml")
	writeFile(t, cfg, model.Configs["nbpipe-config"].Content)
	env := map[string]string{"NBPIPE_GITEA_SECRET": "s", "NBPIPE_TARGET_TOKEN": "t", "NBPIPE_AIRFLOW_JWT_SECRET": "j"}
	if _, err := server.Load([]string{"--config", cfg}, func(k string) string { return env[k] }); err != nil {
		t.Errorf("the trial's nbpipe.yaml: %v", err)
	}
}

// manifest reads one YAML document.
func manifest(t *testing.T, name string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(readFile(t, filepath.Join(deployKubernetesDir, name))), &m); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m
}

// dig walks maps and lists: dig(m, "spec", "template", 0, ...).
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

// TestDeployManifestsFitNbpipe checks what a schema cannot: the Deployment's
// secrets, files and ports are the ones nbpipe reads and serves. The built
// binary runs with the ConfigMap's nbpipe.yaml and the Deployment's *_FILE
// environment (paths moved to a temporary directory), and the probes and the
// Prometheus scrape path answer.
func TestDeployManifestsFitNbpipe(t *testing.T) {
	dep := manifest(t, "deployment.yaml")
	cm := manifest(t, "configmap.yaml")
	secret := manifest(t, "secret.example.yaml")
	pvc := manifest(t, "pvc.yaml")
	svc := manifest(t, "service.yaml")
	pod := dig(dep, "spec", "template", "spec")
	c := dig(pod, "containers", 0)
	annotations := dig(dep, "spec", "template", "metadata", "annotations").(map[string]any)

	// Non-root, read-only root filesystem, nothing escalates.
	for path, want := range map[string]any{
		"runAsNonRoot": true, "runAsUser": 65532,
	} {
		if got := dig(pod, "securityContext", path); got != want {
			t.Errorf("pod securityContext.%s = %v, want %v", path, got, want)
		}
	}
	if dig(c, "securityContext", "readOnlyRootFilesystem") != true || dig(c, "securityContext", "allowPrivilegeEscalation") != false {
		t.Errorf("container securityContext: %v", dig(c, "securityContext"))
	}
	if dig(pod, "volumes", 0, "persistentVolumeClaim", "claimName") != dig(pvc, "metadata", "name") {
		t.Error("the state volume does not claim the PVC")
	}
	if dig(svc, "spec", "ports", 0, "targetPort") != dig(c, "ports", 0, "name") {
		t.Error("the Service does not target the container's port")
	}

	// Mounts by volume name.
	mounts := map[string]string{}
	for _, m := range dig(c, "volumeMounts").([]any) {
		mounts[dig(m, "name").(string)] = dig(m, "mountPath").(string)
	}
	var cfgText string
	for _, v := range dig(pod, "volumes").([]any) {
		if dig(v, "configMap", "name") == dig(cm, "metadata", "name") {
			cfgText = dig(cm, "data", "nbpipe.yaml").(string)
		}
		if sn := dig(v, "secret", "secretName"); sn != nil && sn != dig(secret, "metadata", "name") {
			t.Errorf("the Deployment mounts Secret %v, the example is %v", sn, dig(secret, "metadata", "name"))
		}
	}
	args := dig(c, "args").([]any)
	if len(args) != 3 || args[0] != "serve" || args[1] != "--config" || filepath.Dir(args[2].(string)) != mounts["config"] {
		t.Errorf("args %v do not read the ConfigMap's file (mounted at %s)", args, mounts["config"])
	}
	var cfg struct {
		Listen   string `yaml:"listen"`
		StateDir string `yaml:"state_dir"`
	}
	if err := yaml.Unmarshal([]byte(cfgText), &cfg); err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprint(dig(c, "ports", 0, "containerPort"))
	if !strings.HasSuffix(cfg.Listen, ":"+port) || cfg.StateDir != mounts["state"] || annotations["prometheus.io/port"] != port {
		t.Errorf("listen %s, state_dir %s, scrape port %v; container port %s, state mount %s", cfg.Listen, cfg.StateDir, annotations["prometheus.io/port"], port, mounts["state"])
	}

	// Every *_FILE variable is a secret file of the Secret; the run below
	// proves nbpipe reads them.
	tmp := t.TempDir()
	secretKeys := dig(secret, "stringData").(map[string]any)
	env := []string{}
	for _, e := range dig(c, "env").([]any) {
		name, value := dig(e, "name").(string), fmt.Sprint(dig(e, "value"))
		if !strings.HasSuffix(name, "_FILE") {
			continue
		}
		key, ok := strings.CutPrefix(value, mounts["secrets"]+"/")
		if _, inSecret := secretKeys[key]; !ok || !inSecret {
			t.Errorf("%s=%s is not a key of the Secret mounted at %s", name, value, mounts["secrets"])
			continue
		}
		writeFile(t, filepath.Join(tmp, "secrets", key), fmt.Sprint(secretKeys[key])+"\n")
		env = append(env, name+"="+filepath.Join(tmp, "secrets", key))
	}
	if len(env) < 2 {
		t.Fatalf("the Deployment passes %d secret files", len(env))
	}

	// Run it. The forge and Airflow hosts of the example are not contacted
	// before a push arrives.
	bin := buildBinary(t)
	addr := freeAddr(t)
	cfgText = strings.Replace(cfgText, "listen: "+cfg.Listen, "listen: "+addr, 1)
	cfgText = strings.Replace(cfgText, "state_dir: "+cfg.StateDir, "state_dir: "+filepath.Join(tmp, "state"), 1)
	writeFile(t, filepath.Join(tmp, "nbpipe.yaml"), cfgText)
	cmd := exec.Command(bin, "serve", "--config", filepath.Join(tmp, "nbpipe.yaml"))
	cmd.Env = append(cleanNbpipeEnv(), env...)
	var logs bytes.Buffer
	startServe(t, cmd, addr, &logs)
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}
	t.Cleanup(stop)
	// One refused delivery, so that the labelled counter is exported too.
	if resp, err := http.Post("http://"+addr+"/webhook", "application/json", strings.NewReader("{}")); err == nil {
		resp.Body.Close()
	}
	var metricsBody []byte
	for _, path := range []any{dig(c, "livenessProbe", "httpGet", "path"), dig(c, "readinessProbe", "httpGet", "path"), annotations["prometheus.io/path"]} {
		resp, err := http.Get("http://" + addr + path.(string))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		if path == "/metrics" {
			metricsBody = body
		}
	}
	// docs/metrics.md lists exactly what /metrics exports.
	exported := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^# TYPE (nbpipe_\w+) `).FindAllStringSubmatch(string(metricsBody), -1) {
		exported[m[1]] = true
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(nbpipe_\\w+)` \\|").FindAllStringSubmatch(readFile(t, "../../docs/metrics.md"), -1) {
		documented[m[1]] = true
	}
	for m := range exported {
		if !documented[m] {
			t.Errorf("%s is exported but not in docs/metrics.md", m)
		}
	}
	for m := range documented {
		if !exported[m] {
			t.Errorf("docs/metrics.md lists %s, which /metrics does not export:\n%s", m, metricsBody)
		}
	}
	if len(exported) < 10 {
		t.Errorf("only %d nbpipe metrics exported:\n%s", len(exported), metricsBody)
	}
	stop()
	for _, s := range secretKeys {
		if strings.Contains(logs.String(), fmt.Sprint(s)) {
			t.Errorf("a secret is in the log:\n%s", logs.String())
		}
	}
}

// cleanNbpipeEnv is the environment without NBPIPE_* and the seed's names,
// so the test sees only what the manifests set.
func cleanNbpipeEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "NBPIPE_") || strings.HasPrefix(k, "GITEA_") || strings.HasPrefix(k, "GITHUB_") || strings.HasPrefix(k, "AIRFLOW_") || strings.HasPrefix(k, "ILUM_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// promtoolModule checks and unit-tests the alert rules. Building it pulls
// the whole Prometheus module graph (measured here: over 1.8 GB of modules
// and more than 4 minutes before it even compiles, cold; 35 s once cached),
// so it is opt-in: NBPIPE_PROMTOOL=1. TestDeployAlertRulesUseExportedMetrics
// always runs.
const promtoolModule = "github.com/prometheus/prometheus/cmd/promtool@v0.316.0"

// TestDeployAlertRules runs promtool check rules and promtool test rules on
// deploy/prometheus: every alert of docs/metrics.md is valid PromQL, fires
// on the series its test feeds it, and not on the healthy ones.
func TestDeployAlertRules(t *testing.T) {
	if os.Getenv("NBPIPE_PROMTOOL") == "" {
		t.Skip("set NBPIPE_PROMTOOL=1 to build promtool (a large download the first time) and unit-test the alert rules")
	}
	cache := deployCache(t)
	promtool := goTool(t, cache, promtoolModule, "promtool")
	dir, err := filepath.Abs("../../deploy/prometheus")
	if err != nil {
		t.Fatal(err)
	}
	code, out := runTool(t, dir, promtool, "check", "rules", "nbpipe-alerts.yaml")
	if code != 0 || !strings.Contains(out, "SUCCESS: 10 rules found") {
		t.Errorf("promtool check rules: exit %d\n%s", code, out)
	}
	if code, out := runTool(t, dir, promtool, "test", "rules", "nbpipe-alerts.test.yaml"); code != 0 {
		t.Errorf("promtool test rules: exit %d\n%s", code, out)
	}
	// The documented alerts are the rules.
	doc := readFile(t, "../../docs/metrics.md")
	for _, m := range regexp.MustCompile(`(?m)^  *- alert: (\w+)$`).FindAllStringSubmatch(readFile(t, filepath.Join(dir, "nbpipe-alerts.yaml")), -1) {
		if !strings.Contains(doc, "| `"+m[1]+"` |") {
			t.Errorf("alert %s is not in docs/metrics.md", m[1])
		}
	}
}

// TestDeployAlertRulesUseExportedMetrics reads the alert rules without
// promtool: every alert has an expression, a severity and a summary, is
// documented, and names only metrics nbpipe exports (docs/metrics.md, which
// TestDeployManifestsFitNbpipe compares with /metrics) or Prometheus' up.
func TestDeployAlertRulesUseExportedMetrics(t *testing.T) {
	var rules struct {
		Groups []struct {
			Name  string
			Rules []struct {
				Alert       string
				Expr        string
				For         string
				Labels      map[string]string
				Annotations map[string]string
			}
		}
	}
	data := readFile(t, "../../deploy/prometheus/nbpipe-alerts.yaml")
	if err := yaml.Unmarshal([]byte(data), &rules); err != nil {
		t.Fatal(err)
	}
	doc := readFile(t, "../../docs/metrics.md")
	documented := map[string]bool{"up": true}
	for _, m := range regexp.MustCompile("(?m)^\\| `(nbpipe_\\w+)` \\|").FindAllStringSubmatch(doc, -1) {
		documented[m[1]] = true
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			if r.Alert == "" || r.Expr == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("rule %+v lacks alert, expr, severity or summary", r)
			}
			if !strings.Contains(doc, "| `"+r.Alert+"` | `") {
				t.Errorf("alert %s is not in docs/metrics.md's table", r.Alert)
			}
			for _, name := range regexp.MustCompile(`\b(nbpipe_[a-z_]+|up)\b`).FindAllString(r.Expr, -1) {
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_count"), "_sum")
				if !documented[base] {
					t.Errorf("alert %s uses %s, which nbpipe does not export", r.Alert, name)
				}
			}
		}
	}
	if n < 8 {
		t.Errorf("%d rules", n)
	}
}
