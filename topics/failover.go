package topics

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"time"

	"go.uber.org/zap"

	"github.com/camunda-waitroom/camunda-waitroom/internal/logging"
)

// Heartbeats is what Failover needs of the database: the replicas' liveness record. The
// daemon adapts its store (repo.Heartbeats) to it.
type Heartbeats interface {
	// Beat records that worker is alive now.
	Beat(ctx context.Context, worker string) error
	// Workers lists every worker that has beaten, with the age of its last beat.
	Workers(ctx context.Context) ([]WorkerBeat, error)
	// ForgetWorker deletes worker's record when its last beat is older than olderThan,
	// reporting whether it did.
	ForgetWorker(ctx context.Context, worker string, olderThan time.Duration) (bool, error)
}

// WorkerBeat is one replica's last heartbeat.
type WorkerBeat struct {
	// WorkerID is the replica's engine worker id.
	WorkerID string
	// Age is the time since its last beat, by the database clock.
	Age time.Duration
}

// Failover makes a killed replica cost seconds instead of a lock duration. Every replica
// beats into the database each failover.heartbeatInterval; a replica whose last beat is
// failover.deadAfter old is dead, and one survivor (the live replica with the smallest worker
// id, so replicas do not unlock the same tasks twice) lists the engine tasks locked by the
// dead worker id and unlocks them. An unlock wakes the long polls waiting on that engine
// node, so a survivor's poll gets the tasks at once.
//
// The dead replica's last long poll stays queued in the engine until its
// asyncResponseTimeout (the engine does not notice that the client is gone) and may lock new
// tasks for the dead worker meanwhile, so the survivor keeps sweeping that worker id for
// asyncResponseTimeout plus a margin before it forgets it.
//
// A replica that is only slow (a long pause, a database it cannot reach) and misses deadAfter
// loses its tasks: the engine then refuses its completions and lock extensions (400: the lock
// is gone or someone else's), the runtime drops those outcomes, and the tasks run again
// elsewhere. Handlers run at least once in any case. A replica sweeps only after its own
// beats have succeeded for deadAfter, so a replica coming back from a database outage does
// not take every peer for dead.
type Failover struct {
	eng       *engine
	ownHC     bool
	hb        Heartbeats
	self      string
	interval  time.Duration
	deadAfter time.Duration
	sweepFor  time.Duration
	clock     Clock
	metrics   Metrics
	log       *zap.Logger

	healthySince time.Time // first beat of the current run of successful beats; zero after a failure
	failing      bool      // in a failure streak (logged once)
	announced    map[string]bool
}

// NewFailover builds the failover loop for worker cam.WorkerID. Zero fields of cam and fo take
// their defaults. opts may set the HTTP client, clock and metrics as for New.
func NewFailover(cam Options, fo FailoverOptions, hb Heartbeats, log *zap.Logger, opts ...Option) (*Failover, error) {
	if hb == nil {
		return nil, errors.New("topics: failover needs the heartbeat store")
	}
	cam, fo = cam.WithDefaults(), fo.WithDefaults()
	if err := cam.validate(); err != nil {
		return nil, err
	}
	if err := fo.validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	o := options{clock: realClock{}, metrics: NopMetrics{}}
	for _, opt := range opts {
		opt(&o)
	}
	hc := o.httpClient
	own := hc == nil
	if own {
		var err error
		if hc, err = newHTTPClient(cam, o.transport); err != nil {
			return nil, err
		}
	}
	return &Failover{
		eng: newEngine(cam, hc), ownHC: own, hb: hb, self: cam.WorkerID,
		interval: fo.HeartbeatInterval, deadAfter: fo.DeadAfter,
		sweepFor: cam.AsyncResponseTimeout + 10*time.Second,
		clock:    o.clock, metrics: o.metrics, announced: map[string]bool{},
		log: logging.Component(log, "failover").With(logging.WorkerID(cam.WorkerID)),
	}, nil
}

// Run beats and sweeps every heartbeat interval until ctx ends, then deletes this replica's
// heartbeat row (a clean stop: its runtime has handed its tasks back). Cancel ctx only after
// the runtime has stopped, so the replica beats while its handlers drain.
func (f *Failover) Run(ctx context.Context) error {
	f.log.Info("failover running", zap.Duration("heartbeat_interval", f.interval), zap.Duration("dead_after", f.deadAfter))
	for {
		f.tick(ctx)
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second) // within the daemon's stop deadline
			defer cancel()
			if _, err := f.hb.ForgetWorker(fctx, f.self, 0); err != nil {
				f.log.Warn("could not delete this replica's heartbeat; peers sweep it once it is stale", logging.Err(err))
			}
			if f.ownHC {
				f.eng.hc.CloseIdleConnections()
			}
			return nil
		case <-f.clock.After(f.interval):
		}
	}
}

// tick is one beat and, when this replica is the sweeper, one sweep.
func (f *Failover) tick(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, max(f.interval, time.Second))
	defer cancel()
	now := f.clock.Now()
	if err := f.hb.Beat(cctx, f.self); err != nil {
		if !f.failing && ctx.Err() == nil {
			f.log.Warn("heartbeat failed; peers may take this replica for dead if it lasts (repeats not logged)", logging.Err(err))
		}
		f.failing, f.healthySince = true, time.Time{}
		return
	}
	if f.failing {
		f.log.Info("heartbeat written again")
	}
	f.failing = false
	if f.healthySince.IsZero() {
		f.healthySince = now
	}
	if now.Sub(f.healthySince) < f.deadAfter {
		return // our own beats were missing until lately: do not judge others yet
	}
	ws, err := f.hb.Workers(cctx)
	if err != nil {
		f.log.Debug("list heartbeats", logging.Err(err))
		return
	}
	if !f.sweeper(ws) {
		return
	}
	for _, w := range ws {
		switch {
		case w.WorkerID == f.self || w.Age < f.deadAfter:
		case w.Age <= f.deadAfter+f.sweepFor:
			f.sweep(ctx, w)
		default:
			if ok, err := f.hb.ForgetWorker(cctx, w.WorkerID, f.deadAfter+f.sweepFor); err == nil && ok {
				delete(f.announced, w.WorkerID)
				f.log.Info("forgot a dead replica after sweeping it", logging.WorkerID(w.WorkerID))
			}
		}
	}
}

// sweeper reports whether this replica is the live one with the smallest worker id.
func (f *Failover) sweeper(ws []WorkerBeat) bool {
	var live []string
	for _, w := range ws {
		if w.Age < f.deadAfter || w.WorkerID == f.self {
			live = append(live, w.WorkerID)
		}
	}
	sort.Strings(live)
	return len(live) > 0 && live[0] == f.self
}

// sweep unlocks every engine task locked by the dead worker w.
func (f *Failover) sweep(ctx context.Context, w WorkerBeat) {
	log := f.log.With(zap.String("dead_worker_id", w.WorkerID))
	var locked []struct {
		ID        string `json:"id"`
		TopicName string `json:"topicName"`
	}
	q := "/external-task?locked=true&workerId=" + url.QueryEscape(w.WorkerID)
	if err := f.eng.do(ctx, "list tasks of a dead replica", http.MethodGet, q, f.eng.reqTO, nil, "", &locked); err != nil {
		log.Warn("cannot list the tasks of a dead replica; they unlock when their locks expire", logging.Err(err))
		return
	}
	if !f.announced[w.WorkerID] {
		f.announced[w.WorkerID] = true
		log.Warn("replica's heartbeat stopped: unlocking its engine tasks", zap.Duration("last_beat_age", w.Age), zap.Int("tasks", len(locked)))
	}
	n := 0
	for _, t := range locked {
		// The list and the unlock are not atomic: if the dead worker's lock expired in
		// between and a live worker fetched the task, this unlock takes it from that worker,
		// whose completion the engine then refuses; the task runs again (at least once).
		if err := f.eng.unlock(ctx, t.ID); err != nil && !errors.Is(err, ErrTaskGone) {
			log.Warn("unlock a dead replica's task", logging.Topic(t.TopicName), logging.TaskID(t.ID), logging.Err(err))
			continue
		}
		n++
		f.metrics.TaskUnlocked(t.TopicName)
	}
	if n > 0 {
		log.Info("unlocked a dead replica's tasks", zap.Int("tasks", n))
	}
}
