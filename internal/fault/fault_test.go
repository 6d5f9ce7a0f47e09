package fault_test

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/camunda-waitroom/camunda-waitroom/internal/fault"
)

const childEnv = "WAITROOM_TEST_FAULT_CHILD"

// TestPoint runs a child process that reaches a point its rules name. A normal build must
// survive it: production binaries cannot be made to die, whatever the environment says. A
// faultinject build (go test -tags faultinject ./internal/fault) must die by SIGKILL, and only
// for an id with the rule's prefix.
func TestPoint(t *testing.T) {
	if id := os.Getenv(childEnv); id != "" {
		fault.Point("start.after-insert", id)
		os.Stdout.WriteString("survived\n")
		os.Exit(0)
	}
	once := t.TempDir()
	for _, tc := range []struct {
		id       string
		wantKill bool
	}{
		{"kill-me-1", fault.Enabled},
		{"kill-me-1", false}, // once per point and id: this one was killed already
		{"spare-me-1", false},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestPoint$")
		cmd.Env = append(os.Environ(), childEnv+"="+tc.id, fault.EnvOnceDir+"="+once,
			fault.EnvKill+"=start.after-insert=kill-me-,start.after-engine=spare-")
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		killed := errors.As(err, &exit) && exit.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL
		if killed != tc.wantKill {
			t.Fatalf("%s (fault.Enabled %v): killed %v, want %v; err %v, output %q", tc.id, fault.Enabled, killed, tc.wantKill, err, out)
		}
		if !tc.wantKill && (err != nil || !strings.Contains(string(out), "survived")) {
			t.Fatalf("%s: %v, output %q", tc.id, err, out)
		}
	}
}
