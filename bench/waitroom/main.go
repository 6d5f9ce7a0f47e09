// Command waitroom benchmarks the waitroom package against the Node.js service's per-waiter
// polling, side by side on the same database.
//
//	go run ./bench/waitroom -store=postgres,postgres-nonotify,sqlite -waiters=100,1000,10000
//
// For every store and waiter count it runs two variants, each in a child process of its own
// (so CPU time and peak RSS are per variant):
//
//   - waitroom: one waitroom.Room; its dispatcher reads every awaited id in one batched
//     Statuses call per tick (50 ms; 1 s while PostgreSQL LISTEN is up), plus the notified ids;
//   - baseline: the Node.js service's schedule, one SELECT (Store.Find) per waiter, sleeping
//     50, 100, 250, 500 ms, then 1000 ms between polls.
//
// N rows are registered PENDING first (not measured), N waiters on distinct ids start, and
// then another child process, the completer, completes the N rows at a steady rate over
// -spread, each payload carrying the wall-clock time just before its UPDATE was sent (same
// host, so wake latency = waiter return - that time, slightly pessimistic). The completer
// completes through a waitroom.Room, as the worker daemon does: on "postgres" that Room
// publishes bodies (postgres.BodyChannel) after commit; on the others it is the bare store
// write. Statements are counted on the waiting side only, at the database/sql driver (a
// wrapping driver.Connector counts every Exec and Query): Statuses costs one statement per
// chunk of repo.StatusesChunkSize ids, Find one. The PostgreSQL LISTEN connection (one LISTEN
// per connect, a ping after 30 s of silence) is not counted.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/waitroom"
)

type flags struct {
	role        string
	stores      string
	waiters     string
	spread      time.Duration
	pgDSN       string
	sqliteDir   string
	baselineMax time.Duration
	pool        int
	out         string

	// child roles
	store   string
	dsn     string
	variant string
	prefix  string
	n       int
}

func main() {
	var f flags
	flag.StringVar(&f.role, "role", "run", "run (the coordinator), waiter or completer (child processes)")
	flag.StringVar(&f.stores, "store", "postgres,postgres-nonotify,sqlite", "stores, comma-separated: postgres, postgres-nonotify, sqlite")
	flag.StringVar(&f.waiters, "waiters", "100,1000,10000", "waiter counts, comma-separated")
	flag.DurationVar(&f.spread, "spread", 10*time.Second, "the completer finishes the N rows at a steady rate over this time")
	flag.StringVar(&f.pgDSN, "dsn", os.Getenv("WAITROOM_TEST_PG_DSN"), "PostgreSQL server DSN (a private database is created on it)")
	flag.StringVar(&f.sqliteDir, "sqlite-dir", "", "directory for the SQLite file (default: a temporary one)")
	flag.DurationVar(&f.baselineMax, "baseline-max", 60*time.Second, "bound on one variant's waiting phase; waiters still waiting then count as not woken")
	flag.IntVar(&f.pool, "pool", 10, "connection pool size of the waiting side (the Node.js service's pool: 10)")
	flag.StringVar(&f.out, "out", "", "also write the markdown table to this file")
	flag.StringVar(&f.store, "child-store", "", "child: store kind")
	flag.StringVar(&f.dsn, "child-dsn", "", "child: store DSN")
	flag.StringVar(&f.variant, "child-variant", "", "child: waitroom or baseline")
	flag.StringVar(&f.prefix, "child-prefix", "", "child: id prefix")
	flag.IntVar(&f.n, "child-n", 0, "child: number of rows")
	flag.Parse()

	var err error
	switch f.role {
	case "run":
		err = coordinate(f)
	case "waiter":
		err = waiterMain(f)
	case "completer":
		err = completerMain(f)
	default:
		err = fmt.Errorf("unknown -role %q", f.role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/waitroom:", err)
		os.Exit(1)
	}
}

// result is what a waiter child reports.
type result struct {
	Store      string  `json:"store"`
	Variant    string  `json:"variant"`
	N          int     `json:"n"`
	Woken      int     `json:"woken"`
	Errors     int     `json:"errors"`
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
	MaxMs      float64 `json:"max_ms"`
	Statements int64   `json:"statements"`
	WindowS    float64 `json:"window_s"`
	CPUs       float64 `json:"cpu_s"`
	MaxRSSMB   float64 `json:"max_rss_mb"`
	// ReadP50ms and ReadMaxMs are the durations of the waitroom's Statuses calls.
	ReadP50ms float64 `json:"read_p50_ms"`
	ReadMaxMs float64 `json:"read_max_ms"`
	Reads     int     `json:"reads"`
}

// readTimer records how long each Statuses call takes: a repo.Interceptor, so the store it
// wraps (repo.Wrap) keeps its listener.
type readTimer struct {
	mu    sync.Mutex
	reads []time.Duration
}

func (t *readTimer) intercept(ctx context.Context, op string, call func(context.Context) error) error {
	if op != repo.OpStatuses {
		return call(ctx)
	}
	start := time.Now()
	err := call(ctx)
	d := time.Since(start)
	t.mu.Lock()
	t.reads = append(t.reads, d)
	t.mu.Unlock()
	return err
}

func (r result) stmtPerSec() float64 { return float64(r.Statements) / r.WindowS }

func parseInts(s string) ([]int, error) {
	var out []int
	for _, p := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bad count %q", p)
		}
		out = append(out, n)
	}
	return out, nil
}

func coordinate(f flags) error {
	counts, err := parseInts(f.waiters)
	if err != nil {
		return err
	}
	ctx := context.Background()
	var results []result
	for _, kind := range strings.Split(f.stores, ",") {
		kind = strings.TrimSpace(kind)
		dsn, cleanup, err := prepareDatabase(ctx, f, kind)
		if err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
		for _, n := range counts {
			for _, variant := range []string{"waitroom", "baseline"} {
				prefix := fmt.Sprintf("b%d-%s-%d", time.Now().UnixNano()%1e9, variant[:1], n)
				fmt.Fprintf(os.Stderr, "== %s, %d waiters, %s\n", kind, n, variant)
				res, err := runVariant(ctx, f, kind, dsn, variant, prefix, n)
				if err != nil {
					cleanup()
					return fmt.Errorf("%s %s %d: %w", kind, variant, n, err)
				}
				fmt.Fprintf(os.Stderr, "   %+v\n", res)
				results = append(results, res)
			}
		}
		cleanup()
	}
	table := markdown(results, f)
	fmt.Print(table)
	if f.out != "" {
		return os.WriteFile(f.out, []byte(table), 0o644)
	}
	return nil
}

// prepareDatabase creates the variant's database: a private PostgreSQL database, or a SQLite
// file, migrated.
func prepareDatabase(ctx context.Context, f flags, kind string) (string, func(), error) {
	switch kind {
	case "postgres", "postgres-nonotify":
		if f.pgDSN == "" {
			return "", nil, errors.New("no PostgreSQL DSN: set -dsn or WAITROOM_TEST_PG_DSN (eval \"$(bash scripts/postgres.sh env)\")")
		}
		name := fmt.Sprintf("waitroom_bench_%d", time.Now().UnixNano()%1e9)
		admin, err := pgx.Connect(ctx, f.pgDSN)
		if err != nil {
			return "", nil, err
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
			return "", nil, err
		}
		u, err := url.Parse(f.pgDSN)
		if err != nil {
			return "", nil, err
		}
		u.Path = "/" + name
		cleanup := func() {
			c, err := pgx.Connect(ctx, f.pgDSN)
			if err == nil {
				_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
				_ = c.Close(ctx)
			}
		}
		s, err := openStore(ctx, repo.DriverPostgres, u.String(), "bench", 0, true, nil)
		if err != nil {
			cleanup()
			return "", nil, err
		}
		s.Close()
		return u.String(), cleanup, nil
	case "sqlite":
		dir := f.sqliteDir
		var cleanup func()
		if dir == "" {
			d, err := os.MkdirTemp("", "waitroom-bench")
			if err != nil {
				return "", nil, err
			}
			dir, cleanup = d, func() { os.RemoveAll(d) }
		} else {
			cleanup = func() {}
		}
		// synchronous(NORMAL): WAL without an fsync per commit, so one writer keeps up with
		// 1,000 completions a second on this machine.
		dsn := "file:" + filepath.Join(dir, "bench.db") + "?_pragma=synchronous(NORMAL)"
		s, err := openStore(ctx, repo.DriverSQLite, dsn, "bench", 0, true, nil)
		if err != nil {
			cleanup()
			return "", nil, err
		}
		s.Close()
		return dsn, cleanup, nil
	}
	return "", nil, fmt.Errorf("unknown store %q", kind)
}

func runVariant(ctx context.Context, f flags, kind, dsn, variant, prefix string, n int) (result, error) {
	// Register the rows (not measured).
	s, err := openStore(ctx, driverOf(kind), dsn, "bench", 16, false, nil)
	if err != nil {
		return result{}, err
	}
	workers := 16
	if kind == "sqlite" {
		workers = 1 // one writer at a time anyway
	}
	if err := register(ctx, s, prefix, n, workers); err != nil {
		s.Close()
		return result{}, err
	}
	s.Close()

	self, err := os.Executable()
	if err != nil {
		return result{}, err
	}
	args := func(role string) []string {
		return []string{"-role=" + role, "-child-store=" + kind, "-child-dsn=" + dsn, "-child-variant=" + variant,
			"-child-prefix=" + prefix, "-child-n=" + strconv.Itoa(n), "-spread=" + f.spread.String(),
			"-baseline-max=" + f.baselineMax.String(), "-pool=" + strconv.Itoa(f.pool)}
	}
	waiter := exec.Command(self, args("waiter")...)
	waiter.Stderr = os.Stderr
	stdout, err := waiter.StdoutPipe()
	if err != nil {
		return result{}, err
	}
	if err := waiter.Start(); err != nil {
		return result{}, err
	}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	if !sc.Scan() || sc.Text() != "READY" {
		_ = waiter.Process.Kill()
		_ = waiter.Wait()
		return result{}, fmt.Errorf("waiter child did not get ready: %q %v", sc.Text(), sc.Err())
	}
	completer := exec.Command(self, args("completer")...)
	completer.Stderr, completer.Stdout = os.Stderr, os.Stderr
	if err := completer.Run(); err != nil {
		_ = waiter.Process.Kill()
		_ = waiter.Wait()
		return result{}, fmt.Errorf("completer: %w", err)
	}
	var res result
	if !sc.Scan() {
		_ = waiter.Wait()
		return result{}, fmt.Errorf("waiter child printed no result: %v", sc.Err())
	}
	if err := json.Unmarshal(sc.Bytes(), &res); err != nil {
		return result{}, fmt.Errorf("waiter result %q: %w", sc.Text(), err)
	}
	_, _ = io.Copy(io.Discard, stdout)
	if err := waiter.Wait(); err != nil {
		return result{}, fmt.Errorf("waiter child: %w", err)
	}
	return res, nil
}

func driverOf(kind string) string {
	if kind == "sqlite" {
		return repo.DriverSQLite
	}
	return repo.DriverPostgres
}

func register(ctx context.Context, s repo.Store, prefix string, n, workers int) error {
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if _, err := s.Create(ctx, rowID(prefix, i)); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

func rowID(prefix string, i int) string { return fmt.Sprintf("%s-%06d", prefix, i) }

// payload is what the completer writes.
type payload struct {
	// T is the completer's wall clock (UnixNano) just before it sent the UPDATE.
	T int64 `json:"t"`
}

// completerMain completes the rows at a steady rate over -spread, in a shuffled order, through
// a Room (which on "postgres" publishes the bodies after commit, like the daemon's worker).
func completerMain(f flags) error {
	ctx := context.Background()
	s, err := openStore(ctx, driverOf(f.store), f.dsn, "completer", 8, false, nil)
	if err != nil {
		return err
	}
	defer s.Close()
	cfg := waitroom.Options{}
	if f.store != "postgres" {
		cfg.PollOnly = true // on postgres the store's listener publishes the bodies
	}
	room, err := waitroom.New(s, cfg)
	if err != nil {
		return err
	}
	defer room.Stop(ctx)
	order := rand.Perm(f.n)
	step := f.spread / time.Duration(f.n)
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1)) - 1
				if k >= f.n {
					return
				}
				if d := time.Until(start.Add(time.Duration(k) * step)); d > 0 {
					time.Sleep(d)
				}
				b, _ := json.Marshal(payload{T: time.Now().UnixNano()})
				out, err := room.Complete(ctx, rowID(f.prefix, order[k]), b)
				if err == nil && out != repo.Transitioned {
					err = fmt.Errorf("complete %s: %s", rowID(f.prefix, order[k]), out)
				}
				if err != nil {
					select {
					case errs <- err:
					default:
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// waiterMain waits for the N rows with the variant, then prints one JSON result line.
func waiterMain(f flags) error {
	ctx := context.Background()
	var statements atomic.Int64
	inner, err := openStore(ctx, driverOf(f.store), f.dsn, "waiter", f.pool, false, &statements)
	if err != nil {
		return err
	}
	timer := &readTimer{}
	s := repo.Wrap(inner, timer.intercept)
	defer s.Close()
	deadline := f.spread + f.baselineMax
	wctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()

	var wait func(ctx context.Context, id string) (json.RawMessage, error)
	var ready func() bool
	switch f.variant {
	case "waitroom":
		cfg := waitroom.Options{Timeout: deadline, MaxWaiters: max(f.n, waitroom.MaxWaitersDefault)}
		if f.store != "postgres" {
			cfg.PollOnly = true // on postgres the store's listener: LISTEN/NOTIFY
		}
		room, err := waitroom.New(s, cfg)
		if err != nil {
			return err
		}
		if err := room.Start(ctx); err != nil {
			return err
		}
		defer room.Stop(ctx)
		if f.store == "postgres" {
			for !room.Listening() {
				time.Sleep(10 * time.Millisecond)
			}
		}
		wait = room.Wait
		ready = func() bool { return room.Waiters() == f.n }
	case "baseline":
		var started atomic.Int64
		wait = func(ctx context.Context, id string) (json.RawMessage, error) {
			started.Add(1)
			return nodeServiceWait(ctx, s, id)
		}
		ready = func() bool { return started.Load() == int64(f.n) }
	default:
		return fmt.Errorf("unknown variant %q", f.variant)
	}

	lat := make([]time.Duration, f.n)
	ok := make([]bool, f.n)
	var errCount, woken atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	before := statements.Load()
	for i := range f.n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := wait(wctx, rowID(f.prefix, i))
			now := time.Now()
			if err != nil {
				errCount.Add(1)
				return
			}
			var pl payload
			if err := json.Unmarshal(p, &pl); err != nil {
				errCount.Add(1)
				return
			}
			lat[i], ok[i] = now.Sub(time.Unix(0, pl.T)), true
			woken.Add(1)
		}()
	}
	for !ready() {
		time.Sleep(time.Millisecond)
	}
	fmt.Println("READY")
	wg.Wait()
	window := time.Since(start)
	stmts := statements.Load() - before

	var got []time.Duration
	for i, l := range lat {
		if ok[i] {
			got = append(got, l)
		}
	}
	slices.Sort(got)
	pct := func(p float64) float64 {
		if len(got) == 0 {
			return 0
		}
		k := int(p*float64(len(got))+0.5) - 1
		k = min(max(k, 0), len(got)-1)
		return float64(got[k].Microseconds()) / 1000
	}
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	res := result{Store: f.store, Variant: f.variant, N: f.n, Woken: int(woken.Load()), Errors: int(errCount.Load()),
		P50ms: pct(0.50), P99ms: pct(0.99), MaxMs: pct(1.0), Statements: stmts, WindowS: window.Seconds(),
		CPUs: cpu.Seconds(), MaxRSSMB: float64(ru.Maxrss) / 1024}
	timer.mu.Lock()
	reads := slices.Clone(timer.reads)
	timer.mu.Unlock()
	slices.Sort(reads)
	if len(reads) > 0 {
		res.Reads = len(reads)
		res.ReadP50ms = float64(reads[len(reads)/2].Microseconds()) / 1000
		res.ReadMaxMs = float64(reads[len(reads)-1].Microseconds()) / 1000
	}
	b, _ := json.Marshal(res)
	fmt.Println(string(b))
	return nil
}

// nodeServiceSchedule is the Node.js service's sleeps between polls; the last repeats.
var nodeServiceSchedule = []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, 1000 * time.Millisecond}

// nodeServiceWait is the baseline: the Node.js service's createWait polling loop, one SELECT
// per poll.
func nodeServiceWait(ctx context.Context, s repo.Store, id string) (json.RawMessage, error) {
	for i := 0; ; i++ {
		rec, err := s.Find(ctx, id)
		switch {
		case err != nil && ctx.Err() != nil:
			return nil, ctx.Err()
		case err == nil && rec.Status == repo.StatusDone:
			return rec.Payload, nil
		case err == nil && rec.Status == repo.StatusError:
			return nil, fmt.Errorf("process error: %s", rec.Error)
		}
		t := time.NewTimer(nodeServiceSchedule[min(i, len(nodeServiceSchedule)-1)])
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

func markdown(results []result, f flags) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| store | waiters | variant | woken | p50 ms | p99 ms | max ms | statements/s (waiting side) | CPU s | peak RSS MB | baseline ÷ waitroom: statements/s | baseline ÷ waitroom: p99 |\n")
	fmt.Fprintf(&b, "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for i, r := range results {
		ratioS, ratioP := "", ""
		if r.Variant == "baseline" && i > 0 && results[i-1].Variant == "waitroom" {
			w := results[i-1]
			ratioS = fmt.Sprintf("%.0f×", r.stmtPerSec()/max(w.stmtPerSec(), 1e-9))
			ratioP = fmt.Sprintf("%.0f×", r.P99ms/max(w.P99ms, 1e-9))
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %d/%d | %.1f | %.1f | %.1f | %.1f | %.2f | %.0f | %s | %s |\n",
			r.Store, r.N, r.Variant, r.Woken, r.N, r.P50ms, r.P99ms, r.MaxMs, r.stmtPerSec(), r.CPUs, r.MaxRSSMB, ratioS, ratioP)
	}
	fmt.Fprintf(&b, "\nspread %s (completions at a steady rate), waiting-side pool %d, baseline bound %s after the spread\n",
		f.spread, f.pool, f.baselineMax)
	return b.String()
}
