package metrics

import (
	"context"
	"time"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
)

// The start protocol and heartbeat calls, counted like the rest.

func (c *countingStore) BeginStart(ctx context.Context, id, key string, lease time.Duration) (repo.StartState, bool, error) {
	start := time.Now()
	st, created, err := c.s.BeginStart(ctx, id, key, lease)
	c.observe("begin_start", start, err)
	return st, created, err
}

func (c *countingStore) ReadStart(ctx context.Context, id string) (repo.StartState, error) {
	start := time.Now()
	st, err := c.s.ReadStart(ctx, id)
	c.observe("read_start", start, err)
	return st, err
}

func (c *countingStore) ClaimStart(ctx context.Context, id string, attempt int64, lease time.Duration) (bool, error) {
	start := time.Now()
	ok, err := c.s.ClaimStart(ctx, id, attempt, lease)
	c.observe("claim_start", start, err)
	return ok, err
}

func (c *countingStore) ReleaseStart(ctx context.Context, id string, attempt int64) (bool, error) {
	start := time.Now()
	ok, err := c.s.ReleaseStart(ctx, id, attempt)
	c.observe("release_start", start, err)
	return ok, err
}

func (c *countingStore) SetInstance(ctx context.Context, id, instanceID string) (string, error) {
	start := time.Now()
	got, err := c.s.SetInstance(ctx, id, instanceID)
	c.observe("set_instance", start, err)
	return got, err
}

func (c *countingStore) Beat(ctx context.Context, worker string) error {
	start := time.Now()
	err := c.s.Beat(ctx, worker)
	c.observe("beat", start, err)
	return err
}

func (c *countingStore) Workers(ctx context.Context) ([]repo.WorkerBeat, error) {
	start := time.Now()
	ws, err := c.s.Workers(ctx)
	c.observe("workers", start, err)
	return ws, err
}

func (c *countingStore) ForgetWorker(ctx context.Context, worker string, olderThan time.Duration) (bool, error) {
	start := time.Now()
	ok, err := c.s.ForgetWorker(ctx, worker, olderThan)
	c.observe("forget_worker", start, err)
	return ok, err
}
