package waitroom

import (
	"context"
	"math/rand/v2"
	"time"

	"go.uber.org/zap"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
)

// dispatch is the Room's one reader. While nobody waits it blocks without querying. While
// someone waits it runs, each in one batched Store.Statuses call:
//   - a sweep of every awaited id every Options.PollInterval, or every Options.NotifyPollInterval
//     while the listener is up (the safety net for dropped notifications), and at once after
//     it (re)connects, since notifications may have been missed while it was down;
//   - with the listener up, a read of ids notified without a body (after the grace that lets a body
//     notification arrive first), and of ids whose first waiter came since the last read (on
//     the fast cadence, so a row finished before its wait began is seen soon).
func (r *Room) dispatch(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var nextSweep, freshDue time.Time
	for {
		now := time.Now()
		listening := r.listening.Load()
		r.mu.Lock()
		active := r.count > 0
		hasFresh := len(r.fresh) > 0
		var notifyDue time.Time
		for _, at := range r.notified {
			due := at
			if !at.IsZero() {
				due = at.Add(r.grace)
			}
			if notifyDue.IsZero() || due.Before(notifyDue) {
				notifyDue = due
			}
		}
		hasNotified := len(r.notified) > 0
		r.mu.Unlock()

		if !active {
			nextSweep, freshDue = time.Time{}, time.Time{}
			select {
			case <-ctx.Done():
				return
			case <-r.kick:
			case <-r.stateCh:
			}
			continue
		}
		if nextSweep.IsZero() {
			nextSweep = now.Add(jitter(r.interval(listening)))
		}
		switch {
		case !hasFresh || !listening:
			freshDue = time.Time{}
		case freshDue.IsZero():
			freshDue = now.Add(jitter(r.cfg.PollInterval))
		}
		due := nextSweep
		if !freshDue.IsZero() && freshDue.Before(due) {
			due = freshDue
		}
		if hasNotified && notifyDue.Before(due) {
			due = notifyDue
		}

		if !now.Before(due) {
			if !now.Before(nextSweep) {
				r.sweep(ctx)
				// Keep the cadence (the sweep's own duration does not stretch the period),
				// but leave the database at least half an interval between sweeps.
				iv := r.interval(r.listening.Load())
				nextSweep = nextSweep.Add(jitter(iv))
				if earliest := time.Now().Add(iv / 2); nextSweep.Before(earliest) {
					nextSweep = earliest
				}
				freshDue = time.Time{}
				continue
			}
			takeFresh := !freshDue.IsZero() && !now.Before(freshDue)
			ids, src := r.takeDue(now, takeFresh)
			if takeFresh {
				freshDue = time.Time{}
			}
			if len(ids) > 0 {
				r.read(ctx, ids, src)
			}
			continue
		}

		timer.Reset(due.Sub(now))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-r.kick:
		case <-r.stateCh:
			now := time.Now()
			if r.listening.Load() {
				nextSweep = now // notifications may have been missed: sweep at once
			} else if p := now.Add(jitter(r.cfg.PollInterval)); p.Before(nextSweep) {
				nextSweep = p
			}
		}
		timer.Stop()
	}
}

// interval is the period of the sweep: Options.PollInterval, or Options.NotifyPollInterval while
// the listener is up, per chunk of repo.StatusesChunkSize awaited ids. Statuses sends one statement
// per chunk, so the sweep costs at most one statement per interval however many wait (25/s at
// the default 40 ms): past 2,000 waiters in one process the sweep slows instead of the
// database paying more.
func (r *Room) interval(listening bool) time.Duration {
	d := r.cfg.PollInterval
	if listening {
		d = r.cfg.NotifyPollInterval
	}
	r.mu.Lock()
	n := len(r.waiting)
	r.mu.Unlock()
	if chunks := (n + repo.StatusesChunkSize - 1) / repo.StatusesChunkSize; chunks > 1 {
		d *= time.Duration(chunks)
	}
	return d
}

// jitter spreads d by ±10% so replicas do not poll in step.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.9 + 0.2*rand.Float64()))
}

// sweep reads every awaited id.
func (r *Room) sweep(ctx context.Context) {
	r.mu.Lock()
	ids := make([]string, 0, len(r.waiting))
	for id := range r.waiting {
		ids = append(ids, id)
	}
	clear(r.fresh)
	clear(r.notified)
	r.mu.Unlock()
	if len(ids) > 0 {
		r.read(ctx, ids, WakePoll)
	}
}

// takeDue removes and returns the notified ids once the earliest one's grace has passed (all
// of them: one read for the batch, so at high completion rates reads stay at most one per
// grace period), and the fresh ids when takeFresh.
func (r *Room) takeDue(now time.Time, takeFresh bool) ([]string, WakeSource) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []string
	src := WakePoll
	due := false
	for _, at := range r.notified {
		if at.IsZero() || !now.Before(at.Add(r.grace)) {
			due = true
			break
		}
	}
	if due {
		for id := range r.notified {
			ids = append(ids, id)
			delete(r.fresh, id)
		}
		clear(r.notified)
		src = WakeNotify
	}
	if takeFresh {
		for id := range r.fresh {
			ids = append(ids, id)
		}
		clear(r.fresh)
	}
	return ids, src
}

// read reads ids in one Statuses call on the Room's context (never a waiter's) and wakes the
// waiters of finished rows. A failure is logged once per failure streak; the ids are read
// again by the next sweep.
func (r *Room) read(ctx context.Context, ids []string, src WakeSource) {
	qctx, cancel := context.WithTimeout(ctx, r.queryTimeout)
	recs, err := r.store.Statuses(qctx, ids)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		if r.pollFailing.CompareAndSwap(false, true) {
			r.log.Warn("waitroom: reading statuses failed; waiters keep waiting, retrying every poll",
				zap.Int("ids", len(ids)), zap.NamedError("err", err))
		}
		return
	}
	if r.pollFailing.CompareAndSwap(true, false) {
		r.log.Info("waitroom: reading statuses recovered")
	}
	for _, rec := range recs {
		if rec.Status.Finished() {
			r.wake(rec, src)
		}
	}
}
