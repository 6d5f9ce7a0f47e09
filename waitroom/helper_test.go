package waitroom

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
)

// The test binary re-executes itself as a helper process (TestMain dispatches on helperEnv)
// to complete rows from another OS process, as a Camunda worker daemon would.
const (
	helperEnv       = "WAITROOM_TEST_HELPER" // "complete" or "fail"
	helperDriverEnv = "WAITROOM_TEST_HELPER_DRIVER"
	helperDSNEnv    = "WAITROOM_TEST_HELPER_DSN"
	helperNotifyEnv = "WAITROOM_TEST_HELPER_NOTIFY_DSN" // set: complete through a Room that publishes bodies
	helperIDsEnv    = "WAITROOM_TEST_HELPER_IDS"        // comma-separated
	helperBodyEnv   = "WAITROOM_TEST_HELPER_BODY"
)

// helperMain opens the store and completes (or fails) every id, then exits: 0 on success.
func helperMain() int {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := runHelper(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	return 0
}

func runHelper(ctx context.Context) error {
	store, err := openStore(ctx, os.Getenv(helperDriverEnv), os.Getenv(helperDSNEnv), "helper")
	if err != nil {
		return err
	}
	defer store.Close()
	cfg := Options{}
	if os.Getenv(helperNotifyEnv) == "" {
		cfg.PollOnly = true // without it the postgres store's listener publishes bodies
	}
	r, err := New(store, cfg)
	if err != nil {
		return err
	}
	defer r.Stop(ctx)
	body := json.RawMessage(os.Getenv(helperBodyEnv))
	for _, id := range strings.Split(os.Getenv(helperIDsEnv), ",") {
		var out repo.Outcome
		if os.Getenv(helperEnv) == "fail" {
			out, err = r.Fail(ctx, id, body)
		} else {
			out, err = r.Complete(ctx, id, body)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
		if out != repo.Transitioned {
			return fmt.Errorf("%s: %s", id, out)
		}
	}
	return nil
}

// helperProc completes (action "complete") or fails ids from another process, with body.
// With notifyDSN set the helper completes through a Room that publishes bodies; otherwise
// through the bare store (the Node.js service's way: id-only notifications on PostgreSQL).
func helperProc(t testing.TB, b backend, action, notifyDSN string, body string, ids ...string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=TestHelperProcess")
	cmd.Env = append(os.Environ(),
		helperEnv+"="+action,
		helperDriverEnv+"="+b.driver,
		helperDSNEnv+"="+b.dsn,
		helperNotifyEnv+"="+notifyDSN,
		helperIDsEnv+"="+strings.Join(ids, ","),
		helperBodyEnv+"="+body,
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper process: %v: %s", err, out)
	}
}

// TestHelperProcess is what the helper's command line names; TestMain runs the helper before
// any test, so in a normal run this does nothing.
func TestHelperProcess(t *testing.T) {}
