package repo_test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/camunda-waitroom/camunda-waitroom/"

// drivers are the three SQL drivers' import path prefixes, by dialect package.
var drivers = map[string]string{
	"repo/sqlite":   "modernc.org/sqlite",
	"repo/postgres": "github.com/jackc/pgx",
	"repo/mssql":    "github.com/microsoft/go-mssqldb",
}

// daemonOnly are what a front service never needs: the daemon's configuration, CLI and
// metrics libraries, and its own packages.
var daemonOnly = []string{
	"github.com/spf13/viper", "github.com/spf13/cobra", "github.com/prometheus/",
	module + "config", module + "topics", module + "processes", module + "cmd/", module + "internal/",
	module + "repo/stores", module + "repo/repotest",
}

// TestDialectsAreThin: a program that imports one dialect package links that dialect's SQL
// driver and none of the other two, nor anything only the daemon needs (repo/stores, which
// links all three, among them); and the waitroom links no SQL driver at all, whatever store
// it is handed.
func TestDialectsAreThin(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs go list")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH")
	}
	deps := func(pkg string) []string {
		t.Helper()
		out, err := exec.Command(goTool, "list", "-deps", module+pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		return strings.Fields(string(out))
	}
	for pkg, own := range drivers {
		linked := deps(pkg)
		if !hasPrefix(linked, own) {
			t.Errorf("%s does not link its own driver %s: is the check still right?", pkg, own)
		}
		for other, driver := range drivers {
			if other != pkg && hasPrefix(linked, driver) {
				t.Errorf("%s links %s, the %s driver", pkg, driver, other)
			}
		}
		for _, p := range daemonOnly {
			if hasPrefix(linked, p) {
				t.Errorf("%s links %s, which only the daemon needs", pkg, p)
			}
		}
	}
	room := deps("waitroom")
	for other, driver := range drivers {
		if hasPrefix(room, driver) {
			t.Errorf("waitroom links %s, the %s driver: the store brings its own", driver, other)
		}
	}
	if hasPrefix(room, module+"repo/stores") {
		t.Error("waitroom links repo/stores")
	}
}

func hasPrefix(pkgs []string, prefix string) bool {
	for _, p := range pkgs {
		if strings.HasPrefix(p, prefix) {
			return true
		}
	}
	return false
}
