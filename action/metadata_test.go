package action

import (
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestActionMetadata: action.yml runs the prebuilt image (docker://, a
// version tag, never :latest) with the action subcommand, every input it
// declares is read by the code and every input the code reads is declared,
// and the outputs are the ones the code sets.
func TestActionMetadata(t *testing.T) {
	data, err := os.ReadFile("../action.yml")
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		Inputs  map[string]struct{ Required bool } `yaml:"inputs"`
		Outputs map[string]any                     `yaml:"outputs"`
		Runs    struct {
			Using, Image string
			Args         []string
		} `yaml:"runs"`
	}
	if err := yaml.Unmarshal(data, &meta); err != nil {
		t.Fatal(err)
	}
	if meta.Runs.Using != "docker" || !regexp.MustCompile(`^docker://[a-z0-9.-]+(:\d+)?/[a-z0-9/._-]+:v\d+\.\d+\.\d+[a-z0-9.-]*$`).MatchString(meta.Runs.Image) {
		t.Errorf("runs: using %q, image %q: want a prebuilt image with a version tag", meta.Runs.Using, meta.Runs.Image)
	}
	if strings.Join(meta.Runs.Args, " ") != "action" {
		t.Errorf("runs.args %v, want [action]", meta.Runs.Args)
	}
	var code strings.Builder
	for _, f := range []string{"action.go", "preview.go", "deploy.go"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		code.Write(b)
	}
	read := map[string]bool{}
	for _, m := range regexp.MustCompile(`GetInput\("([a-z-]+)"\)`).FindAllStringSubmatch(code.String(), -1) {
		read[m[1]] = true
	}
	for name := range meta.Inputs {
		if !read[name] {
			t.Errorf("input %q is declared but never read", name)
		}
	}
	for name := range read {
		if _, ok := meta.Inputs[name]; !ok {
			t.Errorf("input %q is read but not declared in action.yml", name)
		}
	}
	var set, declared []string
	for _, m := range regexp.MustCompile(`SetOutput\("([a-z-]+)"`).FindAllStringSubmatch(code.String(), -1) {
		if !slices.Contains(set, m[1]) {
			set = append(set, m[1])
		}
	}
	for name := range meta.Outputs {
		declared = append(declared, name)
	}
	sort.Strings(set)
	sort.Strings(declared)
	if strings.Join(set, " ") != strings.Join(declared, " ") {
		t.Errorf("outputs set %v, declared %v", set, declared)
	}
}
