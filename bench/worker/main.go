// Command worker benchmarks external-task workers side by side on one Camunda 7 engine, in
// one run: our runtime (topics.Runtime), the official Node client
// (camunda-external-task-client-js, bench/worker/node) and a minimal raw net/http loop (the
// engine's ceiling), all with the same parallelism and long polling.
//
//	go run ./bench/worker -instances 2000 -parallel 32 -trickle 200
//
// Scenario A (drain): N instances of a one-external-task process are started before the
// worker starts; the time from the worker's start to the engine accepting the N-th
// completion gives tasks/s. Scenario B (pickup latency): the worker is idle in a long poll;
// instances are started one at a time at -rate per second; latency is from the moment the
// driver sends the start request to the moment the contender's handler starts (both on this
// host's clock). Every contender gets its own topic, so runs never share tasks.
//
// The engine is started with internal/enginetest from a copy of
// dev/camunda/target/camunda-dev.jar (built with dev/camunda/engine.sh build if missing) or of
// $WAITROOM_TEST_CAMUNDA_JAR, unless -engine or WAITROOM_TEST_CAMUNDA_URL names a running one.
// It is not a test: `go test ./...` never runs it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
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
)

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05.000")+" "+format+"\n", args...)
}

const defaultContenders = "ours,node,raw-pipelined,raw-batch,raw-loops"

type options struct {
	engineURL    string
	javaOpts     string
	instances    int
	parallel     int
	trickle      int
	rate         float64
	rounds       int
	warmup       int
	async        time.Duration
	nodeInterval int
	starters     int
	only         string
	cpuProfile   string
	out          string
	scenarios    string
}

func main() {
	var o options
	flag.StringVar(&o.engineURL, "engine", os.Getenv("WAITROOM_TEST_CAMUNDA_URL"), "engine-rest base URL of a running engine (default $WAITROOM_TEST_CAMUNDA_URL; empty: start dev/camunda/target/camunda-dev.jar)")
	flag.StringVar(&o.javaOpts, "java-opts", "-XX:+UseSerialGC -Xss512k", "JVM flags for the engine this command starts (C2 enabled: throughput, not start-up)")
	flag.IntVar(&o.instances, "instances", 2000, "scenario A: instances started before the worker starts")
	flag.IntVar(&o.parallel, "parallel", 32, "P: maxTasks = maxParallel(Executions) = concurrent raw loops, for every contender")
	flag.IntVar(&o.trickle, "trickle", 200, "scenario B: instances started one at a time (latency samples per contender per round)")
	flag.Float64Var(&o.rate, "rate", 10, "scenario B: instances started per second")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds; each runs A for every contender, then B for every contender, in an order rotated per round")
	flag.IntVar(&o.warmup, "warmup", 500, "instances drained by every contender before the measured rounds (engine JIT, connection pools); 0: none")
	flag.DurationVar(&o.async, "async", 20*time.Second, "asyncResponseTimeout (long poll) for every contender")
	flag.IntVar(&o.nodeInterval, "node-interval", 0, "Node client's interval option (ms between polls; 0 = next poll on the next timer tick)")
	flag.IntVar(&o.starters, "starters", 8, "scenario A: concurrent start requests while filling the queue")
	flag.StringVar(&o.only, "contenders", defaultContenders, "contenders to run, comma-separated; also raw-refill-N: one pipelined poll loop that polls only when N slots are free")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of this process (our runtime and the raw loops run in it) to this file")
	flag.StringVar(&o.out, "out", "", "also write the markdown report to this file")
	flag.StringVar(&o.scenarios, "scenarios", "a,b", "scenarios to run: a (drain), b (pickup latency), or both")
	flag.Parse()
	if err := run(o); err != nil {
		logf("error: %v", err)
		os.Exit(1)
	}
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "bench", "worker", "node", "worker.js")); err == nil {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run from inside the camunda-waitroom checkout (bench/worker/node/worker.js not found)")
		}
		dir = parent
	}
}

// result is one contender's figures in one round of one scenario.
type result struct {
	contender string
	round     int
	// A
	elapsed     time.Duration
	firstPickup time.Duration
	// B: per sample, from the start request's send and from its answer.
	fromSend   []time.Duration
	fromReturn []time.Duration
	startCall  []time.Duration
	// both
	fetches, fetched, errors, dups int
	workerCPU, engineCPU           time.Duration
}

func run(o options) error {
	if o.parallel < 1 || o.instances < 1 || o.trickle < 1 || o.rate <= 0 || o.rounds < 1 {
		return errors.New("-parallel, -instances, -trickle, -rate and -rounds must be positive")
	}
	var chosen []contender
	for _, name := range strings.Split(o.only, ",") {
		name = strings.TrimSpace(name)
		if name == "raw-pipelined" {
			chosen = append(chosen, contender{name, func(_ context.Context, env benchEnv, topic string, rec *recorder) (worker, error) {
				return prepareRefill(env, topic, rec, 1)
			}})
			continue
		}
		if rest, ok := strings.CutPrefix(name, "raw-refill-"); ok {
			n, err := strconv.Atoi(rest)
			if err != nil || n < 1 {
				return fmt.Errorf("contender %q: want raw-refill-<min free slots>", name)
			}
			chosen = append(chosen, contender{name, func(_ context.Context, env benchEnv, topic string, rec *recorder) (worker, error) {
				return prepareRefill(env, topic, rec, n)
			}})
			continue
		}
		i := slices.IndexFunc(allContenders, func(c contender) bool { return c.name == name })
		if i < 0 {
			return fmt.Errorf("unknown contender %q", name)
		}
		chosen = append(chosen, allContenders[i])
	}
	root, err := repoRoot()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	nodeDir := filepath.Join(root, "bench", "worker", "node")
	if slices.ContainsFunc(chosen, func(c contender) bool { return c.name == "node" }) {
		if err := ensureNodeModules(ctx, nodeDir); err != nil {
			return err
		}
	}

	var api *benchEngine
	if base := strings.TrimRight(o.engineURL, "/"); base == "" {
		if api, err = startEngine(ctx, root, o.javaOpts, 5*time.Minute); err != nil {
			return err
		}
		defer api.stop()
		logf("engine ready at %s (pid %d)", api.BaseURL, api.PID())
	} else if api, err = attachEngine(ctx, base); err != nil {
		return err
	}
	url, enginePID := api.BaseURL, api.PID()

	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}

	env := benchEnv{url: url, parallel: o.parallel, async: o.async, lock: time.Minute, nodeDir: nodeDir, nodeInterval: o.nodeInterval}
	runID := strconv.FormatInt(time.Now().Unix()%100000, 10)
	topicOf := func(c contender, round int, sc string) string {
		return fmt.Sprintf("bench-%s-%s-r%d-%s", runID, c.name, round, sc)
	}
	keyOf := func(topic string) string { return strings.ReplaceAll(topic, "-", "_") }

	procs := map[string]string{}
	for _, c := range chosen {
		for r := 0; r <= o.rounds; r++ { // round 0 is the warm-up
			for _, sc := range []string{"a", "b"} {
				t := topicOf(c, r, sc)
				procs[keyOf(t)] = t
			}
		}
	}
	if err := api.deploy(ctx, "bench-worker-"+runID, procs); err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	logf("deployed %d one-external-task processes", len(procs))

	cpu := func(pid int) time.Duration {
		if pid == 0 {
			var ru syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
			return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
		return procCPU(pid)
	}

	q := &quiet{async: o.async}
	if o.warmup > 0 {
		for _, c := range chosen {
			t := topicOf(c, 0, "a")
			res, err := drain(ctx, q, api, env, c, t, keyOf(t), o.warmup, o.starters, cpu, enginePID)
			if err != nil {
				return fmt.Errorf("warm-up %s: %w", c.name, err)
			}
			logf("warm-up %-9s drained %d in %v (%.0f tasks/s)", c.name, o.warmup, res.elapsed.Round(time.Millisecond), float64(o.warmup)/res.elapsed.Seconds())
		}
	}

	runA, runB := strings.Contains(o.scenarios, "a"), strings.Contains(o.scenarios, "b")
	var resA, resB []result
	for r := 1; r <= o.rounds; r++ {
		order := rotate(chosen, r-1)
		for _, c := range order {
			if !runA {
				break
			}
			t := topicOf(c, r, "a")
			res, err := drain(ctx, q, api, env, c, t, keyOf(t), o.instances, o.starters, cpu, enginePID)
			if err != nil {
				return fmt.Errorf("round %d A %s: %w", r, c.name, err)
			}
			res.round = r
			resA = append(resA, res)
			logf("round %d A %-9s %d tasks in %v: %.0f tasks/s (first pickup %v, %d fetches, %.1f tasks/fetch)", r, c.name, o.instances,
				res.elapsed.Round(time.Millisecond), float64(o.instances)/res.elapsed.Seconds(), res.firstPickup.Round(time.Millisecond),
				res.fetches, float64(res.fetched)/math.Max(1, float64(res.fetches)))
		}
		for _, c := range order {
			if !runB {
				break
			}
			t := topicOf(c, r, "b")
			res, err := trickle(ctx, q, api, env, c, t, keyOf(t), o.trickle, o.rate, cpu, enginePID)
			if err != nil {
				return fmt.Errorf("round %d B %s: %w", r, c.name, err)
			}
			res.round = r
			resB = append(resB, res)
			logf("round %d B %-9s p50 %v p99 %v max %v (from send; %d samples)", r, c.name,
				pct(res.fromSend, 50), pct(res.fromSend, 99), pct(res.fromSend, 100), len(res.fromSend))
		}
	}

	report := renderReport(o, chosen, resA, resB, url, enginePID != 0, runA, runB)
	fmt.Print(report)
	if o.out != "" {
		if err := os.WriteFile(o.out, []byte(report), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func rotate(cs []contender, n int) []contender {
	n %= len(cs)
	return append(slices.Clone(cs[n:]), cs[:n]...)
}

// procCPU is the user+system CPU time of pid from /proc/pid/stat (clock ticks of 10 ms).
func procCPU(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// quiet makes a contender wait until the long polls of the one stopped before it have expired
// in the engine. A client that goes away leaves its pending fetchAndLock in the engine's
// FetchAndLockHandlerImpl until asyncResponseTimeout, and that handler re-runs every pending
// request (one query each) whenever a task is created or a long poll arrives: a dead poll
// would tax the next contender (32 of them after raw-loops).
type quiet struct {
	async    time.Duration
	lastStop time.Time
}

func (q *quiet) wait(ctx context.Context) {
	if q.lastStop.IsZero() {
		return
	}
	d := time.Until(q.lastStop.Add(q.async + 500*time.Millisecond))
	if d <= 0 {
		return
	}
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
}

func (q *quiet) stopped() { q.lastStop = time.Now() }

// startMany starts n instances of key with the given concurrency.
func startMany(ctx context.Context, api *benchEngine, key string, n, conc int) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, conc)
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if _, err := api.start(ctx, key); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// drain is scenario A for one contender: fill the topic, then time the worker emptying it.
func drain(ctx context.Context, q *quiet, api *benchEngine, env benchEnv, c contender, topic, key string, n, starters int, cpu func(int) time.Duration, enginePID int) (result, error) {
	res := result{contender: c.name}
	t0 := time.Now()
	if err := startMany(ctx, api, key, n, starters); err != nil {
		return res, fmt.Errorf("start instances: %w", err)
	}
	if got, err := api.count(ctx, topic); err != nil || got != n {
		return res, fmt.Errorf("expected %d open tasks on %s, engine says %d (%v)", n, topic, got, err)
	}
	logf("%s: started %d instances in %v", topic, n, time.Since(t0).Round(time.Millisecond))
	q.wait(ctx)
	rec := newRecorder(n)
	w, err := c.prepare(ctx, env, topic, rec)
	if err != nil {
		return res, err
	}
	defer q.stopped()
	time.Sleep(500 * time.Millisecond) // let the engine settle after the starts
	wCPU, eCPU := cpu(w.pid()), cpu(enginePID)
	begin := time.Now()
	if err := w.begin(); err != nil {
		w.stop()
		return res, err
	}
	select {
	case <-rec.done:
	case <-time.After(5 * time.Minute):
		w.stop()
		return res, fmt.Errorf("%s: only %d of %d completions after 5 min", c.name, rec.completed, n)
	case <-ctx.Done():
		w.stop()
		return res, ctx.Err()
	}
	res.workerCPU, res.engineCPU = cpu(w.pid())-wCPU, cpu(enginePID)-eCPU
	w.stop()
	rec.mu.Lock()
	res.elapsed = rec.last.Sub(begin)
	res.firstPickup = rec.first.Sub(begin)
	res.fetches, res.fetched, res.errors, res.dups = rec.fetches, rec.fetched, rec.errors, rec.dupStarts
	starts := len(rec.starts)
	rec.mu.Unlock()
	if starts != n {
		return res, fmt.Errorf("%s: %d distinct handler starts for %d tasks", c.name, starts, n)
	}
	if left, err := api.count(ctx, topic); err != nil || left != 0 {
		return res, fmt.Errorf("%s: %d tasks left on %s after all completions (%v)", c.name, left, topic, err)
	}
	return res, nil
}

// trickle is scenario B for one contender: the worker idles in its long poll; instances are
// started one at a time at rate per second.
func trickle(ctx context.Context, q *quiet, api *benchEngine, env benchEnv, c contender, topic, key string, n int, rate float64, cpu func(int) time.Duration, enginePID int) (result, error) {
	res := result{contender: c.name}
	q.wait(ctx)
	rec := newRecorder(n)
	w, err := c.prepare(ctx, env, topic, rec)
	if err != nil {
		return res, err
	}
	defer q.stopped()
	defer w.stop()
	if err := w.begin(); err != nil {
		return res, err
	}
	time.Sleep(2 * time.Second) // the worker is idle in its long poll now
	wCPU, eCPU := cpu(w.pid()), cpu(enginePID)
	sent := make(map[string]time.Time, n)
	returned := make(map[string]time.Time, n)
	period := time.Duration(float64(time.Second) / rate)
	t0 := time.Now()
	for i := range n {
		if d := time.Until(t0.Add(time.Duration(i) * period)); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return res, ctx.Err()
			}
		}
		s := time.Now()
		id, err := api.start(ctx, key)
		r := time.Now()
		if err != nil {
			return res, fmt.Errorf("start instance: %w", err)
		}
		sent[id], returned[id] = s, r
	}
	select {
	case <-rec.done:
	case <-time.After(time.Minute):
		return res, fmt.Errorf("%s: only %d of %d completions a minute after the last start", c.name, rec.completed, n)
	case <-ctx.Done():
		return res, ctx.Err()
	}
	res.workerCPU, res.engineCPU = cpu(w.pid())-wCPU, cpu(enginePID)-eCPU
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for id, s := range sent {
		st, ok := rec.starts[id]
		if !ok {
			return res, fmt.Errorf("%s: no handler start reported for instance %s", c.name, id)
		}
		res.fromSend = append(res.fromSend, st.Sub(s))
		res.fromReturn = append(res.fromReturn, st.Sub(returned[id]))
		res.startCall = append(res.startCall, returned[id].Sub(s))
	}
	res.fetches, res.fetched, res.errors, res.dups = rec.fetches, rec.fetched, rec.errors, rec.dupStarts
	return res, nil
}

// pct is the p-th percentile (nearest rank) of ds; 100 is the maximum.
func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	i = max(0, min(i, len(s)-1))
	return s[i]
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }

func renderReport(o options, chosen []contender, resA, resB []result, url string, ownEngine, runA, runB bool) string {
	var b strings.Builder
	host, _ := os.Hostname()
	fmt.Fprintf(&b, "\n### Run %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	extra := ""
	if o.scenarios != "a,b" {
		extra += " -scenarios " + o.scenarios
	}
	if o.only != defaultContenders {
		extra += " -contenders " + o.only
	}
	fmt.Fprintf(&b, "`go run ./bench/worker -instances %d -parallel %d -trickle %d -rate %g -rounds %d -warmup %d -async %s -node-interval %d%s`  \n",
		o.instances, o.parallel, o.trickle, o.rate, o.rounds, o.warmup, o.async, o.nodeInterval, extra)
	engine := url
	if ownEngine {
		engine = "camunda-dev.jar (Camunda 7.24, H2 in memory) started by the command, JVM `" + o.javaOpts + "`"
	}
	fmt.Fprintf(&b, "Host %s: %d CPUs, %s; engine: %s.\n\n", host, runtime.NumCPU(), runtime.Version(), engine)

	tps := map[string][]float64{}
	for _, r := range resA {
		tps[r.contender] = append(tps[r.contender], float64(o.instances)/r.elapsed.Seconds())
	}
	med := map[string]float64{}
	for _, c := range chosen {
		med[c.name] = median(tps[c.name])
	}
	rawBest, rawBestName := 0.0, ""
	for name, v := range med {
		if strings.HasPrefix(name, "raw-") && v > rawBest {
			rawBest, rawBestName = v, name
		}
	}

	if runA {
		fmt.Fprintf(&b, "**Scenario A: drain %d queued tasks, P=%d** (tasks/s = %d / (last completion accepted − worker start); median of %d rounds)\n\n", o.instances, o.parallel, o.instances, o.rounds)
		b.WriteString("| contender | tasks/s (median) | per round | ours / this | first pickup ms (median) | tasks per non-empty fetch | worker CPU ms/task | engine CPU ms/task |\n")
		b.WriteString("|---|---:|---|---:|---:|---:|---:|---:|\n")
		for _, c := range chosen {
			var rounds []string
			var first, wcpu, ecpu []float64
			fetches, fetched := 0, 0
			for _, r := range resA {
				if r.contender != c.name {
					continue
				}
				rounds = append(rounds, fmt.Sprintf("%.0f", float64(o.instances)/r.elapsed.Seconds()))
				first = append(first, float64(r.firstPickup)/float64(time.Millisecond))
				wcpu = append(wcpu, float64(r.workerCPU)/float64(time.Millisecond)/float64(o.instances))
				ecpu = append(ecpu, float64(r.engineCPU)/float64(time.Millisecond)/float64(o.instances))
				fetches += r.fetches
				fetched += r.fetched
			}
			ratio := "—"
			if c.name != "ours" && med[c.name] > 0 && med["ours"] > 0 {
				ratio = fmt.Sprintf("%.2f", med["ours"]/med[c.name])
			}
			ecpuS := "n/a"
			if ownEngine {
				ecpuS = fmt.Sprintf("%.2f", median(ecpu))
			}
			fmt.Fprintf(&b, "| %s | %.0f | %s | %s | %.0f | %.1f | %.3f | %s |\n", c.name, med[c.name], strings.Join(rounds, ", "), ratio,
				median(first), float64(fetched)/math.Max(1, float64(fetches)), median(wcpu), ecpuS)
		}
		if med["ours"] > 0 {
			b.WriteString("\n")
			if med["node"] > 0 {
				fmt.Fprintf(&b, "- ours / node = **%.2f** (target ≥ 1.00)\n", med["ours"]/med["node"])
			}
			if rawBest > 0 {
				fmt.Fprintf(&b, "- ours / best raw loop (%s) = **%.2f** (target ≥ 0.90)\n", rawBestName, med["ours"]/rawBest)
			}
		}

	}
	if runB {
		fmt.Fprintf(&b, "\n**Scenario B: pickup latency, idle worker in a %s long poll, %g starts/s, %d per round × %d rounds pooled** (ms from the driver sending the start request to the handler starting; \"from answer\" counts from the start call's answer instead)\n\n", o.async, o.rate, o.trickle, o.rounds)
		b.WriteString("| contender | samples | p50 | p90 | p99 | max | from answer p50 / p90 / p99 | start call p50 / p99 | ours p50 / this p50 |\n")
		b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		p50 := map[string]time.Duration{}
		pooled := map[string][3][]time.Duration{}
		for _, r := range resB {
			p := pooled[r.contender]
			p[0] = append(p[0], r.fromSend...)
			p[1] = append(p[1], r.fromReturn...)
			p[2] = append(p[2], r.startCall...)
			pooled[r.contender] = p
		}
		for _, c := range chosen {
			p50[c.name] = pct(pooled[c.name][0], 50)
		}
		for _, c := range chosen {
			p := pooled[c.name]
			ratio := "—"
			if c.name != "ours" && p50[c.name] > 0 {
				ratio = fmt.Sprintf("%.2f", float64(p50["ours"])/float64(p50[c.name]))
			}
			fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s | %s | %s | %s |\n", c.name, len(p[0]), ms(pct(p[0], 50)), ms(pct(p[0], 90)), ms(pct(p[0], 99)), ms(pct(p[0], 100)),
				ms(pct(p[1], 50))+" / "+ms(pct(p[1], 90))+" / "+ms(pct(p[1], 99)), ms(pct(p[2], 50))+" / "+ms(pct(p[2], 99)), ratio)
		}
		if _, ok := p50["ours"]; ok {
			fmt.Fprintf(&b, "\n- ours p50 = **%s ms** (target ≤ 20 ms)\n", ms(p50["ours"]))
		}
	}
	errs := 0
	for _, r := range append(slices.Clone(resA), resB...) {
		errs += r.errors + r.dups
	}
	fmt.Fprintf(&b, "- fetch/report errors and duplicate handler starts over the run: %d\n", errs)
	return b.String()
}
