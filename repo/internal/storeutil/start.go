package storeutil

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
)

// CheckBegin validates BeginStart's arguments.
func CheckBegin(id, key string, lease time.Duration) error {
	if err := repo.ValidateID(id); err != nil {
		return fmt.Errorf("begin start: %w", err)
	}
	if err := repo.ValidateProcessKey(key); err != nil {
		return fmt.Errorf("begin start %s: %w", id, err)
	}
	if err := repo.ValidateLease("lease", lease, false); err != nil {
		return fmt.Errorf("begin start %s: %w", id, err)
	}
	return nil
}

// CheckClaim validates the arguments of ClaimStart and ReleaseStart.
func CheckClaim(id string, attempt int64, lease time.Duration) error {
	if err := repo.ValidateID(id); err != nil {
		return fmt.Errorf("start claim: %w", err)
	}
	if attempt < 0 {
		return fmt.Errorf("start claim %s: %w: attempt %d is negative", id, repo.ErrInvalidArgument, attempt)
	}
	if err := repo.ValidateLease("lease", lease, false); err != nil {
		return fmt.Errorf("start claim %s: %w", id, err)
	}
	return nil
}

// CheckSetInstance validates SetInstance's arguments.
func CheckSetInstance(id, instanceID string) error {
	if err := repo.ValidateID(id); err != nil {
		return fmt.Errorf("set instance: %w", err)
	}
	if err := repo.ValidateInstanceID("process instance id", instanceID); err != nil {
		return fmt.Errorf("set instance of %s: %w", id, err)
	}
	return nil
}

// CheckForget validates ForgetWorker's arguments.
func CheckForget(worker string, olderThan time.Duration) error {
	if err := repo.ValidateInstanceID("worker id", worker); err != nil {
		return fmt.Errorf("forget worker: %w", err)
	}
	if err := repo.ValidateLease("olderThan", olderThan, true); err != nil {
		return fmt.Errorf("forget worker %s: %w", worker, err)
	}
	return nil
}

// Begin runs BeginStart's insert-if-absent, which returns the row only when it inserted it,
// and otherwise reads the existing row. When the read finds nothing the row was deleted in
// between (retention), and the insert runs again.
func Begin(ctx context.Context, insert func(context.Context) (repo.StartState, bool, error),
	read func(context.Context) (repo.StartState, error)) (repo.StartState, bool, error) {
	for range maxAttempts {
		st, created, err := insert(ctx)
		if err != nil {
			return repo.StartState{}, false, err
		}
		if created {
			return st, true, nil
		}
		st, err = read(ctx)
		if errors.Is(err, repo.ErrNotFound) {
			continue
		}
		return st, false, err
	}
	return repo.StartState{}, false, errors.New("the row kept disappearing between the insert and the read")
}

// SetInstance runs SetInstance's guarded update (process_instance_id IS NULL) and, when it
// matched nothing, reads the instance the row holds. A row that holds none at the read lost
// its instance to nobody: it did not exist at the update and was inserted since, so the
// update runs again.
func SetInstance(ctx context.Context, update func(context.Context) (bool, error),
	read func(context.Context) (string, error), instanceID string) (string, error) {
	for range maxAttempts {
		ok, err := update(ctx)
		if err != nil {
			return "", err
		}
		if ok {
			return instanceID, nil
		}
		got, err := read(ctx)
		if err != nil {
			return "", err
		}
		if got != "" {
			return got, nil
		}
	}
	return "", errors.New("the row kept holding no instance while the guarded update matched nothing")
}

// ScanBeats reads rows of (worker_id, age in ms) and closes them.
func ScanBeats(rows *sql.Rows) ([]repo.WorkerBeat, error) {
	defer rows.Close()
	var out []repo.WorkerBeat
	for rows.Next() {
		var b repo.WorkerBeat
		var ms int64
		if err := rows.Scan(&b.WorkerID, &ms); err != nil {
			return nil, err
		}
		b.Age = time.Duration(max(ms, 0)) * time.Millisecond
		out = append(out, b)
	}
	return out, rows.Err()
}

// RawOrNil turns a nullable JSON column into a json.RawMessage, nil for NULL.
func RawOrNil(s sql.NullString) json.RawMessage {
	if !s.Valid {
		return nil
	}
	return json.RawMessage(s.String)
}
