package repo

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// The operation names Wrap passes to interceptors: the Store method, in snake_case. The
// daemon's metrics use them as the op label, so they never change.
const (
	OpCreate               = "create"
	OpComplete             = "complete"
	OpFail                 = "fail"
	OpInsertFinished       = "insert_finished"
	OpFind                 = "find"
	OpStatuses             = "statuses"
	OpList                 = "list"
	OpDelete               = "delete"
	OpPendingCount         = "pending_count"
	OpClearOwned           = "clear_owned"
	OpDeleteFinishedBefore = "delete_finished_before"
	OpExpirePendingBefore  = "expire_pending_before"
	OpPing                 = "ping"
	OpBeginStart           = "begin_start"
	OpReadStart            = "read_start"
	OpClaimStart           = "claim_start"
	OpReleaseStart         = "release_start"
	OpSetInstance          = "set_instance"
	OpBeat                 = "beat"
	OpWorkers              = "workers"
	OpForgetWorker         = "forget_worker"
)

// Interceptor runs around one Store call: op names it (OpCreate, ...) and call runs it (with
// the interceptors inside this one). It returns call's error, or an error of its own without
// calling (a circuit breaker refusing); it may pass call a context of its own. When it does
// not call, the method's other results are their zero values.
type Interceptor func(ctx context.Context, op string, call func(context.Context) error) error

// Wrap returns s with every call but Close running through interceptors, the first outermost:
// Wrap(s, breaker, metrics) has the breaker refuse a call before metrics counts it. This is
// the one decorator of the Store contract, written once over all its methods: cross-cutting
// concerns are Interceptors, not hand-written wrappers of every method.
//
// A store's push path (SupportsListener, Listen, Publish; see package waitroom) passes
// through untouched: it holds connections of its own and makes no store calls.
func Wrap(s Store, interceptors ...Interceptor) Store {
	w := &wrapped{s: s}
	w.call = func(ctx context.Context, _ string, call func(context.Context) error) error { return call(ctx) }
	for i := len(interceptors) - 1; i >= 0; i-- {
		ic, inner := interceptors[i], w.call
		w.call = func(ctx context.Context, op string, call func(context.Context) error) error {
			return ic(ctx, op, func(ctx context.Context) error { return inner(ctx, op, call) })
		}
	}
	return w
}

type wrapped struct {
	s    Store
	call Interceptor
}

// pushPath is the push path of a store that has one (repo/postgres), which wrapped forwards.
type pushPath interface {
	SupportsListener() bool
	Listen(ctx context.Context, notify func(Notification), live func(up bool, err error))
	Publish(ctx context.Context, n Notification) error
}

func (w *wrapped) SupportsListener() bool {
	p, ok := w.s.(pushPath)
	return ok && p.SupportsListener()
}

func (w *wrapped) Listen(ctx context.Context, notify func(Notification), live func(up bool, err error)) {
	if p, ok := w.s.(pushPath); ok {
		p.Listen(ctx, notify, live)
	}
}

func (w *wrapped) Publish(ctx context.Context, n Notification) error {
	if p, ok := w.s.(pushPath); ok {
		return p.Publish(ctx, n)
	}
	return errors.New("repo: the wrapped store has no listener to publish on")
}

func (w *wrapped) Create(ctx context.Context, id string) (r Record, err error) {
	err = w.call(ctx, OpCreate, func(ctx context.Context) (e error) { r, e = w.s.Create(ctx, id); return })
	return
}

func (w *wrapped) Complete(ctx context.Context, id string, payload json.RawMessage) (o Outcome, err error) {
	err = w.call(ctx, OpComplete, func(ctx context.Context) (e error) { o, e = w.s.Complete(ctx, id, payload); return })
	return
}

func (w *wrapped) Fail(ctx context.Context, id string, errBody json.RawMessage) (o Outcome, err error) {
	err = w.call(ctx, OpFail, func(ctx context.Context) (e error) { o, e = w.s.Fail(ctx, id, errBody); return })
	return
}

func (w *wrapped) InsertFinished(ctx context.Context, id string, status Status, body json.RawMessage) (ok bool, err error) {
	err = w.call(ctx, OpInsertFinished, func(ctx context.Context) (e error) { ok, e = w.s.InsertFinished(ctx, id, status, body); return })
	return
}

func (w *wrapped) Find(ctx context.Context, id string) (r Record, err error) {
	err = w.call(ctx, OpFind, func(ctx context.Context) (e error) { r, e = w.s.Find(ctx, id); return })
	return
}

func (w *wrapped) Statuses(ctx context.Context, ids []string) (rs []Record, err error) {
	err = w.call(ctx, OpStatuses, func(ctx context.Context) (e error) { rs, e = w.s.Statuses(ctx, ids); return })
	return
}

func (w *wrapped) List(ctx context.Context, opts ListOptions) (rs []Record, next string, err error) {
	err = w.call(ctx, OpList, func(ctx context.Context) (e error) { rs, next, e = w.s.List(ctx, opts); return })
	return
}

func (w *wrapped) Delete(ctx context.Context, id string) (ok bool, err error) {
	err = w.call(ctx, OpDelete, func(ctx context.Context) (e error) { ok, e = w.s.Delete(ctx, id); return })
	return
}

func (w *wrapped) PendingCount(ctx context.Context) (n int64, err error) {
	err = w.call(ctx, OpPendingCount, func(ctx context.Context) (e error) { n, e = w.s.PendingCount(ctx); return })
	return
}

func (w *wrapped) ClearOwned(ctx context.Context, errBody json.RawMessage) (n int64, err error) {
	err = w.call(ctx, OpClearOwned, func(ctx context.Context) (e error) { n, e = w.s.ClearOwned(ctx, errBody); return })
	return
}

func (w *wrapped) DeleteFinishedBefore(ctx context.Context, cutoff time.Time, batch int) (n int64, err error) {
	err = w.call(ctx, OpDeleteFinishedBefore, func(ctx context.Context) (e error) { n, e = w.s.DeleteFinishedBefore(ctx, cutoff, batch); return })
	return
}

func (w *wrapped) ExpirePendingBefore(ctx context.Context, cutoff time.Time, batch int, errBody json.RawMessage) (n int64, err error) {
	err = w.call(ctx, OpExpirePendingBefore, func(ctx context.Context) (e error) {
		n, e = w.s.ExpirePendingBefore(ctx, cutoff, batch, errBody)
		return
	})
	return
}

func (w *wrapped) Ping(ctx context.Context) error {
	return w.call(ctx, OpPing, w.s.Ping)
}

func (w *wrapped) Close() error { return w.s.Close() }

func (w *wrapped) BeginStart(ctx context.Context, id, key string, lease time.Duration) (st StartState, created bool, err error) {
	err = w.call(ctx, OpBeginStart, func(ctx context.Context) (e error) { st, created, e = w.s.BeginStart(ctx, id, key, lease); return })
	return
}

func (w *wrapped) ReadStart(ctx context.Context, id string) (st StartState, err error) {
	err = w.call(ctx, OpReadStart, func(ctx context.Context) (e error) { st, e = w.s.ReadStart(ctx, id); return })
	return
}

func (w *wrapped) ClaimStart(ctx context.Context, id string, attempt int64, lease time.Duration) (ok bool, err error) {
	err = w.call(ctx, OpClaimStart, func(ctx context.Context) (e error) { ok, e = w.s.ClaimStart(ctx, id, attempt, lease); return })
	return
}

func (w *wrapped) ReleaseStart(ctx context.Context, id string, attempt int64) (ok bool, err error) {
	err = w.call(ctx, OpReleaseStart, func(ctx context.Context) (e error) { ok, e = w.s.ReleaseStart(ctx, id, attempt); return })
	return
}

func (w *wrapped) SetInstance(ctx context.Context, id, instanceID string) (got string, err error) {
	err = w.call(ctx, OpSetInstance, func(ctx context.Context) (e error) { got, e = w.s.SetInstance(ctx, id, instanceID); return })
	return
}

func (w *wrapped) Beat(ctx context.Context, worker string) error {
	return w.call(ctx, OpBeat, func(ctx context.Context) error { return w.s.Beat(ctx, worker) })
}

func (w *wrapped) Workers(ctx context.Context) (ws []WorkerBeat, err error) {
	err = w.call(ctx, OpWorkers, func(ctx context.Context) (e error) { ws, e = w.s.Workers(ctx); return })
	return
}

func (w *wrapped) ForgetWorker(ctx context.Context, worker string, olderThan time.Duration) (ok bool, err error) {
	err = w.call(ctx, OpForgetWorker, func(ctx context.Context) (e error) { ok, e = w.s.ForgetWorker(ctx, worker, olderThan); return })
	return
}
