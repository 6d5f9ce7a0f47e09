//go:build faultinject

package fault

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// Enabled reports whether fault injection is compiled in: true in this test build.
const Enabled = true

type rule struct{ point, prefix string }

var rules = sync.OnceValue(func() []rule {
	var out []rule
	for _, part := range strings.Split(os.Getenv(EnvKill), ",") {
		point, prefix, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok && point != "" && prefix != "" {
			out = append(out, rule{point, prefix})
		}
	}
	return out
})

// Point kills this process with SIGKILL when a rule of EnvKill names point and id starts with
// its prefix (once per point and id with EnvOnceDir). It says so on stderr first, so a test
// can tell the planned death from a crash.
func Point(name, id string) {
	for _, r := range rules() {
		if r.point == name && strings.HasPrefix(id, r.prefix) {
			if dir := os.Getenv(EnvOnceDir); dir != "" {
				f, err := os.OpenFile(filepath.Join(dir, name+"="+id), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
				if err != nil {
					return // killed for this point and id already (or the mark cannot be made)
				}
				_ = f.Close()
			}
			fmt.Fprintf(os.Stderr, "fault: SIGKILL at %s for %s\n", name, id)
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way; go no further
		}
	}
}
