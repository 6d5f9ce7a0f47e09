package repo

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The start protocol and the heartbeats, over the dialect's Executor.

// BeginStart inserts the row with start claim 1 unless it exists; see Starts. When the insert
// finds a row, the row is read; when the read finds nothing the row was deleted in between
// (retention), and the insert runs again.
func (s *SQLStore) BeginStart(ctx context.Context, id, key string, lease time.Duration) (StartState, bool, error) {
	if err := checkBegin(id, key, lease); err != nil {
		return StartState{}, false, err
	}
	st, created, err := s.begin(ctx, id, key, lease)
	if err != nil {
		return StartState{}, false, fmt.Errorf("begin start %s: %w", id, err)
	}
	return st, created, nil
}

func (s *SQLStore) begin(ctx context.Context, id, key string, lease time.Duration) (StartState, bool, error) {
	type begun struct {
		st      StartState
		created bool
	}
	for range maxAttempts {
		b, err := retry(ctx, s.d.Retry, true, func(ctx context.Context) (begun, error) {
			st, created, err := s.exec.BeginStart(ctx, id, s.owner, key, lease)
			return begun{st, created}, err
		})
		if err != nil {
			return StartState{}, false, err
		}
		if b.created {
			return b.st, true, nil
		}
		st, err := s.readStart(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		return st, false, err
	}
	return StartState{}, false, errors.New("the row kept disappearing between the insert and the read")
}

// ReadStart returns the row with its start columns; see Starts.
func (s *SQLStore) ReadStart(ctx context.Context, id string) (StartState, error) {
	if err := ValidateID(id); err != nil {
		return StartState{}, fmt.Errorf("read start: %w", err)
	}
	st, err := s.readStart(ctx, id)
	if err != nil {
		return StartState{}, fmt.Errorf("read start %s: %w", id, err)
	}
	return st, nil
}

func (s *SQLStore) readStart(ctx context.Context, id string) (StartState, error) {
	return retry(ctx, s.d.Retry, false, func(ctx context.Context) (StartState, error) {
		return s.exec.ReadStart(ctx, id)
	})
}

// ClaimStart takes an expired start claim over; see Starts.
func (s *SQLStore) ClaimStart(ctx context.Context, id string, attempt int64, lease time.Duration) (bool, error) {
	if err := checkClaim(id, attempt, lease); err != nil {
		return false, err
	}
	ok, err := retry(ctx, s.d.Retry, false, func(ctx context.Context) (bool, error) {
		return s.exec.ClaimStart(ctx, id, s.owner, attempt, lease)
	})
	if err != nil {
		return false, fmt.Errorf("claim start %s (attempt %d): %w", id, attempt, err)
	}
	return ok, nil
}

// ReleaseStart ends a start claim now; see Starts.
func (s *SQLStore) ReleaseStart(ctx context.Context, id string, attempt int64) (bool, error) {
	if err := checkClaim(id, attempt, time.Millisecond); err != nil {
		return false, err
	}
	ok, err := retry(ctx, s.d.Retry, false, func(ctx context.Context) (bool, error) {
		return s.exec.ReleaseStart(ctx, id, attempt)
	})
	if err != nil {
		return false, fmt.Errorf("release start %s (attempt %d): %w", id, attempt, err)
	}
	return ok, nil
}

// SetInstance records the first instance id; see Starts. When the guarded update records
// nothing and cannot tell which instance the row holds, the row is read. A row that holds
// none at the read did not exist at the update and was inserted since, so the update runs
// again.
func (s *SQLStore) SetInstance(ctx context.Context, id, instanceID string) (string, error) {
	if err := checkSetInstance(id, instanceID); err != nil {
		return "", err
	}
	got, err := s.setInstance(ctx, id, instanceID)
	if err != nil {
		return "", fmt.Errorf("set instance of %s: %w", id, err)
	}
	return got, nil
}

func (s *SQLStore) setInstance(ctx context.Context, id, instanceID string) (string, error) {
	for range maxAttempts {
		got, err := retry(ctx, s.d.Retry, false, func(ctx context.Context) (string, error) {
			return s.exec.SetInstance(ctx, id, instanceID)
		})
		if err != nil || got != "" {
			return got, err
		}
		st, err := s.readStart(ctx, id)
		if err != nil {
			return "", err
		}
		if st.ProcessInstanceID != "" {
			return st.ProcessInstanceID, nil
		}
	}
	return "", errors.New("the row kept holding no instance while the guarded update matched nothing")
}

// Beat records worker's heartbeat; see Heartbeats.
func (s *SQLStore) Beat(ctx context.Context, worker string) error {
	if err := ValidateInstanceID("worker id", worker); err != nil {
		return fmt.Errorf("beat: %w", err)
	}
	_, err := retry(ctx, s.d.Retry, true, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, s.exec.Beat(ctx, worker)
	})
	if err != nil {
		return fmt.Errorf("beat %s: %w", worker, err)
	}
	return nil
}

// Workers lists the heartbeat rows; see Heartbeats.
func (s *SQLStore) Workers(ctx context.Context) ([]WorkerBeat, error) {
	out, err := retry(ctx, s.d.Retry, false, s.exec.Workers)
	if err != nil {
		return nil, fmt.Errorf("workers: %w", err)
	}
	return out, nil
}

// ForgetWorker deletes a stale heartbeat row; see Heartbeats.
func (s *SQLStore) ForgetWorker(ctx context.Context, worker string, olderThan time.Duration) (bool, error) {
	if err := checkForget(worker, olderThan); err != nil {
		return false, err
	}
	ok, err := retry(ctx, s.d.Retry, false, func(ctx context.Context) (bool, error) {
		return s.exec.ForgetWorker(ctx, worker, olderThan)
	})
	if err != nil {
		return false, fmt.Errorf("forget worker %s: %w", worker, err)
	}
	return ok, nil
}
