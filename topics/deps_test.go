package topics_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoDaemonConfig: topics and topics/result own their options, so a program that embeds
// the runtime links neither the daemon's config package nor viper; and the runtime itself
// (topics) knows nothing of the store: only topics/result writes process_store rows.
func TestNoDaemonConfig(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs go list")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH")
	}
	const module = "github.com/camunda-waitroom/camunda-waitroom/"
	out, err := exec.Command(goTool, "list", "-deps", module+"topics", module+"topics/result").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	runtime, err := exec.Command(goTool, "list", "-deps", module+"topics").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, runtime)
	}
	for _, p := range strings.Fields(string(runtime)) {
		if p == module+"repo" || strings.HasPrefix(p, module+"repo/") {
			t.Errorf("topics links %s: the runtime must not know the store (topics/result does)", p)
		}
	}
	for _, p := range strings.Fields(string(out)) {
		if p == module+"config" || strings.HasPrefix(p, "github.com/spf13/viper") {
			t.Errorf("topics or topics/result links %s: the daemon maps its configuration onto their options instead (internal/app)", p)
		}
	}
}
