package repo

import (
	"fmt"
	"time"
)

// The argument checks SQLStore runs before any statement, and the id chunking of Statuses.

// checkIDs validates every id and returns them without duplicates, in first-seen order.
func checkIDs(ids []string) ([]string, error) {
	seen := make(map[string]struct{}, len(ids))
	out := make([]string, 0, len(ids))
	for i, id := range ids {
		if err := ValidateID(id); err != nil {
			return nil, fmt.Errorf("statuses: ids[%d]: %w", i, err)
		}
		if _, dup := seen[id]; dup {
			continue
		}
		seen[id] = struct{}{}
		out = append(out, id)
	}
	return out, nil
}

// chunks splits ids into consecutive slices of at most size ids (sharing ids' array).
func chunks(ids []string, size int) [][]string {
	if size <= 0 {
		panic("repo: chunks: size must be positive")
	}
	var out [][]string
	for len(ids) > size {
		out = append(out, ids[:size:size])
		ids = ids[size:]
	}
	if len(ids) > 0 {
		out = append(out, ids)
	}
	return out
}

// checkList validates opts and fills in the default limit.
func checkList(opts ListOptions) (ListOptions, error) {
	switch {
	case opts.Limit == 0:
		opts.Limit = DefaultListLimit
	case opts.Limit < 0 || opts.Limit > MaxListLimit:
		return opts, fmt.Errorf("list: %w: limit %d is out of range: use 1 to %d, or 0 for %d",
			ErrInvalidArgument, opts.Limit, MaxListLimit, DefaultListLimit)
	}
	switch opts.Status {
	case "", StatusPending, StatusDone, StatusError:
	default:
		return opts, fmt.Errorf("list: %w: status filter %q is not PENDING, DONE, ERROR or empty",
			ErrInvalidArgument, truncate(string(opts.Status)))
	}
	if opts.After != "" {
		if err := ValidateID(opts.After); err != nil {
			return opts, fmt.Errorf("list: cursor: %w", err)
		}
	}
	return opts, nil
}

// checkBatch validates the batch size of the retention operations.
func checkBatch(op string, batch int) error {
	if batch < 1 {
		return fmt.Errorf("%s: %w: batch %d: it must be at least 1", op, ErrInvalidArgument, batch)
	}
	return nil
}

// checkBegin validates BeginStart's arguments.
func checkBegin(id, key string, lease time.Duration) error {
	if err := ValidateID(id); err != nil {
		return fmt.Errorf("begin start: %w", err)
	}
	if err := ValidateProcessKey(key); err != nil {
		return fmt.Errorf("begin start %s: %w", id, err)
	}
	if err := ValidateLease("lease", lease, false); err != nil {
		return fmt.Errorf("begin start %s: %w", id, err)
	}
	return nil
}

// checkClaim validates the arguments of ClaimStart and ReleaseStart.
func checkClaim(id string, attempt int64, lease time.Duration) error {
	if err := ValidateID(id); err != nil {
		return fmt.Errorf("start claim: %w", err)
	}
	if attempt < 0 {
		return fmt.Errorf("start claim %s: %w: attempt %d is negative", id, ErrInvalidArgument, attempt)
	}
	if err := ValidateLease("lease", lease, false); err != nil {
		return fmt.Errorf("start claim %s: %w", id, err)
	}
	return nil
}

// checkSetInstance validates SetInstance's arguments.
func checkSetInstance(id, instanceID string) error {
	if err := ValidateID(id); err != nil {
		return fmt.Errorf("set instance: %w", err)
	}
	if err := ValidateInstanceID("process instance id", instanceID); err != nil {
		return fmt.Errorf("set instance of %s: %w", id, err)
	}
	return nil
}

// checkForget validates ForgetWorker's arguments.
func checkForget(worker string, olderThan time.Duration) error {
	if err := ValidateInstanceID("worker id", worker); err != nil {
		return fmt.Errorf("forget worker: %w", err)
	}
	if err := ValidateLease("olderThan", olderThan, true); err != nil {
		return fmt.Errorf("forget worker %s: %w", worker, err)
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}
