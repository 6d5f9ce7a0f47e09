package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/repo/internal/storeutil"
)

// BeginStart inserts the row with start claim 1 unless it exists; see repo.Starts.
func (s *Store) BeginStart(ctx context.Context, id, key string, lease time.Duration) (repo.StartState, bool, error) {
	if err := storeutil.CheckBegin(id, key, lease); err != nil {
		return repo.StartState{}, false, err
	}
	st, created, err := storeutil.Begin(ctx,
		func(ctx context.Context) (repo.StartState, bool, error) {
			st, err := scanStart(s.db.QueryRowContext(ctx, sqlBeginStart, id, s.owner, key, lease.Milliseconds()))
			if errors.Is(err, sql.ErrNoRows) {
				return repo.StartState{}, false, nil
			}
			return st, err == nil, err
		},
		func(ctx context.Context) (repo.StartState, error) { return s.readStart(ctx, id) })
	if err != nil {
		return repo.StartState{}, false, fmt.Errorf("begin start %s: %w", id, err)
	}
	return st, created, nil
}

// ReadStart returns the row with its start columns; see repo.Starts.
func (s *Store) ReadStart(ctx context.Context, id string) (repo.StartState, error) {
	if err := repo.ValidateID(id); err != nil {
		return repo.StartState{}, fmt.Errorf("read start: %w", err)
	}
	st, err := s.readStart(ctx, id)
	if err != nil {
		return repo.StartState{}, fmt.Errorf("read start %s: %w", id, err)
	}
	return st, nil
}

func (s *Store) readStart(ctx context.Context, id string) (repo.StartState, error) {
	st, err := scanStart(s.db.QueryRowContext(ctx, sqlReadStart, id))
	if errors.Is(err, sql.ErrNoRows) {
		return repo.StartState{}, repo.ErrNotFound
	}
	return st, err
}

// ClaimStart takes an expired start claim over; see repo.Starts.
func (s *Store) ClaimStart(ctx context.Context, id string, attempt int64, lease time.Duration) (bool, error) {
	if err := storeutil.CheckClaim(id, attempt, lease); err != nil {
		return false, err
	}
	n, err := s.exec(ctx, sqlClaimStart, id, attempt, lease.Milliseconds(), s.owner)
	if err != nil {
		return false, fmt.Errorf("claim start %s (attempt %d): %w", id, attempt, err)
	}
	return n == 1, nil
}

// ReleaseStart ends a start claim now; see repo.Starts.
func (s *Store) ReleaseStart(ctx context.Context, id string, attempt int64) (bool, error) {
	if err := storeutil.CheckClaim(id, attempt, time.Millisecond); err != nil {
		return false, err
	}
	n, err := s.exec(ctx, sqlReleaseStart, id, attempt)
	if err != nil {
		return false, fmt.Errorf("release start %s (attempt %d): %w", id, attempt, err)
	}
	return n == 1, nil
}

// SetInstance records the first instance id; see repo.Starts.
func (s *Store) SetInstance(ctx context.Context, id, instanceID string) (string, error) {
	if err := storeutil.CheckSetInstance(id, instanceID); err != nil {
		return "", err
	}
	got, err := storeutil.SetInstance(ctx,
		func(ctx context.Context) (bool, error) {
			var v string
			err := s.db.QueryRowContext(ctx, sqlSetInstance, id, instanceID).Scan(&v)
			if errors.Is(err, sql.ErrNoRows) {
				return false, nil
			}
			return err == nil, err
		},
		func(ctx context.Context) (string, error) {
			var v string
			err := s.db.QueryRowContext(ctx, sqlInstanceOf, id).Scan(&v)
			if errors.Is(err, sql.ErrNoRows) {
				return "", repo.ErrNotFound
			}
			return v, err
		}, instanceID)
	if err != nil {
		return "", fmt.Errorf("set instance of %s: %w", id, err)
	}
	return got, nil
}

// Beat records worker's heartbeat; see repo.Heartbeats.
func (s *Store) Beat(ctx context.Context, worker string) error {
	if err := repo.ValidateInstanceID("worker id", worker); err != nil {
		return fmt.Errorf("beat: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, sqlBeat, worker); err != nil {
		return fmt.Errorf("beat %s: %w", worker, err)
	}
	return nil
}

// Workers lists the heartbeat rows; see repo.Heartbeats.
func (s *Store) Workers(ctx context.Context) ([]repo.WorkerBeat, error) {
	rows, err := s.db.QueryContext(ctx, sqlWorkers)
	if err != nil {
		return nil, fmt.Errorf("workers: %w", err)
	}
	out, err := storeutil.ScanBeats(rows)
	if err != nil {
		return nil, fmt.Errorf("workers: %w", err)
	}
	return out, nil
}

// ForgetWorker deletes a stale heartbeat row; see repo.Heartbeats.
func (s *Store) ForgetWorker(ctx context.Context, worker string, olderThan time.Duration) (bool, error) {
	if err := storeutil.CheckForget(worker, olderThan); err != nil {
		return false, err
	}
	n, err := s.exec(ctx, sqlForgetWorker, worker, olderThan.Milliseconds())
	if err != nil {
		return false, fmt.Errorf("forget worker %s: %w", worker, err)
	}
	return n == 1, nil
}

func scanStart(row interface{ Scan(...any) error }) (repo.StartState, error) {
	var (
		st                      repo.StartState
		status                  string
		payload, errBody, owner sql.NullString
		key, instance           sql.NullString
		leftMS                  int64
	)
	if err := row.Scan(&st.CorrelationID, &status, &payload, &errBody, &owner, &st.StartedAt, &st.UpdatedAt,
		&key, &instance, &st.Attempt, &leftMS); err != nil {
		return repo.StartState{}, err
	}
	st.Status = repo.Status(status)
	st.Payload = storeutil.RawOrNil(payload)
	st.Error = storeutil.RawOrNil(errBody)
	st.Owner, st.ProcessKey, st.ProcessInstanceID = owner.String, key.String, instance.String
	st.StartedAt, st.UpdatedAt = st.StartedAt.UTC(), st.UpdatedAt.UTC()
	st.LeaseLeft = time.Duration(leftMS) * time.Millisecond
	return st, nil
}
