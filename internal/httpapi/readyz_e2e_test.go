package httpapi_test

import (
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/camunda-waitroom/camunda-waitroom/internal/enginetest"
	"github.com/camunda-waitroom/camunda-waitroom/topics"
)

// TestE2EReadyzReportsAHungEngine freezes the real engine (SIGSTOP: its port still accepts
// connections, nothing answers) and checks that /readyz says "not ready" within a few
// seconds, each answer bounded, and "ready" again once the engine thaws. It used to say "ok"
// for as long as the long poll in flight had not failed.
func TestE2EReadyzReportsAHungEngine(t *testing.T) {
	e := needEngine(t)
	pid := e.Engine.PID()
	if pid == 0 {
		t.Skip("the engine is not a process of this test (" + enginetest.EnvURL + ")")
	}
	d := startDaemon(t, daemonOpts{waitForEngine: true})

	require.NoError(t, syscall.Kill(pid, syscall.SIGSTOP))
	thawed := false
	thaw := func() {
		if !thawed {
			thawed = true
			require.NoError(t, syscall.Kill(pid, syscall.SIGCONT))
		}
	}
	t.Cleanup(thaw)

	frozen := time.Now()
	var slowest time.Duration
	enginetest.Eventually(t, 15*time.Second, func() (bool, error) {
		began := time.Now()
		code, body := d.get(t, "/readyz")
		slowest = max(slowest, time.Since(began))
		return code == http.StatusServiceUnavailable && strings.Contains(body, "GET /version"), nil
	}, "/readyz reports the hung engine")
	t.Logf("not ready %s after the engine froze; slowest /readyz %s", time.Since(frozen).Round(time.Millisecond), slowest.Round(time.Millisecond))
	require.Less(t, slowest, topics.EngineProbeTimeout+2*time.Second, "every readiness answer is bounded")
	code, body := d.get(t, "/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code, body)
	require.Contains(t, body, `"store":"ok"`, "the other checks still answer")

	thaw()
	enginetest.Eventually(t, 30*time.Second, func() (bool, error) {
		code, _ := d.get(t, "/readyz")
		return code == http.StatusOK, nil
	}, "/readyz ready again after the engine thawed")
}
