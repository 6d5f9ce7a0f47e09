package mssql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/repo/internal/storeutil"
)

// BeginStart inserts the row with start claim 1 unless it exists; see repo.Starts. It follows
// sql.go's rule 3: a duplicate key from the insert (a concurrent BeginStart won) rolled the
// batch back, and retry runs it again, which then finds the row; no row back means an id that
// differs only in case holds the key (repo.ErrIDConflict).
func (s *Store) BeginStart(ctx context.Context, id, key string, lease time.Duration) (repo.StartState, bool, error) {
	if err := storeutil.CheckBegin(id, key, lease); err != nil {
		return repo.StartState{}, false, err
	}
	type begun struct {
		st      repo.StartState
		created bool
	}
	st, created, err := storeutil.Begin(ctx,
		func(ctx context.Context) (repo.StartState, bool, error) {
			b, err := retry(ctx, s.retry, true, func() (begun, error) {
				st, created, err := scanBegin(s.db.QueryRowContext(ctx, sqlBeginStart, argsBeginStart(id, s.owner, key, lease)...))
				return begun{st, created}, err
			})
			if errors.Is(err, sql.ErrNoRows) {
				return repo.StartState{}, false, s.conflict(id)
			}
			return b.st, b.created, err
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
	st, err := retry(ctx, s.retry, false, func() (repo.StartState, error) {
		return scanStart(s.db.QueryRowContext(ctx, sqlReadStart, argsID(id)...))
	})
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
	n, err := s.count(ctx, sqlClaimStart, argsClaimStart(id, attempt, lease, s.owner)...)
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
	n, err := s.count(ctx, sqlReleaseStart, argsReleaseStart(id, attempt)...)
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
	got, err := retry(ctx, s.retry, false, func() (string, error) {
		var n int64
		var got string
		err := s.db.QueryRowContext(ctx, sqlSetInstance, argsSetInstance(id, instanceID)...).Scan(&n, &got)
		return got, err
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", fmt.Errorf("set instance of %s: %w", id, repo.ErrNotFound)
	case err != nil:
		return "", fmt.Errorf("set instance of %s: %w", id, err)
	case got == "":
		return "", fmt.Errorf("set instance of %s: the row holds no instance after the update", id)
	}
	return got, nil
}

// Beat records worker's heartbeat; see repo.Heartbeats.
func (s *Store) Beat(ctx context.Context, worker string) error {
	if err := repo.ValidateInstanceID("worker id", worker); err != nil {
		return fmt.Errorf("beat: %w", err)
	}
	_, err := retry(ctx, s.retry, true, func() (struct{}, error) {
		_, err := s.db.ExecContext(ctx, sqlBeat, argsWorker(worker)...)
		return struct{}{}, err
	})
	if err != nil {
		return fmt.Errorf("beat %s: %w", worker, err)
	}
	return nil
}

// Workers lists the heartbeat rows; see repo.Heartbeats.
func (s *Store) Workers(ctx context.Context) ([]repo.WorkerBeat, error) {
	out, err := retry(ctx, s.retry, false, func() ([]repo.WorkerBeat, error) {
		rows, err := s.db.QueryContext(ctx, sqlWorkers)
		if err != nil {
			return nil, err
		}
		return storeutil.ScanBeats(rows)
	})
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
	n, err := s.count(ctx, sqlForgetWorker, argsForgetWorker(worker, olderThan)...)
	if err != nil {
		return false, fmt.Errorf("forget worker %s: %w", worker, err)
	}
	return n == 1, nil
}

func scanBegin(row *sql.Row) (repo.StartState, bool, error) {
	var created int64
	st, err := scanStartInto(row, &created)
	return st, created == 1, err
}

func scanStart(row interface{ Scan(...any) error }) (repo.StartState, error) {
	return scanStartInto(row)
}

// scanStartInto reads startColumns, after the leading columns in lead (sqlBeginStart's
// created flag).
func scanStartInto(row interface{ Scan(...any) error }, lead ...any) (repo.StartState, error) {
	var (
		st                      repo.StartState
		status                  string
		payload, errBody, owner sql.NullString
		key, instance           sql.NullString
		started, updated        time.Time
		leftMS                  int64
	)
	dest := append(lead, &st.CorrelationID, &status, &payload, &errBody, &owner, &started, &updated,
		&key, &instance, &st.Attempt, &leftMS)
	if err := row.Scan(dest...); err != nil {
		return repo.StartState{}, err
	}
	st.Status = repo.Status(status)
	st.Payload = storeutil.RawOrNil(payload)
	st.Error = storeutil.RawOrNil(errBody)
	st.Owner, st.ProcessKey, st.ProcessInstanceID = owner.String, key.String, instance.String
	st.StartedAt, st.UpdatedAt = utcWall(started), utcWall(updated)
	st.LeaseLeft = time.Duration(max(leftMS, 0)) * time.Millisecond
	return st, nil
}
