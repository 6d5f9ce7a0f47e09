package topics

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/cenkalti/backoff/v5"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/camunda-waitroom/camunda-waitroom/internal/logging"
)

// handler: at start, tasks an earlier life of this replica held when it died; at stop, tasks
// whose fetch answer was lost when a long poll was aborted (the engine may lock them just as
// the request is cancelled). They go back to the queue now instead of after their lock
// duration.
func (r *Runtime) unlockOrphans(ctx context.Context) {
	if len(r.subs) == 0 {
		return
	}
	var locked []lockedTask
	q := "/external-task?locked=true&workerId=" + url.QueryEscape(r.cfg.WorkerID)
	if err := r.eng.do(ctx, "list locked tasks", http.MethodGet, q, 0, nil, "", &locked); err != nil {
		r.log.Warn("cannot list tasks still locked by this worker; they unlock when their locks expire", logging.Err(err))
		return
	}
	idle := locked[:0]
	for _, t := range locked {
		r.runningMu.Lock()
		_, busy := r.running[t.ID]
		r.runningMu.Unlock()
		if !busy {
			idle = append(idle, t)
		}
	}
	r.unlockAll(ctx, idle)
}

// unlockAll hands tasks back to the engine, unlockParallelism at a time, each call within
// requestTimeout and ctx. Failures are logged: the task's lock then runs out by itself.
func (r *Runtime) unlockAll(ctx context.Context, tasks []lockedTask) {
	var g errgroup.Group
	g.SetLimit(unlockParallelism)
	for _, lt := range tasks {
		g.Go(func() error {
			r.unlockUnstarted(ctx, lt)
			return nil
		})
	}
	_ = g.Wait()
}

// saturatedPollTimeout bounds a long poll that leaves out a full topic: that topic must not
// wait a whole asyncResponseTimeout for its next poll once a slot frees. Aborting the poll
// instead could lose tasks the engine locks just as the request is cancelled.
const saturatedPollTimeout = time.Second

// plan reserves handler slots for one poll and builds its request. Per topic the allowance is
// min(maxTasks, free slots); a topic without a free slot is left out. The engine has only a
// request-wide maxTasks, so it is the smallest allowance: whatever topics the tasks come
// from, none gets more than its free slots. That many slots are reserved on every topic
// polled; release gives back what the answer did not use. ok is false when no topic has a
// free slot.
func (g *group) plan(workerID string, async time.Duration) (req fetchRequest, reserved map[*sub]int, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	maxTasks := 0
	var included []*sub
	saturated := false
	for _, s := range g.subs {
		allow := min(s.cfg.MaxTasks, s.cfg.MaxParallel-s.active)
		if allow <= 0 {
			saturated = true
			continue
		}
		included = append(included, s)
		if maxTasks == 0 || allow < maxTasks {
			maxTasks = allow
		}
	}
	if len(included) == 0 {
		return fetchRequest{}, nil, false
	}
	if saturated {
		async = min(async, saturatedPollTimeout)
	}
	req = fetchRequest{
		WorkerID: workerID, MaxTasks: maxTasks, UsePriority: g.usePriority,
		AsyncResponseTimeout: async.Milliseconds(), Sorting: sortingFor(g.sorting),
	}
	reserved = make(map[*sub]int, len(included))
	for _, s := range included {
		s.active += maxTasks
		reserved[s] = maxTasks
		req.Topics = append(req.Topics, buildTopic(s.cfg))
	}
	return req, reserved, true
}

// release gives back n slots of s and wakes a poller waiting for one.
func (g *group) release(s *sub, n int) {
	if n <= 0 {
		return
	}
	g.mu.Lock()
	s.active -= n
	g.mu.Unlock()
	select {
	case g.freed <- struct{}{}:
	default:
	}
}

// pollLoop is one group's fetch-and-lock loop. ctx stops it from starting polls; pollCtx
// carries the requests (cancelled later than ctx unless AbortPolls).
func (r *Runtime) pollLoop(ctx, pollCtx context.Context, g *group) {
	bo := &backoff.ExponentialBackOff{
		InitialInterval: r.cfg.PollBackoff.Initial, RandomizationFactor: 0.2, Multiplier: 2,
		MaxInterval: r.cfg.PollBackoff.Max,
	}
	if bo.InitialInterval <= 0 {
		bo.InitialInterval = time.Second
	}
	if bo.MaxInterval < bo.InitialInterval {
		bo.MaxInterval = 30 * time.Second
	}
	bo.Reset()
	var st streak
	// probe: ask the engine cheaply whether it answers (at start and after a connection
	// problem or 5xx), so Ready turns true without waiting out a long poll. Not after a 4xx:
	// the engine answers then, and the poll itself tells when the problem is gone.
	probe := true
	topicNames := make([]string, len(g.subs))
	for i, s := range g.subs {
		topicNames[i] = s.cfg.Name
	}
	log := r.log.With(zap.Strings("topics", topicNames))

	for ctx.Err() == nil {
		if probe {
			v, err := r.eng.version(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				r.pollFailed(log, &st, err)
				if !r.sleep(ctx, bo.NextBackOff()) {
					return
				}
				continue
			}
			r.engineAnswered(v)
			r.setReady(nil)
			probe = false
		}
		req, reserved, ok := g.plan(r.cfg.WorkerID, r.cfg.AsyncResponseTimeout)
		if !ok {
			select {
			case <-g.freed:
			case <-ctx.Done():
				return
			}
			continue
		}
		locked, err := r.eng.fetchAndLock(pollCtx, req)
		if err != nil {
			for s, n := range reserved {
				g.release(s, n)
			}
			if ctx.Err() != nil || pollCtx.Err() != nil {
				return
			}
			probe = retryable(err)
			r.pollFailed(log, &st, err)
			if !r.sleep(ctx, bo.NextBackOff()) {
				return
			}
			continue
		}
		r.pollRecovered(log, &st)
		bo.Reset()
		r.dispatch(ctx, g, reserved, locked)
	}
}

// dispatch starts a handler per fetched task on the slots reserved for it, gives back unused
// reservations, and unlocks tasks it cannot start (shutdown began, or more than reserved).
func (r *Runtime) dispatch(ctx context.Context, g *group, reserved map[*sub]int, locked []lockedTask) {
	used := map[*sub]int{}
	counts := map[string]int{}
	var unstarted []lockedTask
	defer func() { r.unlockAll(r.reportBase, unstarted) }()
	for _, lt := range locked {
		s := r.subs[lt.TopicName]
		if s == nil || used[s] >= reserved[s] || ctx.Err() != nil {
			unstarted = append(unstarted, lt)
			continue
		}
		used[s]++
		counts[lt.TopicName]++
		t := lt.task().withFiles(r.hc, r.cfg.Engine.URL)
		r.runningMu.Lock()
		r.running[t.ID] = t.Topic
		r.runningMu.Unlock()
		r.handlers.Add(1)
		go func() {
			defer r.handlers.Done()
			defer g.release(s, 1)
			defer func() {
				r.runningMu.Lock()
				delete(r.running, t.ID)
				r.runningMu.Unlock()
			}()
			r.work(s, t)
		}()
	}
	for s, n := range reserved {
		g.release(s, n-used[s])
	}
	for topic, n := range counts {
		r.metrics.TasksFetched(topic, n)
	}
}

// unlockUnstarted unlocks one task that no handler ran, within requestTimeout and ctx (which
// the stop cancels at its deadline).
func (r *Runtime) unlockUnstarted(ctx context.Context, lt lockedTask) {
	ctx, cancel := context.WithTimeout(ctx, r.eng.reqTO)
	defer cancel()
	log := r.log.With(logging.Topic(lt.TopicName), logging.TaskID(lt.ID))
	if err := r.eng.unlock(ctx, lt.ID); err != nil && !errors.Is(err, ErrTaskGone) {
		log.Warn("unlock task fetched but not started; it unlocks when its lock expires", logging.Err(err))
		return
	}
	r.metrics.TaskUnlocked(lt.TopicName)
	log.Info("unlocked task fetched but not started")
}

func (r *Runtime) sleep(ctx context.Context, d time.Duration) bool {
	if d == backoff.Stop || d <= 0 {
		d = time.Second
	}
	select {
	case <-r.clock.After(d):
		return true
	case <-ctx.Done():
		return false
	}
}

// redactURL hides the credentials a URL may carry (auth belongs in Options.Engine.Auth, but a
// URL may still have some): its user info and its query.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(an unparsable URL)"
	}
	if u.User != nil {
		u.User = url.User("redacted")
	}
	if u.RawQuery != "" {
		u.RawQuery = "redacted"
	}
	return u.String()
}

// streak collapses identical consecutive poll errors into one log line.
type streak struct {
	last  string
	count int
	since time.Time
}

func (r *Runtime) pollFailed(log *zap.Logger, st *streak, err error) {
	r.metrics.FetchError()
	r.setReady(fmt.Errorf("%w: engine at %s: %w", ErrNotReady, redactURL(r.cfg.Engine.URL), err))
	msg := err.Error()
	if st.count == 0 {
		st.since = r.clock.Now()
	}
	st.count++
	if msg == st.last {
		log.Debug("poll failed again", logging.Err(err), zap.Int("failures", st.count))
		return
	}
	st.last = msg
	log.Warn("poll failed; retrying with backoff (repeats of this error are not logged)", logging.Err(err), zap.Int("failures", st.count))
}

func (r *Runtime) pollRecovered(log *zap.Logger, st *streak) {
	r.setReady(nil)
	if st.count > 0 {
		log.Info("engine reachable again", zap.Int("failures", st.count), zap.Duration("outage", r.clock.Now().Sub(st.since)))
	}
	*st = streak{}
}
