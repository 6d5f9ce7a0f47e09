package faultsuite_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/camunda-waitroom/camunda-waitroom/internal/httpapi"
)

// TestFaults runs the scenarios one after the other on one engine, one database and three
// replicas; each ends with the post-checks (checks_test.go).
func TestFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("the fault suite runs an engine and three worker processes: not with -short")
	}
	began := time.Now()
	h := newHarness(t)
	t.Logf("engine and 3 replicas ready in %s", time.Since(began).Round(time.Millisecond))
	for _, sc := range []struct {
		name string
		run  func(*testing.T, *harness)
	}{
		{"DuplicateStarts", duplicateStarts},
		{"KillAtEachStartPoint", killAtEachStartPoint},
		{"KillReplicaUnderLoad", killReplicaUnderLoad},
		{"EngineRestartUnderLoad", engineRestartUnderLoad},
		{"PostgresConnectionsTerminated", postgresConnectionsTerminated},
	} {
		if !t.Run(sc.name, func(t *testing.T) {
			s := time.Now()
			sc.run(t, h)
			t.Logf("%s took %s", sc.name, time.Since(s).Round(time.Millisecond))
		}) {
			return // later scenarios would only report the same breakage
		}
	}
	t.Logf("fault suite took %s", time.Since(began).Round(time.Second))
}

// duplicateStarts: 20 pairs of starts, each pair sending one new correlation id to two
// replicas at the same moment. Both answers are the same result, and the engine gets one
// instance per id.
func duplicateStarts(t *testing.T, h *harness) {
	ctx := context.Background()
	const pairs = 20
	outs := make([]outcome, 2*pairs)
	var wg sync.WaitGroup
	for i := range pairs {
		id := fmt.Sprintf("dup_pair-%d", i)
		gate := make(chan struct{})
		for j := range 2 {
			wg.Go(func() {
				<-gate
				outs[2*i+j] = h.request(ctx, id, true, i+j) // two different replicas
			})
		}
		close(gate)
	}
	wg.Wait()
	h.check(t, outs)
	for i := range pairs {
		a, b := outs[2*i], outs[2*i+1]
		if pa, pb := resultPayload(t, a), resultPayload(t, b); pa != pb {
			t.Errorf("%s: the two starts answered different results:\n%s\n%s", a.id, pa, pb)
		}
	}
}

// resultPayload is the process's payload in a 200 answer, compacted.
func resultPayload(t *testing.T, o outcome) string {
	t.Helper()
	var res struct{ Payload json.RawMessage }
	if err := json.Unmarshal(o.payload, &res); err != nil || len(res.Payload) == 0 {
		t.Fatalf("%s: answer %s has no payload (%v)", o.id, o.payload, err)
	}
	var b bytes.Buffer
	if err := json.Compact(&b, res.Payload); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// killAtEachStartPoint: a replica dies by SIGKILL at each named point of the start protocol
// while it handles a start; the client's retry on another replica gets the answer, and the
// engine has one instance. Before the row: the retry starts it. Between the row and the
// engine call: the retry waits out the lease, finds no instance and takes the start over.
// After the engine call, before recording the instance: the retry waits for the result of
// the instance that runs (its tasks are swept from the dead replica).
func killAtEachStartPoint(t *testing.T, h *harness) {
	ctx := context.Background()
	points := []string{httpapi.FaultAfterInsert, httpapi.FaultAfterEngine, httpapi.FaultBeforeInsert}
	outs := make([]outcome, len(points))
	var wg sync.WaitGroup
	for i, point := range points {
		victim := h.replicas[i]
		id := killRules[point] + "1"
		wg.Go(func() { outs[i] = h.request(ctx, id, true, i) }) // first attempt on the victim
		if !victim.waitDied(30 * time.Second) {
			t.Fatalf("replica %s did not die by SIGKILL at %s", victim.id, point)
		}
		if !victim.logged("fault: SIGKILL at " + point + " for " + id) {
			t.Fatalf("replica %s died, but not at %s:\n%s", victim.id, point, victim.tail(20))
		}
		victim.restart(t) // the retry meanwhile runs on the next replica
	}
	wg.Wait()
	h.check(t, outs)
	wantAttempt := map[string]int64{httpapi.FaultBeforeInsert: 1, httpapi.FaultAfterInsert: 2, httpapi.FaultAfterEngine: 1}
	for i, point := range points {
		o := outs[i]
		if o.connErrs == 0 {
			t.Errorf("%s: the first attempt was not cut by the kill: %v", o.id, o.codes)
		}
		var attempt int64
		var instance *string
		if err := h.admin.QueryRow(`SELECT COALESCE(start_attempt, 0), process_instance_id FROM process_store WHERE correlation_id = $1`, o.id).Scan(&attempt, &instance); err != nil {
			t.Fatal(err)
		}
		if attempt != wantAttempt[point] {
			t.Errorf("%s: start claim %d, want %d", o.id, attempt, wantAttempt[point])
		}
		t.Logf("kill at %-19s: answered %d after %s, %d attempts %v, start claim %d, instance recorded %v",
			point, o.code, o.done.Sub(o.first).Round(time.Millisecond), o.attempts, o.codes, attempt, instance != nil)
	}
}

// takeoverBound is the asserted bound on the time from the kill to the dead replica's tasks
// being handled elsewhere (see killReplicaUnderLoad).
const takeoverBound = 15 * time.Second

// failoverFigures are what killReplicaUnderLoad measures.
type failoverFigures struct {
	requests, affected, retried int
	got202                      int           // requests that needed a second wait
	takeover                    time.Duration // kill -> the last task it held is handled elsewhere
	heldAtKill                  int
	lateLocks                   int           // tasks its queued long poll locked after the kill
	lateLockHandled             time.Duration // worst such task: first seen -> handled
	killToLastAnswer            time.Duration
	p50, p99, maxLatency        time.Duration // affected requests, first attempt -> final answer
}

// killReplicaUnderLoad: twelve client loops run against the three replicas; one replica is
// killed with SIGKILL, later restarted. The tasks it held are handled by the survivors soon
// after the kill (target 10 s, asserted 15 s: see below), every request in flight (on it, or
// waiting on a process whose task it held) is answered within one wait (no 202), and the
// post-checks hold.
func killReplicaUnderLoad(t *testing.T, h *harness) {
	ctx := context.Background()
	victim := h.replicas[0]
	stop := make(chan struct{})
	collect := h.load(ctx, "kill_load", 12, stop)
	pause(ctx, 5*time.Second) // steady load before the kill (a measurement window)

	dead := victim.workerID(t)
	killAt := time.Now()
	victim.kill()
	w := watchTasks(ctx, h, dead, killAt)
	pause(ctx, 15*time.Second)
	victim.restart(t)
	pause(ctx, 3*time.Second)
	close(stop)
	outs := collect()
	fig := w.stop()
	h.check(t, outs)

	fig.requests = len(outs)
	var lat []time.Duration
	for _, o := range outs {
		if o.got202 {
			fig.got202++
			if *flagFailover {
				t.Errorf("%s answered 202 on some attempt %v: the wait ran out", o.id, o.codes)
			}
		}
		if o.first.Before(killAt) && o.done.After(killAt) {
			fig.affected++
			if o.connErrs > 0 {
				fig.retried++
			}
			lat = append(lat, o.done.Sub(o.first))
			fig.killToLastAnswer = max(fig.killToLastAnswer, o.done.Sub(killAt))
		}
	}
	fig.p50, fig.p99 = percentile(lat, 50), percentile(lat, 99)
	if len(lat) > 0 {
		fig.maxLatency = percentile(lat, 100)
	}
	t.Logf("failover: %d requests, %d in flight at the kill (%d cut on the dead replica and retried); "+
		"%d tasks held at the kill, handled elsewhere %s after it; %d locked later by its queued long poll, worst handled %s after being seen; "+
		"kill to last affected answer %s; affected latency p50 %s p99 %s max %s; %d requests needed a second wait (202)",
		fig.requests, fig.affected, fig.retried, fig.heldAtKill, fig.takeover, fig.lateLocks, fig.lateLockHandled,
		fig.killToLastAnswer, fig.p50, fig.p99, fig.maxLatency, fig.got202)
	report(t, fig)
	if fig.affected == 0 || fig.retried == 0 {
		t.Errorf("the kill hit no request in flight (%d affected, %d retried): the scenario proved nothing", fig.affected, fig.retried)
	}
	// The target is 10 s and quiet runs measure about 4 s (docs/benchmarks.md). The bound
	// asserted here is 15 s: CI runners are shared and can be busy, and a starved run
	// (its 12 client loops managed 54 requests in 23 s instead of about 700) measured 11.7 s.
	// A sweep that does not work shows the 30 s lock.
	if *flagFailover && fig.takeover > takeoverBound {
		t.Errorf("the dead replica's tasks were handled %s after the kill, want within %s (target 10s)", fig.takeover, takeoverBound)
	}
	if fig.takeover > 10*time.Second {
		t.Logf("takeover %s is over the 10 s target: was the CPU starved? (%d requests in the scenario)", fig.takeover, fig.requests)
	}
}

// taskWatch polls the engine for the tasks a dead worker holds, and when each is handled
// (completed, or locked by another worker).
type taskWatch struct {
	done chan struct{}
	wg   sync.WaitGroup
	fig  failoverFigures
}

func watchTasks(ctx context.Context, h *harness, worker string, killAt time.Time) *taskWatch {
	w := &taskWatch{done: make(chan struct{})}
	first := map[string]time.Time{} // task -> first seen locked by the dead worker
	initial := map[string]bool{}
	w.wg.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for round := 0; ; round++ {
			held, err := h.engine.ExternalTasks(ctx, url.Values{"workerId": {worker}, "locked": {"true"}})
			now := time.Now()
			if err == nil {
				still := map[string]bool{}
				for _, task := range held {
					still[task.ID] = true
					if _, seen := first[task.ID]; !seen {
						first[task.ID] = now
						if round == 0 {
							initial[task.ID] = true
						} else {
							w.fig.lateLocks++
						}
					}
				}
				for id, at := range first {
					if still[id] {
						continue
					}
					if initial[id] {
						w.fig.takeover = max(w.fig.takeover, now.Sub(killAt))
					} else {
						w.fig.lateLockHandled = max(w.fig.lateLockHandled, now.Sub(at))
					}
					delete(first, id)
				}
			}
			select {
			case <-w.done:
				w.fig.heldAtKill = len(initial)
				for id := range first { // never handled while watched
					if initial[id] {
						w.fig.takeover = max(w.fig.takeover, now.Sub(killAt))
					}
				}
				return
			case <-tick.C:
			}
		}
	})
	return w
}

func (w *taskWatch) stop() failoverFigures {
	close(w.done)
	w.wg.Wait()
	return w.fig
}

// report appends the failover figures as a Markdown table row to -faults.report.
func report(t *testing.T, f failoverFigures) {
	if *flagReport == "" {
		return
	}
	lock := "shipped"
	if *flagLock > 0 {
		lock = flagLock.String()
	}
	row := fmt.Sprintf("| failover %t, lock %s | %d | %d (%d retried) | %d | %s | %s | %s | %s | %s | %d |\n",
		*flagFailover, lock, f.requests, f.affected, f.retried, f.heldAtKill, f.takeover.Round(10*time.Millisecond),
		f.killToLastAnswer.Round(10*time.Millisecond),
		f.p50.Round(10*time.Millisecond), f.p99.Round(10*time.Millisecond), f.maxLatency.Round(10*time.Millisecond), f.got202)
	fd, err := os.OpenFile(*flagReport, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Errorf("report: %v", err)
		return
	}
	defer fd.Close()
	_, _ = fd.WriteString(row)
}

// engineRestartUnderLoad: the engine stops (SIGTERM) and starts again on its database while
// eight client loops run. Starts meanwhile answer 503 with Location and are retried; tasks
// whose completion failed are completed after the restart; everything ends answered once.
func engineRestartUnderLoad(t *testing.T, h *harness) {
	ctx := context.Background()
	stop := make(chan struct{})
	collect := h.load(ctx, "engine_restart", 8, stop)
	pause(ctx, 3*time.Second)
	began := time.Now()
	if err := h.engine.Restart(ctx); err != nil {
		t.Fatalf("restart the engine: %v", err)
	}
	down := time.Since(began)
	pause(ctx, 5*time.Second)
	close(stop)
	outs := collect()
	h.check(t, outs)
	var slowest outcome
	retried := 0
	for _, o := range outs {
		if o.done.Sub(o.first) > slowest.done.Sub(slowest.first) {
			slowest = o
		}
		if o.attempts > 1 {
			retried++
		}
	}
	t.Logf("engine down %s; %d requests, %d retried; slowest %s answered after %s, attempts %v",
		down.Round(time.Millisecond), len(outs), retried, slowest.id, slowest.done.Sub(slowest.first).Round(time.Millisecond), slowest.codes)
}

// postgresConnectionsTerminated: every PostgreSQL backend of the replicas is terminated three
// times while eight client loops run. Pools reconnect, the LISTEN connections reconnect,
// failed store calls are retried (the client's start, the engine's task retry), and nothing is
// lost or done twice.
func postgresConnectionsTerminated(t *testing.T, h *harness) {
	ctx := context.Background()
	stop := make(chan struct{})
	collect := h.load(ctx, "pg_terminate", 8, stop)
	terminated := 0
	for range 3 {
		pause(ctx, 1500*time.Millisecond)
		terminated += h.terminateBackends(t)
	}
	pause(ctx, 3*time.Second)
	close(stop)
	outs := collect()
	h.check(t, outs)
	retried := 0
	for _, o := range outs {
		if o.attempts > 1 {
			retried++
		}
	}
	if terminated == 0 {
		t.Error("no backend was terminated: the scenario proved nothing")
	}
	for _, r := range h.replicas {
		resp, err := http.Get(r.base() + "/readyz")
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("replica %s not ready after the terminations: %v", r.id, err)
		}
		if resp != nil {
			resp.Body.Close()
		}
	}
	t.Logf("%d backends terminated; %d requests, %d retried", terminated, len(outs), retried)
}
