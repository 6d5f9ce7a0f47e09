// Package retention keeps process_store from growing forever: it deletes finished rows older
// than a retention period and marks PENDING rows older than a maximum age ERROR ("expired"),
// in small batches. Every replica may run it at once: each statement takes a bounded batch and
// the stores skip rows another replica holds (SKIP LOCKED / READPAST), so replicas share the
// work instead of blocking each other.
package retention

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"go.uber.org/zap"

	"github.com/camunda-waitroom/camunda-waitroom/config"
	"github.com/camunda-waitroom/camunda-waitroom/internal/logging"
	"github.com/camunda-waitroom/camunda-waitroom/repo"
)

// Store is what retention needs of the process_store.
type Store interface {
	DeleteFinishedBefore(ctx context.Context, cutoff time.Time, batch int) (int64, error)
	ExpirePendingBefore(ctx context.Context, cutoff time.Time, batch int, errBody json.RawMessage) (int64, error)
}

// maxBatchesPerPass bounds one pass so a huge backlog is worked off over several intervals
// instead of one long burst of statements.
const maxBatchesPerPass = 100

// Job is the retention job.
type Job struct {
	store Store
	cfg   config.Retention
	log   *zap.Logger
	now   func() time.Time
}

// New creates the job.
func New(store Store, cfg config.Retention, log *zap.Logger) *Job {
	return &Job{store: store, cfg: cfg, log: log, now: time.Now}
}

// Result is what one pass did.
type Result struct {
	Deleted int64
	Expired int64
}

// ExpiredBody is the error_json written into expired rows.
func (j *Job) ExpiredBody() json.RawMessage {
	b, _ := json.Marshal(map[string]string{
		"error":   "expired",
		"message": fmt.Sprintf("no result within retention.pendingAfter (%s)", j.cfg.PendingAfter),
	})
	return b
}

// RunOnce runs one pass: expire old PENDING rows, then delete old finished rows, each in
// batches until a batch comes back short. The cutoffs use this host's clock against the
// database's timestamps; at retention periods of hours or days, clock skew does not matter.
func (j *Job) RunOnce(ctx context.Context) (Result, error) {
	var res Result
	now := j.now()
	body := j.ExpiredBody()
	for i := 0; i < maxBatchesPerPass; i++ {
		n, err := j.store.ExpirePendingBefore(ctx, now.Add(-j.cfg.PendingAfter), j.cfg.Batch, body)
		res.Expired += n
		if err != nil {
			return res, fmt.Errorf("expire pending rows: %w", err)
		}
		if n < int64(j.cfg.Batch) {
			break
		}
	}
	for i := 0; i < maxBatchesPerPass; i++ {
		n, err := j.store.DeleteFinishedBefore(ctx, now.Add(-j.cfg.FinishedAfter), j.cfg.Batch)
		res.Deleted += n
		if err != nil {
			return res, fmt.Errorf("delete finished rows: %w", err)
		}
		if n < int64(j.cfg.Batch) {
			break
		}
	}
	return res, nil
}

// Run runs a pass every interval (with jitter, so replicas spread out) until ctx ends. A
// failing pass is logged once per failure streak and retried at the next interval.
func (j *Job) Run(ctx context.Context) error {
	failing := false
	for {
		d := j.cfg.Interval/2 + time.Duration(rand.Int64N(int64(j.cfg.Interval)))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(d):
		}
		res, err := j.RunOnce(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return nil
		case err != nil:
			if !failing {
				j.log.Warn("retention pass failed; retrying every interval", logging.Err(err))
			}
			failing = true
		default:
			if failing {
				j.log.Info("retention recovered")
			}
			failing = false
			if res.Deleted > 0 || res.Expired > 0 {
				j.log.Info("retention pass", zap.Int64("deleted", res.Deleted), zap.Int64("expired", res.Expired))
			}
		}
	}
}

var _ Store = repo.Store(nil)
