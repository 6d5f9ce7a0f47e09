package enginetest

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"
)

// StartT starts an engine for a test (see Start) and stops it when the test ends, logging
// the tail of the engine's log if the test failed.
//
// It skips the test with -short (go test -short, make test-unit: no engine), when the jar is
// not built and CI is not "true" (with CI=true a missing jar fails the test), and when opts
// need an engine of our own but WAITROOM_TEST_CAMUNDA_URL points at an external one.
func StartT(t testing.TB, opts Options) *Engine {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no engine")
	}
	timeout := opts.StartTimeout
	if timeout <= 0 {
		timeout = DefaultStartTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout+10*time.Second)
	defer cancel()
	began := time.Now()
	e, err := Start(ctx, opts)
	switch {
	case err == nil:
		if !e.External() {
			t.Logf("%s engine up at %s after %s", e.Kind(), e.BaseURL, time.Since(began).Round(time.Millisecond))
		}
	case errors.Is(err, ErrJarMissing) && os.Getenv("CI") != "true":
		t.Skipf("%v (skipped outside CI)", err)
	case errors.Is(err, ErrExternalEngine):
		t.Skipf("%v", err)
	default:
		t.Fatalf("start engine: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), stopGrace+5*time.Second)
		defer cancel()
		if err := e.Stop(ctx); err != nil {
			t.Errorf("stop %s engine: %v", e.Kind(), err)
		}
		if t.Failed() && !e.External() {
			t.Logf("%s engine log (%s), last lines:\n%s", e.Kind(), e.LogPath(), e.LogTail(60))
		}
		if p := e.LogPath(); p != "" && !t.Failed() {
			_ = os.Remove(p)
		}
	})
	return e
}

// Eventually polls cond every 50 ms until it returns true, and fails the test with msg
// (and cond's last error) if that does not happen within timeout. Errors from cond do not
// stop the polling: an engine that is restarting answers with errors for a while.
func Eventually(t testing.TB, timeout time.Duration, cond func() (bool, error), msg string) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		ok, err := cond()
		if err == nil && ok {
			return
		}
		if err != nil {
			lastErr = err
		}
		select {
		case <-deadline.C:
			if lastErr != nil {
				t.Fatalf("%s: not true within %s (last error: %v)", msg, timeout, lastErr)
			}
			t.Fatalf("%s: not true within %s", msg, timeout)
		case <-tick.C:
		}
	}
}
