package waitroom

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
)

// Listener is a store's push path: it tells the Room of rows other processes finished, so
// waiters wake without waiting for the next poll, and carries this Room's own completions to
// the Rooms of other processes. A Room uses its store's when the store implements Listener
// and SupportsListener reports true, unless Options.PollOnly is set; otherwise it polls at
// Options.PollInterval. repo/postgres has one (LISTEN/NOTIFY); a store wrapped with repo.Wrap
// passes its inner store's through.
type Listener interface {
	// SupportsListener reports whether the store can listen and publish.
	SupportsListener() bool
	// Listen holds the push connection until ctx ends, reconnecting as it must. It calls
	// notify for each notification, live(true, nil) each time notifications flow, and
	// live(false, err) each time they stop (err nil when ctx ended); never concurrently.
	Listen(ctx context.Context, notify func(repo.Notification), live func(up bool, err error))
	// Publish sends a completion this process made, with its body, to the other processes'
	// listeners; best effort: a failure costs them one read.
	Publish(ctx context.Context, n repo.Notification) error
}

// listenerOf returns store's push path, or nil when it has none.
func listenerOf(store repo.Store) Listener {
	if l, ok := store.(Listener); ok && l.SupportsListener() {
		return l
	}
	return nil
}

// listen runs the store's listener until ctx ends. While it is down the Room polls every
// cfg.PollInterval; failures are logged once per streak.
func (r *Room) listen(ctx context.Context) {
	failing := false
	r.listener.Listen(ctx, r.onNotification, func(up bool, err error) {
		switch {
		case up:
			failing = false
			r.log.Info("waitroom: listening for notifications")
		case err != nil && !failing && ctx.Err() == nil:
			failing = true
			r.log.Warn("waitroom: notification listener failed; polling every poll interval until it is back",
				zap.Duration("poll_interval", r.cfg.PollInterval), zap.NamedError("err", err))
		}
		r.setListening(up)
	})
}

func (r *Room) setListening(up bool) {
	if r.listening.Swap(up) == up {
		return
	}
	select {
	case r.stateCh <- struct{}{}:
	default:
	}
}

// onNotification handles one notification: one with a result wakes waiters at once; an id
// alone marks an awaited id for a read after the grace.
func (r *Room) onNotification(n repo.Notification) {
	if n.Status.Finished() {
		rec := repo.Record{CorrelationID: n.ID, Status: n.Status, UpdatedAt: r.now()}
		if n.Status == repo.StatusError {
			rec.Error = n.Body
		} else {
			rec.Payload = n.Body
		}
		r.wake(rec, WakeNotify)
		return
	}
	r.mu.Lock()
	_, awaited := r.waiting[n.ID]
	if awaited {
		if _, ok := r.notified[n.ID]; !ok {
			r.notified[n.ID] = time.Now()
		}
	}
	r.mu.Unlock()
	if awaited {
		r.signal()
	}
}

// publish sends a completion this Room made to the other processes' Rooms. A failure is
// logged once per streak, and recovery once.
func (r *Room) publish(ctx context.Context, rec repo.Record) {
	n := repo.Notification{ID: rec.CorrelationID, Status: rec.Status, Body: rec.Payload}
	if rec.Status == repo.StatusError {
		n.Body = rec.Error
	}
	if err := r.listener.Publish(ctx, n); err != nil {
		if r.pubFailing.CompareAndSwap(false, true) {
			r.log.Warn("waitroom: publishing a completion failed; other processes will read the row",
				zap.NamedError("err", err))
		}
		return
	}
	if r.pubFailing.CompareAndSwap(true, false) {
		r.log.Info("waitroom: publishing completions recovered")
	}
}
