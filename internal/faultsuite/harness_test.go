package faultsuite_test

// The suite's fixtures: the worker binary, the engine, the PostgreSQL schema and the replicas.

import (
	"bytes"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/camunda-waitroom/camunda-waitroom/internal/enginetest"
	"github.com/camunda-waitroom/camunda-waitroom/internal/fault"
	"github.com/camunda-waitroom/camunda-waitroom/internal/httpapi"
	"github.com/camunda-waitroom/camunda-waitroom/repo/repotest/pgtest"
)

// Measurement knobs, for docs/benchmarks.md: the failover figures with other settings than the
// shipped ones. With -faults.failover=false the 10 s takeover bound is reported, not asserted.
var (
	flagFailover = flag.Bool("faults.failover", true, "replicas run failover (heartbeats and the dead-replica sweep)")
	flagLock     = flag.Duration("faults.lock", 0, "topics' lockDuration; 0 keeps the shipped one")
	flagReport   = flag.String("faults.report", "", "append the failover figures to this file (Markdown rows)")
)

// killRules are the fault points every replica dies at, by correlation id prefix.
var killRules = map[string]string{
	httpapi.FaultBeforeInsert: "kill_before_insert-",
	httpapi.FaultAfterInsert:  "kill_after_insert-",
	httpapi.FaultAfterEngine:  "kill_after_engine-",
}

type harness struct {
	dir      string
	bin      string
	engine   *enginetest.Engine
	dsn      string  // the replicas' DSN: our schema, application_name = appName
	appName  string  // application_name of the replicas' connections (terminated on purpose)
	admin    *sql.DB // our own connection, for checks and pg_terminate_backend
	replicas []*replica
	client   *http.Client
}

// newHarness builds the worker, starts the engine and three replicas, and stops them all when
// the test ends.
func newHarness(t *testing.T) *harness {
	t.Helper()
	base := pgtest.DSN(t)
	if os.Getenv(enginetest.EnvURL) != "" {
		t.Skip("the fault suite restarts its engine: it needs one of its own, not " + enginetest.EnvURL)
	}
	h := &harness{dir: t.TempDir(), client: &http.Client{Timeout: 90 * time.Second}}
	h.build(t)

	// The engine on a file database: a restart keeps its deployments, instances and locks,
	// as a production engine's database does.
	jvm := append(append([]string{}, enginetest.DefaultJVMArgs...),
		"-Dspring.datasource.url=jdbc:h2:file:"+filepath.Join(h.dir, "camunda")+";DB_CLOSE_ON_EXIT=FALSE")
	h.engine = enginetest.StartT(t, enginetest.Options{JVMArgs: jvm})

	schemaDSN := pgtest.Schema(t, base, "fault")
	var b [4]byte
	_, _ = rand.Read(b[:])
	h.appName = "waitroom-fault-" + hex.EncodeToString(b[:])
	h.dsn = withParam(t, schemaDSN, "application_name", h.appName)
	admin, err := sql.Open("pgx", withParam(t, schemaDSN, "application_name", h.appName+"-checks"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	h.admin = admin

	for i := 1; i <= 3; i++ {
		h.replicas = append(h.replicas, &replica{h: h, id: fmt.Sprintf("r%d", i), port: freePort(t)})
	}
	t.Cleanup(func() {
		for _, r := range h.replicas {
			r.stop()
		}
		if t.Failed() {
			for _, r := range h.replicas {
				t.Logf("replica %s log (last lines):\n%s", r.id, r.tail(60))
			}
		}
	})
	var wg sync.WaitGroup
	for _, r := range h.replicas {
		r.start(t)
		wg.Go(func() { r.waitReady(t) })
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return h
}

// build compiles cmd/worker with fault injection into the test's directory.
func (h *harness) build(t *testing.T) {
	t.Helper()
	root, err := enginetest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the fault suite builds the worker: the go command is not on PATH: %v", err)
	}
	h.bin = filepath.Join(h.dir, "worker")
	began := time.Now()
	cmd := exec.Command(goBin, "build", "-tags", "faultinject", "-o", h.bin, "./cmd/worker")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build -tags faultinject ./cmd/worker: %v\n%s", err, out)
	}
	t.Logf("worker built with fault injection in %s", time.Since(began).Round(time.Millisecond))
}

func withParam(t *testing.T, dsn, key, value string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		t.Fatalf("the fault suite needs a URL DSN in %s (postgres://...): %v", pgtest.EnvDSN, err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// terminateBackends ends every PostgreSQL backend of the replicas (our application_name in our
// database, never anything else) and returns how many.
func (h *harness) terminateBackends(t *testing.T) int {
	t.Helper()
	var n int
	err := h.admin.QueryRow(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE datname = current_database() AND application_name = $1 AND pid <> pg_backend_pid()`, h.appName).Scan(&n)
	if err != nil {
		t.Fatalf("terminate the replicas' backends: %v", err)
	}
	return n
}

// replica is one worker OS process.
type replica struct {
	h    *harness
	id   string
	port int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	logs *os.File
}

func (r *replica) base() string { return fmt.Sprintf("http://127.0.0.1:%d", r.port) }

// config is the shipped configuration, plus what places this replica (instance id, address,
// the suite's database and engine) and a poll backoff capped at 2 s instead of 30 s (the
// engine-restart scenario would otherwise wait up to 30 s for the first poll after the engine
// is back).
func (r *replica) config() string {
	lock := ""
	if *flagLock > 0 {
		lock = fmt.Sprintf("\ntopics:\n  - {name: onboard-user/create-account, lockDuration: %s}\n  - {name: onboard-user/prepare-response, lockDuration: %s, result: {correlationVariable: correlationId, errorVariable: error}}\n", *flagLock, *flagLock)
	}
	return fmt.Sprintf(`instance: {id: %s}
log: {level: info, format: json}
store: {driver: postgres, dsn: %q, connectTimeout: 60s}
camunda:
  url: %q
  pollBackoff: {initial: 100ms, max: 2s}
http: {addr: "127.0.0.1:%d"}
failover: {enabled: %t}
retention: {enabled: false}
%s`, r.id, r.h.dsn, r.h.engine.BaseURL, r.port, *flagFailover, lock)
}

// start launches the process (again, after a kill or stop) on the same address.
func (r *replica) start(t *testing.T) {
	t.Helper()
	path := filepath.Join(r.h.dir, r.id+".yaml")
	if err := os.WriteFile(path, []byte(r.config()), 0o600); err != nil {
		t.Fatal(err)
	}
	logs, err := os.OpenFile(filepath.Join(r.h.dir, r.id+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	var rules []string
	for point, prefix := range killRules {
		rules = append(rules, point+"="+prefix)
	}
	cmd := exec.Command(r.h.bin, "run", "--config", path)
	cmd.Env = append(cleanEnv(), fault.EnvKill+"="+strings.Join(rules, ","), fault.EnvOnceDir+"="+r.h.dir)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start replica %s: %v", r.id, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	r.mu.Lock()
	r.cmd, r.done, r.logs = cmd, done, logs
	r.mu.Unlock()
}

// cleanEnv is the test's environment without anything the daemon would read as configuration.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "WAITROOM_"), strings.HasPrefix(name, "DB_"), name == "PORT", name == "SYNC_TIMEOUT_MS":
			continue
		}
		out = append(out, kv)
	}
	return out
}

// waitReady polls /readyz until 200 (store, migrations, engine, models).
func (r *replica) waitReady(t *testing.T) {
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if r.exited() {
			t.Errorf("replica %s exited during start-up:\n%s", r.id, r.tail(40))
			return
		}
		resp, err := http.Get(r.base() + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
	t.Errorf("replica %s not ready within 90s:\n%s", r.id, r.tail(40))
}

func (r *replica) exited() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (r *replica) kill() {
	r.mu.Lock()
	cmd, done := r.cmd, r.done
	r.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// waitDied waits for the process to die on its own (a fault point) and reports whether it
// died by SIGKILL.
func (r *replica) waitDied(d time.Duration) bool {
	r.mu.Lock()
	cmd, done := r.cmd, r.done
	r.mu.Unlock()
	select {
	case <-done:
	case <-time.After(d):
		return false
	}
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// stop sends SIGTERM (a clean stop) and waits up to a minute.
func (r *replica) stop() {
	r.mu.Lock()
	cmd, done, logs := r.cmd, r.done, r.logs
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		<-done
	}
	logs.Close()
}

// restart starts a killed replica again and waits until it is ready.
func (r *replica) restart(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	logs := r.logs
	r.mu.Unlock()
	logs.Close()
	r.start(t)
	r.waitReady(t)
}

func (r *replica) tail(n int) string {
	data, err := os.ReadFile(filepath.Join(r.h.dir, r.id+".log"))
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// workerID is the Camunda worker id of the replica's current life (a new one per start), from
// its log.
func (r *replica) workerID(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(r.h.dir, r.id+".log"))
	if err != nil {
		t.Fatal(err)
	}
	id := ""
	for _, line := range bytes.Split(data, []byte("\n")) {
		var l struct {
			Msg      string `json:"msg"`
			WorkerID string `json:"worker_id"`
		}
		if json.Unmarshal(line, &l) == nil && l.Msg == "external-task worker starting" {
			id = l.WorkerID
		}
	}
	if id == "" {
		t.Fatalf("replica %s logged no worker id", r.id)
	}
	return id
}

// logged reports whether the replica's log has a line containing s.
func (r *replica) logged(s string) bool {
	data, err := os.ReadFile(filepath.Join(r.h.dir, r.id+".log"))
	return err == nil && bytes.Contains(data, []byte(s))
}

var errConn = errors.New("connection error")
