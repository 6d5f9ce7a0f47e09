// Package retention keeps process_store from growing forever: it deletes finished rows older
// than a retention period and marks PENDING rows older than a maximum age ERROR ("expired"),
// in small batches. Every replica may run it at once: each statement takes a bounded batch and
// the stores skip rows another replica holds (SKIP LOCKED / READPAST), so replicas share the
// work instead of blocking each other.
package retention

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"go.uber.org/zap"

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

// Defaults of Options, exported so that the daemon's configuration can be tested against them.
const (
	// BatchDefault is Options.Batch when unset.
	BatchDefault = 500
	// FinishedAfterDefault is Options.FinishedAfter when unset: a week.
	FinishedAfterDefault = 7 * 24 * time.Hour
	// IntervalDefault is Options.Interval when unset.
	IntervalDefault = 5 * time.Minute
	// PendingAfterDefault is Options.PendingAfter when unset: a day.
	PendingAfterDefault = 24 * time.Hour
)

// Options configures the job. It belongs to this package so that the job does not depend on
// the daemon's configuration: the daemon maps its retention.* keys onto it. Zero fields take
// their defaults (WithDefaults).
type Options struct {
	// Batch is how many rows one statement deletes or expires; a pass repeats statements
	// until one comes back short. Defaults to BatchDefault (500).
	Batch int

	// FinishedAfter is the age after which DONE and ERROR rows are deleted. Defaults to
	// FinishedAfterDefault (168 h).
	FinishedAfter time.Duration

	// Interval is the period of the passes (each jittered between half and one and a half
	// of it, so replicas spread out). Defaults to IntervalDefault (5 min).
	Interval time.Duration

	// PendingAfter is the age after which a PENDING row is marked ERROR ("expired"): no
	// result came for it. Defaults to PendingAfterDefault (24 h).
	PendingAfter time.Duration
}

// WithDefaults returns a copy of o with every unset (zero) field set to its default.
func (o Options) WithDefaults() Options {
	if o.Batch == 0 {
		o.Batch = BatchDefault
	}
	if o.FinishedAfter == 0 {
		o.FinishedAfter = FinishedAfterDefault
	}
	if o.Interval == 0 {
		o.Interval = IntervalDefault
	}
	if o.PendingAfter == 0 {
		o.PendingAfter = PendingAfterDefault
	}
	return o
}

// validate reports the first field that cannot work, naming it. It expects WithDefaults to
// have run: what is left at or below zero was set so.
func (o Options) validate() error {
	if o.Batch < 0 {
		return fmt.Errorf("retention: Options.Batch is %d: must be positive (0 means %d)", o.Batch, BatchDefault)
	}
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"FinishedAfter", o.FinishedAfter}, {"Interval", o.Interval}, {"PendingAfter", o.PendingAfter}} {
		if f.d < 0 {
			return fmt.Errorf("retention: Options.%s is %s: must be positive (0 means its default)", f.name, f.d)
		}
	}
	return nil
}

// Job is the retention job: one pass every interval, on every replica.
type Job struct {
	store Store
	cfg   Options // after WithDefaults
	log   *zap.Logger
	now   func() time.Time
}

// New creates the job on store with opts (zero fields take their defaults). It fails, naming
// the field, when a field cannot work. A nil log logs nothing.
func New(store Store, opts Options, log *zap.Logger) (*Job, error) {
	if store == nil {
		return nil, errors.New("retention: nil store")
	}
	cfg := opts.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &Job{store: store, cfg: cfg, log: log, now: time.Now}, nil
}

// Result is what one pass did.
type Result struct {
	// Deleted counts finished rows deleted.
	Deleted int64
	// Expired counts PENDING rows marked ERROR.
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
