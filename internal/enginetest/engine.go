// Package enginetest starts a real engine for tests and benchmarks, Camunda 7.24 CE
// (dev/camunda) or Operaton (dev/operaton), and offers small REST helpers to drive it.
//
// The engine is the executable jar built by `dev/engine.sh all build` (or `make engine`):
// dev/<kind>/target/<kind>-dev.jar, REST API only, in-memory H2, Spin JSON and XML. Each Start
// runs its own JVM on a free 127.0.0.1 port; its state lives only as long as the process.
//
// Environment:
//   - WAITROOM_TEST_ENGINE: camunda (the default) or operaton, the engine Start runs when
//     Options.Kind is empty. `make test` runs the engine tests once with each.
//   - WAITROOM_TEST_CAMUNDA_URL: base URL of an engine that is already running
//     (e.g. http://127.0.0.1:8080/engine-rest). Start then uses it and starts or stops nothing.
//   - WAITROOM_TEST_CAMUNDA_JAR: the jar to run instead of the selected engine's.
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
	EnvEngine   = "WAITROOM_TEST_ENGINE"
	EnvURL      = "WAITROOM_TEST_CAMUNDA_URL"
	EnvJar      = "WAITROOM_TEST_CAMUNDA_JAR"
	EnvJavaOpts = "CAMUNDA_DEV_JAVA_OPTS"
	// EnvBasicAuth is passed to the engine process: "user:password" turns on HTTP Basic.
	EnvBasicAuth = "CAMUNDA_DEV_BASIC_AUTH"
	// EnvBearerPrefix starts the variables that turn on bearer-token validation in the engine
	// process (see BearerAuth).
	EnvBearerPrefix = "CAMUNDA_DEV_BEARER_"
)

// The engines the harness can start (Options.Kind, WAITROOM_TEST_ENGINE). Both serve the same
// /engine-rest API; dev/README.md has their versions.
const (
	// Camunda is Camunda 7.24 CE, the default.
	Camunda = "camunda"
	// Operaton is Operaton, the community fork of Camunda 7.
	Operaton = "operaton"
)

// Kinds lists every engine kind, the default first.
var Kinds = []string{Camunda, Operaton}

// JarPath is the Camunda engine jar's path relative to the module root (see JarFor).
const JarPath = "dev/camunda/target/camunda-dev.jar"

// JarFor is the jar of the engine kind, relative to the module root.
func JarFor(kind string) string { return "dev/" + kind + "/target/" + kind + "-dev.jar" }

// KindFromEnv returns the engine kind named by WAITROOM_TEST_ENGINE, Camunda when it is unset.
func KindFromEnv() (string, error) {
	return resolveKind(os.Getenv(EnvEngine), EnvEngine)
}

func resolveKind(kind, from string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(kind)) {
	case "", Camunda:
		return Camunda, nil
	case Operaton:
		return Operaton, nil
	case "both":
		return "", fmt.Errorf("enginetest: %s=both is understood by `make test` only (it runs the engine tests once per engine); for one run pick %s", from, strings.Join(Kinds, " or "))
	default:
		return "", fmt.Errorf("enginetest: %s=%q: want %s", from, kind, strings.Join(Kinds, " or "))
	}
}

// DefaultStartTimeout bounds how long Start waits for the REST API.
const DefaultStartTimeout = 240 * time.Second

// stopGrace is how long Stop waits after SIGTERM before it kills the JVM.
const stopGrace = 20 * time.Second

// DefaultJVMArgs are the JVM flags used by engine.sh too: tuned for start-up time.
var DefaultJVMArgs = []string{"-XX:+UseSerialGC", "-Xss512k", "-XX:TieredStopAtLevel=1"}

// ErrJarMissing reports that the engine jar has not been built.
var ErrJarMissing = errors.New("enginetest: engine jar not built: run `make engine` or `dev/engine.sh all build`")

// ErrExternalEngine reports options that an engine given by WAITROOM_TEST_CAMUNDA_URL cannot
// honour (it was not started by this package, so its configuration is unknown).
var ErrExternalEngine = errors.New("enginetest: option needs an engine started by the test, but " + EnvURL + " is set")

// errPortInUse marks a start that failed because the port was taken.
var errPortInUse = errors.New("port already in use")

// Options configure Start.
type Options struct {
	// Kind of engine: Camunda or Operaton; "" means WAITROOM_TEST_ENGINE, or Camunda when that
	// is unset too.
	Kind string
	// Port to listen on (127.0.0.1). 0 picks a free port.
	Port int
	// BasicAuth "user:password": the engine creates that user and requires HTTP Basic on
	// /engine-rest (GET /engine stays open). The REST helpers send these credentials.
	BasicAuth string
	// BearerAuth, when set, makes the engine require JWT bearer tokens instead, as behind an
	// OAuth2 gateway. Not with BasicAuth.
	BearerAuth *BearerAuth
	// StartTimeout bounds the wait for the REST API; 0 means DefaultStartTimeout.
	StartTimeout time.Duration
	// JVMArgs replace the JVM flags; nil means CAMUNDA_DEV_JAVA_OPTS or DefaultJVMArgs.
	JVMArgs []string
	// HTTPClient is used for the readiness probe and the REST helpers; nil means a client of
	// its own with a 60 s timeout (e.g. give a benchmark driver a larger idle-connection pool).
	HTTPClient *http.Client
}

// Engine is a running engine.
type Engine struct {
	// BaseURL is the REST root, e.g. http://127.0.0.1:41234/engine-rest (no trailing slash).
	BaseURL string

	kind     string
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
	kind, err := KindFromEnv()
	if opts.Kind != "" {
		kind, err = resolveKind(opts.Kind, "Options.Kind")
	}
	if err != nil {
		return nil, err
	}
	if opts.BasicAuth != "" {
		if u, p, ok := strings.Cut(opts.BasicAuth, ":"); !ok || u == "" || p == "" {
			return nil, fmt.Errorf("enginetest: BasicAuth must be \"user:password\"")
		}
	}
	if opts.BearerAuth != nil {
		if opts.BasicAuth != "" {
			return nil, errors.New("enginetest: BasicAuth and BearerAuth exclude each other")
		}
		if err := opts.BearerAuth.validate(); err != nil {
			return nil, err
		}
	}
	e := &Engine{kind: kind, opts: opts, client: opts.HTTPClient}
	if e.client == nil {
		e.client = &http.Client{Timeout: 60 * time.Second}
	}

	if u := os.Getenv(EnvURL); u != "" {
		if opts.BasicAuth != "" {
			return nil, fmt.Errorf("%w (BasicAuth)", ErrExternalEngine)
		}
		if opts.BearerAuth != nil {
			return nil, fmt.Errorf("%w (BearerAuth)", ErrExternalEngine)
		}
		e.external = true
		e.BaseURL = strings.TrimRight(u, "/")
		deadline := time.Now().Add(opts.StartTimeout)
		if err := e.waitReady(ctx, deadline, nil); err != nil {
			return nil, fmt.Errorf("enginetest: engine at %s (%s): %w", e.BaseURL, EnvURL, err)
		}
		return e, nil
	}

	jar, jvmExtra, err := findJar(kind)
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

	logf, err := os.CreateTemp("", kind+"-dev-*.log")
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
	cmd.Env = engineEnv(e.opts.BasicAuth, e.opts.BearerAuth)
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

// engineEnv is the parent's environment with the authentication variables (CAMUNDA_DEV_BASIC_AUTH,
// CAMUNDA_DEV_BEARER_*) set from the options, never inherited.
func engineEnv(basic string, bearer *BearerAuth) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, EnvBasicAuth+"=") || strings.HasPrefix(kv, EnvBearerPrefix) {
			continue
		}
		env = append(env, kv)
	}
	if basic != "" {
		env = append(env, EnvBasicAuth+"="+basic)
	}
	if bearer != nil {
		env = append(env, bearer.env()...)
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
	if err := e.authorize(req); err != nil {
		return 0, err
	}
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

// Kind is the engine's kind (Camunda or Operaton). For an external engine it is the kind the
// options or WAITROOM_TEST_ENGINE named; nothing checked it.
func (e *Engine) Kind() string { return e.kind }

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

// findJar locates the jar of the engine kind and, when the build left it, the faster extracted
// layout with its CDS archive (see dev/README.md). It returns the jar to run and extra JVM flags.
func findJar(kind string) (jar string, jvmExtra []string, err error) {
	if j := os.Getenv(EnvJar); j != "" {
		if _, err := os.Stat(j); err != nil {
			return "", nil, fmt.Errorf("%w (%s=%s: %w)", ErrJarMissing, EnvJar, j, err)
		}
		return j, nil, nil
	}
	root, err := ModuleRoot()
	if err != nil {
		return "", nil, err
	}
	jar = filepath.Join(root, filepath.FromSlash(JarFor(kind)))
	fat, err := os.Stat(jar)
	if err != nil {
		return "", nil, fmt.Errorf("%w (%s not found; `dev/engine.sh %s build` builds it)", ErrJarMissing, jar, kind)
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
