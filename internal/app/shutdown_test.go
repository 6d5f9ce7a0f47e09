package app

import (
	"bufio"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// hungEngine is an engine that answers GET /version (so the worker starts polling) and
// nothing else: every other call hangs until the test ends. An httptest server, because what is tested is the daemon's own bound on its
// stop, whatever the engine does.
func hungEngine(t *testing.T) (url string, polled <-chan struct{}) {
	release := make(chan struct{})
	poll := make(chan struct{})
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/version"):
			_, _ = w.Write([]byte(`{"version":"7.24.0"}`))
			return
		case strings.HasSuffix(r.URL.Path, "/fetchAndLock"):
			once.Do(func() { close(poll) })
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() {
		close(release)
		srv.Close()
	})
	return srv.URL + "/engine-rest", poll
}

// daemonProcess runs `worker run` in a separate OS process against a hung engine, and returns
// once its HTTP API listens and its first long poll reached the engine.
type daemonProcess struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr strings.Builder
	lines  chan string
	exited chan error
}

const shutdownTimeout = 2 * time.Second

func startDaemonProcess(t *testing.T) *daemonProcess {
	t.Helper()
	engineURL, polled := hungEngine(t)
	dir := t.TempDir()
	path := writeConfig(t, fmt.Sprintf(`
store: {driver: sqlite, dsn: "file:%s"}
camunda:
  url: %q
  asyncResponseTimeout: 1s
  requestTimeout: 10s
  shutdownTimeout: %s
  deployOnStart: false
http: {addr: "127.0.0.1:0"}
retention: {enabled: false}
`, filepath.Join(dir, "w.db"), engineURL, shutdownTimeout))
	d := &daemonProcess{cmd: workerProcess(t, nil, "run", "--config", path), lines: make(chan string, 100), exited: make(chan error, 1)}
	pipe, err := d.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, d.cmd.Start())
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			d.mu.Lock()
			d.stderr.WriteString(sc.Text() + "\n")
			d.mu.Unlock()
			select {
			case d.lines <- sc.Text():
			default:
			}
		}
		d.exited <- d.cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = d.cmd.Process.Kill()
		if t.Failed() {
			t.Logf("worker stderr:\n%s", d.output())
		}
	})
	d.waitLine(t, `"msg":"listening"`)
	select {
	case <-polled:
	case <-time.After(30 * time.Second):
		t.Fatal("the worker did not poll the engine")
	}
	return d
}

func (d *daemonProcess) output() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stderr.String()
}

func (d *daemonProcess) waitLine(t *testing.T, want string) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l := <-d.lines:
			if strings.Contains(l, want) {
				return
			}
		case <-timeout:
			t.Fatalf("no stderr line with %q", want)
		}
	}
}

// wait returns the exit code, failing the test if the process does not exit within limit.
func (d *daemonProcess) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case err := <-d.exited:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		require.NoError(t, err)
		return 0
	case <-time.After(limit):
		t.Fatalf("the worker did not exit within %s", limit)
		return -1
	}
}

// TestStopWithHungEngineKeepsTheDeadline: the engine hangs (the long poll in flight, the
// orphan sweep, every unlock); SIGTERM and SIGINT arrive together, as when Ctrl-C reaches a
// worker and its supervisor forwards a SIGTERM too. The worker stops gracefully (exit 0, not
// the forced exit of a second signal) within shutdownTimeout + 2 s.
func TestStopWithHungEngineKeepsTheDeadline(t *testing.T) {
	d := startDaemonProcess(t)
	began := time.Now()
	require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, d.cmd.Process.Signal(syscall.SIGINT))
	code := d.wait(t, shutdownTimeout+30*time.Second)
	took := time.Since(began)
	t.Logf("exited %d, %s after the signals (shutdownTimeout %s)", code, took.Round(time.Millisecond), shutdownTimeout)
	require.Equal(t, ExitOK, code, "two signals together stop gracefully")
	require.Less(t, took, shutdownTimeout+2*time.Second)
	out := d.output()
	require.Contains(t, out, `"msg":"stopped"`)
	require.NotContains(t, out, "exiting now")
}

// TestSecondSignalForcesTheExit: a signal after the first one's debounce window exits at once.
func TestSecondSignalForcesTheExit(t *testing.T) {
	d := startDaemonProcess(t)
	require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
	d.waitLine(t, "another signal exits at once")
	began := time.Now()
	require.NoError(t, d.cmd.Process.Signal(syscall.SIGINT))
	code := d.wait(t, 10*time.Second)
	require.Equal(t, ExitFailure, code)
	require.Less(t, time.Since(began), shutdownTimeout, "the forced exit does not wait for the stop")
	require.Contains(t, d.output(), "second interrupt: exiting now")
}
