// Command sync measures the end-to-end latency of the daemon's synchronous HTTP API:
// POST /process/onboard-user/start, from the client sending the request to the client having
// read the answer, at several client concurrencies, next to the floor for the same requests.
//
//	go run ./bench/sync                          # starts the dev engine (internal/enginetest)
//	go run ./bench/sync -engine http://localhost:8080/engine-rest -c 1,50 -n 300,1000
//
// The daemon runs in this process (app.Run) with the embedded config.yaml's settings, a
// SQLite store in a temp dir and an HTTP port of its own; -max-parallel overrides the topics'
// maxTasks/maxParallel.
//
// Floor: for every request, the row's started_at (written by the database clock when the API
// registered the wait, i.e. just after the request came in) to its updated_at (written when
// prepare-response committed the row DONE). Both come from this host's clock (SQLite, ms
// resolution). The floor contains the engine start call, both external tasks' fetch, work and
// report, and the store writes: everything the waitroom and the HTTP layer cannot remove.
// Overhead = e2e - floor, per request, split into
//
//	in:  client sends the request -> started_at (connection, HTTP parsing, body, Register)
//	out: updated_at -> client has read the answer (wake the waiter, encode, write, read)
//
// The target: overhead <= 30 ms at p50.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/camunda-waitroom/camunda-waitroom/config"
	"github.com/camunda-waitroom/camunda-waitroom/internal/app"
	"github.com/camunda-waitroom/camunda-waitroom/internal/enginetest"
	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/repo/sqlite"
)

type flags struct {
	engine      string
	conc        []int
	counts      []int
	warmup      int
	maxParallel int
	cpuProfile  string
	keep        bool
	logLevel    string
	sqliteQuery string
}

func main() {
	var f flags
	var conc, counts string
	flag.StringVar(&f.engine, "engine", "", "engine REST root; empty starts the dev engine (internal/enginetest)")
	flag.StringVar(&conc, "c", "1,50", "client concurrencies, comma-separated")
	flag.StringVar(&counts, "n", "300,1000", "requests per concurrency, comma-separated (one per -c value)")
	flag.IntVar(&f.warmup, "warmup", 200, "warm-up requests (at concurrency 10) before measuring")
	flag.IntVar(&f.maxParallel, "max-parallel", 0, "topics' maxTasks and maxParallel; 0 keeps config.yaml's")
	flag.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured phases (this process: client and daemon)")
	flag.BoolVar(&f.keep, "keep", false, "keep the temp dir (SQLite file, daemon log)")
	flag.StringVar(&f.logLevel, "log-level", "warn", "daemon log level (to the temp dir's daemon.log)")
	flag.StringVar(&f.sqliteQuery, "sqlite-params", "", "query appended to the daemon's SQLite DSN, e.g. '_pragma=synchronous(NORMAL)' (diagnosis)")
	flag.Parse()
	var err error
	if f.conc, err = ints(conc); err == nil {
		f.counts, err = ints(counts)
	}
	if err == nil && len(f.conc) != len(f.counts) {
		err = errors.New("-c and -n need the same number of values")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sync:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, f); err != nil {
		fmt.Fprintln(os.Stderr, "sync:", err)
		os.Exit(1)
	}
}

func ints(s string) ([]int, error) {
	var out []int
	for _, p := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q: want positive integers", s)
		}
		out = append(out, n)
	}
	return out, nil
}

func run(ctx context.Context, f flags) error {
	dir, err := os.MkdirTemp("", "bench-sync-*")
	if err != nil {
		return err
	}
	if f.keep {
		fmt.Fprintln(os.Stderr, "temp dir:", dir)
	} else {
		defer os.RemoveAll(dir)
	}

	engineURL := f.engine
	if engineURL == "" {
		sctx, cancel := context.WithTimeout(ctx, enginetest.DefaultStartTimeout+10*time.Second)
		began := time.Now()
		e, err := enginetest.Start(sctx, enginetest.Options{})
		cancel()
		if err != nil {
			return fmt.Errorf("start the engine: %w", err)
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = e.Stop(sctx)
			if p := e.LogPath(); p != "" && !f.keep {
				_ = os.Remove(p)
			}
		}()
		engineURL = e.BaseURL
		fmt.Fprintf(os.Stderr, "engine up at %s after %s\n", engineURL, time.Since(began).Round(time.Millisecond))
	}

	// The daemon: config.yaml's settings, with a temp SQLite store and a port of our own.
	port, err := freePort()
	if err != nil {
		return err
	}
	dbPath := filepath.Join(dir, "waitroom.db")
	dsn := "file:" + dbPath
	if f.sqliteQuery != "" {
		dsn += "?" + f.sqliteQuery
	}
	yaml := fmt.Sprintf(`
instance: {id: bench-sync}
log: {level: %s, format: json}
store: {driver: sqlite, dsn: %q}
camunda: {url: %q}
http: {addr: "127.0.0.1:%d"}
retention: {enabled: false}
`, f.logLevel, dsn, engineURL, port)
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		return err
	}
	cfg, _, err := config.Load(cfgPath, func(string) string { return "" })
	if err != nil {
		return err
	}
	if f.maxParallel > 0 {
		for i := range cfg.Topics {
			cfg.Topics[i].MaxTasks = min(f.maxParallel, 1000)
			cfg.Topics[i].MaxParallel = f.maxParallel
		}
	}
	logf, err := os.Create(filepath.Join(dir, "daemon.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	var lvl zapcore.Level
	if err := lvl.Set(f.logLevel); err != nil {
		return err
	}
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(logf), lvl))
	dctx, cancelDaemon := context.WithCancel(ctx)
	daemonDone := make(chan error, 1)
	go func() { daemonDone <- app.Run(dctx, cfg, log) }()
	defer func() {
		cancelDaemon()
		select {
		case err := <-daemonDone:
			if err != nil {
				fmt.Fprintln(os.Stderr, "daemon:", err)
			}
		case <-time.After(60 * time.Second):
			fmt.Fprintln(os.Stderr, "daemon: did not stop within 60s")
		}
	}()

	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	maxConc := slices.Max(f.conc)
	hc := &http.Client{
		Timeout: cfg.Waitroom.Timeout + 30*time.Second,
		Transport: &http.Transport{
			// Front services keep connections alive; so does the bench, one per client.
			MaxIdleConns: maxConc + 10, MaxIdleConnsPerHost: maxConc + 10, IdleConnTimeout: 90 * time.Second,
		},
	}
	if err := waitReady(ctx, hc, base, engineURL, daemonDone); err != nil {
		return err
	}

	store, err := openStore(ctx, dbPath)
	if err != nil {
		return err
	}
	defer store.Close()

	if f.warmup > 0 {
		fmt.Fprintf(os.Stderr, "warm-up: %d requests at c=10\n", f.warmup)
		if _, err := phase(ctx, hc, base, "warm", 10, f.warmup); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}

	if f.cpuProfile != "" {
		pf, err := os.Create(f.cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); _ = pf.Close() }()
	}

	var rows []row
	for i, c := range f.conc {
		n := f.counts[i]
		fmt.Fprintf(os.Stderr, "measuring: %d requests at c=%d\n", n, c)
		ph, err := phase(ctx, hc, base, fmt.Sprintf("c%d", c), c, n)
		if err != nil {
			return err
		}
		r, err := summarize(ctx, store, c, ph)
		if err != nil {
			return err
		}
		rows = append(rows, r)
	}
	printMachine(cfg, f, engineURL)
	printTable(rows)
	return nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitReady polls /readyz until 200 and the engine until onboard-user is deployed.
func waitReady(ctx context.Context, hc *http.Client, base, engineURL string, daemonDone <-chan error) error {
	deadline := time.Now().Add(2 * time.Minute)
	ok := func(u string) bool {
		resp, err := hc.Get(u)
		if err != nil {
			return false
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	for time.Now().Before(deadline) {
		select {
		case err := <-daemonDone:
			return fmt.Errorf("daemon stopped before it was ready: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if ok(base+"/readyz") && ok(engineURL+"/process-definition/key/onboard-user") {
			return nil
		}
	}
	return errors.New("daemon not ready (or onboard-user not deployed) within 2m")
}

func openStore(ctx context.Context, dbPath string) (*sqlite.Store, error) {
	db, err := sqlite.OpenDB("file:" + dbPath)
	if err != nil {
		return nil, err
	}
	return sqlite.New(ctx, db, repo.Options{Driver: repo.DriverSQLite, Owner: "bench-reader"})
}

// sample is one request as the client saw it.
type sample struct {
	id         string
	sent, done time.Time
	gotConn    time.Time // the client has a connection (new or reused)
	reused     bool
	code       int
	err        error
}

type phaseResult struct {
	samples       []sample
	wall          time.Duration
	before, after map[string]*dto.MetricFamily
}

// phase sends n starts from c clients, each sending its next request when the previous one
// was answered.
func phase(ctx context.Context, hc *http.Client, base, tag string, c, n int) (phaseResult, error) {
	samples := make([]sample, n)
	before, err := scrape(hc, base)
	if err != nil {
		return phaseResult{}, err
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	began := time.Now()
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				samples[i] = start(ctx, hc, base, fmt.Sprintf("%s-%d", tag, i))
			}
		}()
	}
	wg.Wait()
	wall := time.Since(began)
	if err := ctx.Err(); err != nil {
		return phaseResult{}, err
	}
	bad := 0
	var first error
	for _, s := range samples {
		if s.err != nil || s.code != http.StatusOK {
			bad++
			if first == nil {
				first = fmt.Errorf("%s: code %d, %v", s.id, s.code, s.err)
			}
		}
	}
	if bad > n/100 {
		return phaseResult{}, fmt.Errorf("%d of %d requests failed, e.g. %v", bad, n, first)
	}
	if bad > 0 {
		fmt.Fprintf(os.Stderr, "  %d of %d requests failed (left out), e.g. %v\n", bad, n, first)
	}
	after, err := scrape(hc, base)
	if err != nil {
		return phaseResult{}, err
	}
	return phaseResult{samples: samples, wall: wall, before: before, after: after}, nil
}

// scrape reads the daemon's /metrics.
func scrape(hc *http.Client, base string) (map[string]*dto.MetricFamily, error) {
	resp, err := hc.Get(base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

// histDelta is the count and sum of the histogram sample with label name=value between two
// scrapes.
func histDelta(before, after map[string]*dto.MetricFamily, fam, name, value string) (uint64, float64) {
	get := func(m map[string]*dto.MetricFamily) (uint64, float64) {
		f := m[fam]
		if f == nil {
			return 0, 0
		}
		for _, mt := range f.GetMetric() {
			for _, lp := range mt.GetLabel() {
				if lp.GetName() == name && lp.GetValue() == value {
					return mt.GetHistogram().GetSampleCount(), mt.GetHistogram().GetSampleSum()
				}
			}
		}
		return 0, 0
	}
	c1, s1 := get(before)
	c2, s2 := get(after)
	return c2 - c1, s2 - s1
}

var body = func(i string) []byte {
	return []byte(`{"variables": {"email": "user-` + i + `@example.com", "name": "User ` + i + `"}}`)
}

func start(ctx context.Context, hc *http.Client, base, label string) sample {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/process/onboard-user/start", bytes.NewReader(body(label)))
	if err != nil {
		return sample{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	s := sample{}
	req = req.WithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { s.gotConn, s.reused = time.Now(), i.Reused },
	}))
	s.sent = time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		s.err = err
		return s
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	s.done = time.Now()
	s.code = resp.StatusCode
	if err != nil {
		s.err = err
		return s
	}
	var out struct {
		CorrelationID string `json:"correlationId"`
		Status        string `json:"status"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		s.err = fmt.Errorf("answer %s: %w", raw, err)
		return s
	}
	s.id = out.CorrelationID
	if s.code == http.StatusOK && out.Status != "DONE" {
		s.err = fmt.Errorf("200 with status %q", out.Status)
	}
	return s
}

// row is one concurrency's figures, in milliseconds.
type row struct {
	c, n                      int
	throughput                float64
	e2e, floor, over, in, out dist
	inConn                    dist // connection in hand -> started_at
	newConns                  int
	// From the daemon's /metrics over the phase: mean store call time by op (including the
	// SQLite write gate), waiters woken by source.
	storeMean map[string]float64
	wakes     map[string]uint64
	handler   map[string]float64 // mean handler run time by topic
}

type dist struct{ p50, p99, max float64 }

func distOf(v []float64) dist {
	if len(v) == 0 {
		return dist{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	q := func(p float64) float64 {
		i := int(float64(len(s))*p+0.5) - 1
		return s[min(max(i, 0), len(s)-1)]
	}
	return dist{p50: q(0.50), p99: q(0.99), max: s[len(s)-1]}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func summarize(ctx context.Context, store *sqlite.Store, c int, ph phaseResult) (row, error) {
	var e2e, floor, over, in, out, inConn []float64
	newConns := 0
	for _, s := range ph.samples {
		if s.err != nil || s.code != http.StatusOK {
			continue
		}
		rec, err := store.Find(ctx, s.id)
		if err != nil {
			return row{}, fmt.Errorf("row %s: %w", s.id, err)
		}
		if rec.Status != repo.StatusDone {
			return row{}, fmt.Errorf("row %s is %s after a 200", s.id, rec.Status)
		}
		e := s.done.Sub(s.sent)
		fl := rec.UpdatedAt.Sub(rec.StartedAt)
		e2e = append(e2e, ms(e))
		floor = append(floor, ms(fl))
		over = append(over, ms(e-fl))
		in = append(in, ms(rec.StartedAt.Sub(s.sent)))
		out = append(out, ms(s.done.Sub(rec.UpdatedAt)))
		inConn = append(inConn, ms(rec.StartedAt.Sub(s.gotConn)))
		if !s.reused {
			newConns++
		}
	}
	storeMean := map[string]float64{}
	for _, op := range []string{"create", "complete", "fail", "find", "statuses"} {
		if n, sum := histDelta(ph.before, ph.after, "camunda_waitroom_store_duration_seconds", "op", op); n > 0 {
			storeMean[op] = sum / float64(n) * 1000
		}
	}
	wakes := map[string]uint64{}
	for _, src := range []string{"local", "notify", "poll"} {
		n, _ := histDelta(ph.before, ph.after, "camunda_waitroom_wake_latency_seconds", "source", src)
		wakes[src] = n
	}
	handler := map[string]float64{}
	for _, t := range []string{"onboard-user/create-account", "onboard-user/prepare-response"} {
		if n, sum := histDelta(ph.before, ph.after, "camunda_waitroom_handler_duration_seconds", "topic", t); n > 0 {
			handler[t] = sum / float64(n) * 1000
		}
	}
	return row{
		c: c, n: len(e2e), throughput: float64(len(ph.samples)) / ph.wall.Seconds(),
		e2e: distOf(e2e), floor: distOf(floor), over: distOf(over), in: distOf(in), out: distOf(out),
		inConn: distOf(inConn), newConns: newConns, storeMean: storeMean, wakes: wakes, handler: handler,
	}, nil
}

func printMachine(cfg *config.Config, f flags, engineURL string) {
	host, _ := os.Hostname()
	model := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				model = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	engine := "dev engine (internal/enginetest, same host)"
	if f.engine != "" {
		engine = engineURL
	}
	maxPar := []string{}
	for _, t := range cfg.Topics {
		maxPar = append(maxPar, fmt.Sprintf("%s maxTasks=%d maxParallel=%d", t.Name, t.MaxTasks, t.MaxParallel))
	}
	fmt.Printf("machine: %s, %d CPUs (%s), %s/%s, %s\n", host, runtime.NumCPU(), model, runtime.GOOS, runtime.GOARCH, runtime.Version())
	fmt.Printf("engine: %s; store: %s; waitroom.timeout %s; asyncResponseTimeout %s\n", engine, config.RedactDSN(cfg.StoreDSN()), cfg.Waitroom.Timeout, cfg.Camunda.AsyncResponseTimeout)
	fmt.Printf("topics: %s\n", strings.Join(maxPar, "; "))
	fmt.Printf("at: %s\n\n", time.Now().UTC().Format(time.RFC3339))
}

func printTable(rows []row) {
	fmt.Println("| clients | requests | req/s | e2e p50 / p99 / max (ms) | floor p50 / p99 / max (ms) | overhead p50 / p99 (ms) | in p50 / p99 (ms) | out p50 / p99 (ms) |")
	fmt.Println("|---:|---:|---:|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Printf("| %d | %d | %.1f | %.1f / %.1f / %.1f | %.1f / %.1f / %.1f | %.1f / %.1f | %.1f / %.1f | %.1f / %.1f |\n",
			r.c, r.n, r.throughput,
			r.e2e.p50, r.e2e.p99, r.e2e.max,
			r.floor.p50, r.floor.p99, r.floor.max,
			r.over.p50, r.over.p99,
			r.in.p50, r.in.p99,
			r.out.p50, r.out.p99)
	}
	fmt.Println()
	fmt.Println("| clients | new connections | in after connection p50 / p99 (ms) | store call mean (ms) | handler mean (ms) | waiters woken by |")
	fmt.Println("|---:|---:|---|---|---|---|")
	for _, r := range rows {
		var st, hd, wk []string
		for _, op := range []string{"create", "complete", "fail", "find", "statuses"} {
			if v, ok := r.storeMean[op]; ok {
				st = append(st, fmt.Sprintf("%s %.1f", op, v))
			}
		}
		for _, t := range []string{"onboard-user/create-account", "onboard-user/prepare-response"} {
			if v, ok := r.handler[t]; ok {
				hd = append(hd, fmt.Sprintf("%s %.1f", strings.TrimPrefix(t, "onboard-user/"), v))
			}
		}
		for _, src := range []string{"local", "notify", "poll"} {
			wk = append(wk, fmt.Sprintf("%s %d", src, r.wakes[src]))
		}
		fmt.Printf("| %d | %d | %.1f / %.1f | %s | %s | %s |\n", r.c, r.newConns, r.inConn.p50, r.inConn.p99,
			strings.Join(st, ", "), strings.Join(hd, ", "), strings.Join(wk, ", "))
	}
}
