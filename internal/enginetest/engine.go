// Package enginetest starts a real Camunda 7.24 CE engine (dev/camunda) for tests and
// benchmarks, and offers small REST helpers to drive it.
//
// The engine is the executable jar built by `dev/camunda/engine.sh build` (or `make engine`):
// dev/camunda/target/camunda-dev.jar, REST API only, in-memory H2, Spin JSON. Each Start runs
// its own JVM on a free 127.0.0.1 port; its state lives only as long as the process.
//
// Environment:
//   - WAITROOM_TEST_CAMUNDA_URL: base URL of an engine that is already running
//     (e.g. http://127.0.0.1:8080/engine-rest). Start then uses it and starts or stops nothing.
//   - WAITROOM_TEST_CAMUNDA_JAR: the jar to run instead of dev/camunda/target/camunda-dev.jar.
//   - CAMUNDA_DEV_JAVA_OPTS: JVM flags replacing DefaultJVMArgs (as in engine.sh), e.g.
//     "-XX:+UseSerialGC" for throughput benchmarks (the default stops at the C1 compiler).
package enginetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Environment variables read by this package.
const (
	EnvURL      = "WAITROOM_TEST_CAMUNDA_URL"
	EnvJar      = "WAITROOM_TEST_CAMUNDA_JAR"
	EnvJavaOpts = "CAMUNDA_DEV_JAVA_OPTS"
	// EnvBasicAuth is passed to the engine process: "user:password" turns on HTTP Basic.
	EnvBasicAuth = "CAMUNDA_DEV_BASIC_AUTH"
)

// JarPath is the engine jar's path relative to the module root.
const JarPath = "dev/camunda/target/camunda-dev.jar"

// DefaultStartTimeout bounds how long Start waits for the REST API.
const DefaultStartTimeout = 240 * time.Second

// stopGrace is how long Stop waits after SIGTERM before it kills the JVM.
const stopGrace = 20 * time.Second

// DefaultJVMArgs are the JVM flags used by engine.sh too: tuned for start-up time.
var DefaultJVMArgs = []string{"-XX:+UseSerialGC", "-Xss512k", "-XX:TieredStopAtLevel=1"}

// ErrJarMissing reports that the engine jar has not been built.
var ErrJarMissing = errors.New("enginetest: Camunda engine jar not built: run `make engine` or `dev/camunda/engine.sh build`")

// ErrExternalEngine reports options that an engine given by WAITROOM_TEST_CAMUNDA_URL cannot
// honour (it was not started by this package, so its configuration is unknown).
var ErrExternalEngine = errors.New("enginetest: option needs an engine started by the test, but " + EnvURL + " is set")

// errPortInUse marks a start that failed because the port was taken.
var errPortInUse = errors.New("port already in use")

// Options configure Start.
type Options struct {
	// Port to listen on (127.0.0.1). 0 picks a free port.
	Port int
	// BasicAuth "user:password": the engine creates that user and requires HTTP Basic on
	// /engine-rest (GET /engine stays open). The REST helpers send these credentials.
	BasicAuth string
	// StartTimeout bounds the wait for the REST API; 0 means DefaultStartTimeout.
	StartTimeout time.Duration
	// JVMArgs replace the JVM flags; nil means CAMUNDA_DEV_JAVA_OPTS or DefaultJVMArgs.
	JVMArgs []string
	// HTTPClient is used for the readiness probe and the REST helpers; nil means a client of
	// its own with a 60 s timeout (e.g. give a benchmark driver a larger idle-connection pool).
	HTTPClient *http.Client
}

// Engine is a running Camunda engine.
type Engine struct {
	// BaseURL is the REST root, e.g. http://127.0.0.1:41234/engine-rest (no trailing slash).
	BaseURL string

	external bool
	port     int
	opts     Options
	client   *http.Client
	java     string
	args     []string // JVM flags and -jar path; --server.port is added per start
	logPath  string

	mu   sync.Mutex
	proc *process
}

type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, valid after done
}

// Start starts an engine (or attaches to WAITROOM_TEST_CAMUNDA_URL) and waits until
// GET {BaseURL}/engine answers 200. ctx bounds only the start, not the engine's life.
// A missing jar gives an error wrapping ErrJarMissing.
func Start(ctx context.Context, opts Options) (*Engine, error) {
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = DefaultStartTimeout
	}
	if opts.BasicAuth != "" {
		if u, p, ok := strings.Cut(opts.BasicAuth, ":"); !ok || u == "" || p == "" {
			return nil, fmt.Errorf("enginetest: BasicAuth must be \"user:password\"")
		}
	}
	e := &Engine{opts: opts, client: opts.HTTPClient}
	if e.client == nil {
		e.client = &http.Client{Timeout: 60 * time.Second}
	}

	if u := os.Getenv(EnvURL); u != "" {
		if opts.BasicAuth != "" {
			return nil, fmt.Errorf("%w (BasicAuth)", ErrExternalEngine)
		}
		e.external = true
		e.BaseURL = strings.TrimRight(u, "/")
		deadline := time.Now().Add(opts.StartTimeout)
		if err := e.waitReady(ctx, deadline, nil); err != nil {
			return nil, fmt.Errorf("enginetest: engine at %s (%s): %w", e.BaseURL, EnvURL, err)
		}
		return e, nil
	}

	jar, jvmExtra, err := findJar()
	if err != nil {
		return nil, err
	}
	java, err := exec.LookPath("java")
	if err != nil {
		return nil, fmt.Errorf("enginetest: java not found on PATH (Java 17+ is needed to run the engine): %w", err)
	}
	e.java = java
	jvm := opts.JVMArgs
	if jvm == nil {
		if s := strings.TrimSpace(os.Getenv(EnvJavaOpts)); s != "" {
			jvm = strings.Fields(s)
		} else {
			jvm = DefaultJVMArgs
		}
	}
	e.args = append(append(append([]string{}, jvm...), jvmExtra...), "-jar", jar)

	logf, err := os.CreateTemp("", "camunda-dev-*.log")
	if err != nil {
		return nil, fmt.Errorf("enginetest: engine log file: %w", err)
	}
	e.logPath = logf.Name()
	_ = logf.Close()

	for attempt := 1; ; attempt++ {
		port := opts.Port
		if port == 0 {
			if port, err = freePort(); err != nil {
				return nil, err
			}
		}
		err = e.startOn(ctx, port)
		if err == nil {
			return e, nil
		}
		// A free port can be taken between our probe and the JVM's bind: try another.
		if opts.Port == 0 && attempt < 3 && errors.Is(err, errPortInUse) {
			continue
		}
		return nil, err
	}
}

// startOn runs the JVM on port and waits for the REST API. On failure the process is killed.
func (e *Engine) startOn(ctx context.Context, port int) error {
	logf, err := os.OpenFile(e.logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("enginetest: engine log file: %w", err)
	}
	defer logf.Close() // the child has its own descriptor
	fmt.Fprintf(logf, "=== enginetest: %s starting %s %s on port %d\n",
		time.Now().Format(time.RFC3339), e.java, strings.Join(e.args, " "), port)

	cmd := exec.Command(e.java, append(append([]string{}, e.args...), "--server.port="+strconv.Itoa(port))...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.Env = engineEnv(e.opts.BasicAuth)
	configureCmd(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("enginetest: start java: %w", err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()

	e.mu.Lock()
	e.proc = p
	if e.port != port || e.BaseURL == "" {
		// Not rewritten on StartAgain (same port), so helpers may read BaseURL meanwhile.
		e.port = port
		e.BaseURL = fmt.Sprintf("http://127.0.0.1:%d/engine-rest", port)
	}
	e.mu.Unlock()

	if err := e.waitReady(ctx, time.Now().Add(e.opts.StartTimeout), p); err != nil {
		e.Kill()
		tail := e.LogTail(40)
		if strings.Contains(tail, "already in use") {
			err = fmt.Errorf("%w: %w", errPortInUse, err)
		}
		return fmt.Errorf("enginetest: engine on port %d did not start: %w\n--- engine log (%s) ---\n%s", port, err, e.logPath, tail)
	}
	return nil
}

// engineEnv is the parent's environment with CAMUNDA_DEV_BASIC_AUTH set to auth (or removed).
func engineEnv(auth string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, EnvBasicAuth+"=") {
			continue
		}
		env = append(env, kv)
	}
	if auth != "" {
		env = append(env, EnvBasicAuth+"="+auth)
	}
	return env
}

// waitReady polls GET {BaseURL}/engine until it answers 200, the deadline passes, ctx ends or
// (when p is not nil) the process exits.
func (e *Engine) waitReady(ctx context.Context, deadline time.Time, p *process) error {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var exited <-chan struct{}
	if p != nil {
		exited = p.done
	}
	last := "no answer yet"
	for {
		status, err := e.ping(ctx)
		if err == nil && status == http.StatusOK {
			return nil
		}
		if err != nil {
			last = err.Error()
		} else {
			last = "status " + strconv.Itoa(status)
		}
		select {
		case <-exited:
			return fmt.Errorf("engine process exited (%v) before the REST API answered", p.err)
		case <-ctx.Done():
			return fmt.Errorf("%w waiting for GET %s/engine (last: %s)", ctx.Err(), e.BaseURL, last)
		case <-tick.C:
		}
	}
}

func (e *Engine) ping(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.BaseURL+"/engine", nil)
	if err != nil {
		return 0, err
	}
	e.authorize(req)
	resp, err := e.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// Stop ends the engine: SIGTERM, then SIGKILL after 20 s or when ctx ends. An engine given
// by WAITROOM_TEST_CAMUNDA_URL is left alone. Stop is safe to call more than once.
func (e *Engine) Stop(ctx context.Context) error {
	if e.external {
		return nil
	}
	e.mu.Lock()
	p := e.proc
	e.proc = nil
	e.mu.Unlock()
	defer e.client.CloseIdleConnections()
	if p == nil {
		return nil
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		_ = p.cmd.Process.Kill()
	}
	grace := time.NewTimer(stopGrace)
	defer grace.Stop()
	select {
	case <-p.done:
		return nil
	case <-grace.C:
	case <-ctx.Done():
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	return nil
}

// Kill ends the engine at once with SIGKILL (a crash, as seen by a worker).
func (e *Engine) Kill() {
	if e.external {
		return
	}
	e.mu.Lock()
	p := e.proc
	e.proc = nil
	e.mu.Unlock()
	defer e.client.CloseIdleConnections()
	if p == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Restart stops the engine and starts it again on the same port. The in-memory database is
// lost: deployments, instances and tasks are gone. Not possible for an external engine.
func (e *Engine) Restart(ctx context.Context) error {
	if e.external {
		return fmt.Errorf("%w (Restart)", ErrExternalEngine)
	}
	if err := e.Stop(ctx); err != nil {
		return err
	}
	return e.StartAgain(ctx)
}

// StartAgain starts a stopped or killed engine on its previous port (Restart = Stop +
// StartAgain; use it to keep the engine down for a while in between).
func (e *Engine) StartAgain(ctx context.Context) error {
	if e.external {
		return fmt.Errorf("%w (StartAgain)", ErrExternalEngine)
	}
	e.mu.Lock()
	running := e.proc != nil
	e.mu.Unlock()
	if running {
		return errors.New("enginetest: engine is still running")
	}
	return e.startOn(ctx, e.port)
}

// Port is the engine's port (0 for an external engine).
func (e *Engine) Port() int {
	if e.external {
		return 0
	}
	return e.port
}

// PID is the process id of the running engine's JVM (0 for an external engine, or when it is
// stopped), e.g. to read its CPU time.
func (e *Engine) PID() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.proc == nil {
		return 0
	}
	return e.proc.cmd.Process.Pid
}

// External reports whether the engine came from WAITROOM_TEST_CAMUNDA_URL.
func (e *Engine) External() bool { return e.external }

// LogPath is the engine's log file ("" for an external engine). It survives Stop.
func (e *Engine) LogPath() string { return e.logPath }

// LogTail returns the last n lines of the engine's log, for failure messages.
func (e *Engine) LogTail(n int) string {
	if e.logPath == "" || n <= 0 {
		return ""
	}
	data, err := os.ReadFile(e.logPath)
	if err != nil {
		return fmt.Sprintf("(engine log unreadable: %v)", err)
	}
	data = bytes.TrimRight(data, "\n")
	lines := bytes.Split(data, []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// findJar locates the engine jar and, when the build left it, the faster extracted layout
// with its CDS archive (see dev/camunda/pom.xml). It returns the jar to run and extra JVM flags.
func findJar() (jar string, jvmExtra []string, err error) {
	if j := os.Getenv(EnvJar); j != "" {
		if _, err := os.Stat(j); err != nil {
			return "", nil, fmt.Errorf("%w (%s=%s: %v)", ErrJarMissing, EnvJar, j, err)
		}
		return j, nil, nil
	}
	root, err := ModuleRoot()
	if err != nil {
		return "", nil, err
	}
	jar = filepath.Join(root, filepath.FromSlash(JarPath))
	fat, err := os.Stat(jar)
	if err != nil {
		return "", nil, fmt.Errorf("%w (%s not found)", ErrJarMissing, jar)
	}
	dir := strings.TrimSuffix(jar, ".jar")
	xjar := filepath.Join(dir, filepath.Base(jar))
	if x, err := os.Stat(xjar); err == nil && !x.ModTime().Before(fat.ModTime()) {
		jsa := strings.TrimSuffix(xjar, ".jar") + ".jsa"
		if _, err := os.Stat(jsa); err == nil {
			jvmExtra = append(jvmExtra, "-XX:SharedArchiveFile="+jsa)
		}
		return xjar, jvmExtra, nil
	}
	return jar, nil, nil
}

// ModuleRoot walks up from the working directory to the directory holding go.mod.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("enginetest: no go.mod above the working directory")
		}
		dir = parent
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("enginetest: pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
