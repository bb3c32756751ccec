package action

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// actionlintVersion is rhysd/actionlint, the usual linter for workflow files
// (expressions, contexts, action inputs, permissions); run from the Go
// module proxy as make lint runs staticcheck.
const actionlintVersion = "v1.7.12"

// TestWorkflowsLint: the project's GitHub workflows pass actionlint, and the
// release workflow publishes the action image under the name action.yml
// pulls (docker://ghcr.io/nbpipe/nbpipe:<tag>-action), so a tagged release
// gives Action users an image that exists.
func TestWorkflowsLint(t *testing.T) {
	root := filepath.Join("..", ".github", "workflows")
	files, _ := filepath.Glob(filepath.Join(root, "*.yml"))
	if len(files) < 2 {
		t.Fatalf("workflows %v: want ci.yml and release.yml", files)
	}
	release, err := os.ReadFile(filepath.Join(root, "release.yml"))
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := os.ReadFile(filepath.Join("..", "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^  image: docker://(ghcr\.io/[^:]+):v\d+\.\d+\.\d+(-action)$`).FindSubmatch(manifest)
	if m == nil {
		t.Fatal("action.yml's runs.image is not docker://ghcr.io/OWNER/NAME:vX.Y.Z-action")
	}
	for _, want := range []string{
		"tags: " + string(m[1]) + ":${{ github.ref_name }}${{ matrix.suffix }}",
		"suffix: " + string(m[2]),
		"WANT: docker://" + string(m[1]) + ":${{ github.ref_name }}" + string(m[2]),
	} {
		if !strings.Contains(string(release), want) {
			t.Errorf("release.yml lacks %q: the image it pushes is not the one action.yml pulls", want)
		}
	}
	if os.Getenv("NBPIPE_E2E") == "" {
		t.Skip("NBPIPE_E2E not set: actionlint is fetched from the Go module proxy in make test")
	}
	lint := func(paths ...string) (string, error) {
		out, err := exec.Command("go", append([]string{"run", "github.com/rhysd/actionlint/cmd/actionlint@" + actionlintVersion, "-no-color"}, paths...)...).CombinedOutput()
		return string(out), err
	}
	if out, err := lint(files...); err != nil {
		t.Fatalf("actionlint: %v\n%s", err, out)
	}
	// The linter can fail: a workflow with an unknown context does.
	bad := filepath.Join(t.TempDir(), "bad.yml")
	if err := os.WriteFile(bad, []byte("on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ${{ github.no_such_field }}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := lint(bad); err == nil || !strings.Contains(out, "no_such_field") {
		t.Fatalf("actionlint passed a broken workflow: %v\n%s", err, out)
	}
}
