package breaker

import (
	"context"
	"time"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
)

// The start protocol and heartbeat calls, behind the same circuit as the rest.

func (b *Store) BeginStart(ctx context.Context, id, key string, lease time.Duration) (st repo.StartState, created bool, err error) {
	err = b.do(func() (e error) { st, created, e = b.s.BeginStart(ctx, id, key, lease); return })
	return
}

func (b *Store) ReadStart(ctx context.Context, id string) (st repo.StartState, err error) {
	err = b.do(func() (e error) { st, e = b.s.ReadStart(ctx, id); return })
	return
}

func (b *Store) ClaimStart(ctx context.Context, id string, attempt int64, lease time.Duration) (ok bool, err error) {
	err = b.do(func() (e error) { ok, e = b.s.ClaimStart(ctx, id, attempt, lease); return })
	return
}

func (b *Store) ReleaseStart(ctx context.Context, id string, attempt int64) (ok bool, err error) {
	err = b.do(func() (e error) { ok, e = b.s.ReleaseStart(ctx, id, attempt); return })
	return
}

func (b *Store) SetInstance(ctx context.Context, id, instanceID string) (got string, err error) {
	err = b.do(func() (e error) { got, e = b.s.SetInstance(ctx, id, instanceID); return })
	return
}

func (b *Store) Beat(ctx context.Context, worker string) error {
	return b.do(func() error { return b.s.Beat(ctx, worker) })
}

func (b *Store) Workers(ctx context.Context) (ws []repo.WorkerBeat, err error) {
	err = b.do(func() (e error) { ws, e = b.s.Workers(ctx); return })
	return
}

func (b *Store) ForgetWorker(ctx context.Context, worker string, olderThan time.Duration) (ok bool, err error) {
	err = b.do(func() (e error) { ok, e = b.s.ForgetWorker(ctx, worker, olderThan); return })
	return
}
