package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/camunda-waitroom/camunda-waitroom"

// daemonOnly are packages a front service importing the waitroom must never link: the
// daemon's configuration (and viper), command line (cobra), metrics (prometheus), HTTP API,
// runtime and wiring, the migration engine (golang-migrate: a dialect links only its own
// schema, the embedded SQL files), and the package that opens a store of any dialect (it
// links all three drivers). Entries ending in "/" match a whole tree.
var daemonOnly = []string{
	"github.com/spf13/viper",
	"github.com/spf13/cobra",
	"github.com/prometheus/",
	module, // the root package embeds the daemon's config.yaml
	module + "/cmd/",
	module + "/config",
	module + "/internal/",
	"github.com/golang-migrate/",
	module + "/processes",
	module + "/repo/stores",
	module + "/topics",
}

// drivers are the SQL drivers by dialect package.
var drivers = map[string]string{
	"postgres": "github.com/jackc/pgx/v5",
	"sqlite":   "modernc.org/sqlite",
	"mssql":    "github.com/microsoft/go-mssqldb",
}

// TestFrontServiceStaysThin: the waitroom plus one dialect driver, and this example program,
// link none of the daemon's packages and no SQL driver but their own. A new import that
// drags one in (the waitroom taking the daemon's config again, say) fails here, naming the
// package.
func TestFrontServiceStaysThin(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list dependencies: %v", err)
	}
	for _, dialect := range []string{"postgres", "sqlite", "mssql"} {
		t.Run(dialect, func(t *testing.T) {
			deps := goList(t, goTool, "-deps", module+"/waitroom", module+"/repo/"+dialect)
			forbidden := slices.Clone(daemonOnly)
			for d, drv := range drivers {
				if d == dialect {
					continue
				}
				forbidden = append(forbidden, drv)
			}
			checkDeps(t, deps, forbidden, "waitroom + repo/"+dialect)
		})
	}
	t.Run("example", func(t *testing.T) {
		deps := goList(t, goTool, "-deps", module+"/examples/frontservice")
		checkDeps(t, deps, append(slices.Clone(daemonOnly), drivers["sqlite"], drivers["mssql"]), "examples/frontservice")
	})
}

func checkDeps(t *testing.T, deps, forbidden []string, what string) {
	t.Helper()
	if len(deps) < 10 {
		t.Fatalf("go list -deps of %s listed %d packages: not a dependency list", what, len(deps))
	}
	for _, dep := range deps {
		for _, f := range forbidden {
			if dep == f || (strings.HasSuffix(f, "/") && strings.HasPrefix(dep, f)) ||
				(!strings.HasSuffix(f, "/") && f != module && strings.HasPrefix(dep, f+"/")) {
				t.Errorf("%s links %s, which a front service must not (matches %q)", what, dep, f)
			}
		}
	}
	t.Logf("%s: %d packages", what, len(deps))
}

func goList(t *testing.T, goTool string, args ...string) []string {
	t.Helper()
	cmd := exec.Command(goTool, append([]string{"list"}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return strings.Fields(string(out))
}
