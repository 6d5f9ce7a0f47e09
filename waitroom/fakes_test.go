package waitroom

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
)

// memStore is an in-memory repo.Store for the dispatcher's unit tests (the real stores are
// tested in room_db_test.go). Only the methods the Room uses do anything.
type memStore struct {
	repo.Store // nil: unused methods panic
	mu         sync.Mutex
	owner      string
	rows       map[string]repo.Record
}

func newMemStore() *memStore { return &memStore{owner: "me", rows: map[string]repo.Record{}} }

func (m *memStore) Create(_ context.Context, id string) (repo.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, ok := m.rows[id]
	if ok && rec.Status.Finished() {
		return rec, nil
	}
	if !ok {
		rec = repo.Record{CorrelationID: id, Status: repo.StatusPending, StartedAt: time.Now()}
	}
	rec.Owner, rec.UpdatedAt = m.owner, time.Now()
	m.rows[id] = rec
	return rec, nil
}

func (m *memStore) finish(id string, st repo.Status, body json.RawMessage) (repo.Outcome, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, ok := m.rows[id]
	switch {
	case !ok:
		return repo.NotFound, nil
	case rec.Status.Finished():
		return repo.AlreadyFinished, nil
	}
	rec.Status, rec.UpdatedAt = st, time.Now()
	if st == repo.StatusDone {
		rec.Payload = body
	} else {
		rec.Error = body
	}
	m.rows[id] = rec
	return repo.Transitioned, nil
}

func (m *memStore) Complete(_ context.Context, id string, p json.RawMessage) (repo.Outcome, error) {
	return m.finish(id, repo.StatusDone, p)
}

func (m *memStore) Fail(_ context.Context, id string, b json.RawMessage) (repo.Outcome, error) {
	return m.finish(id, repo.StatusError, b)
}

func (m *memStore) InsertFinished(_ context.Context, id string, st repo.Status, b json.RawMessage) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.rows[id]; ok {
		return false, nil
	}
	rec := repo.Record{CorrelationID: id, Status: st, UpdatedAt: time.Now()}
	if st == repo.StatusDone {
		rec.Payload = b
	} else {
		rec.Error = b
	}
	m.rows[id] = rec
	return true, nil
}

func (m *memStore) Find(_ context.Context, id string) (repo.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, ok := m.rows[id]
	if !ok {
		return repo.Record{}, fmt.Errorf("find %s: %w", id, repo.ErrNotFound)
	}
	return rec, nil
}

func (m *memStore) Statuses(ctx context.Context, ids []string) ([]repo.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []repo.Record
	for _, id := range ids {
		if rec, ok := m.rows[id]; ok {
			out = append(out, rec)
		}
	}
	return out, ctx.Err()
}

func (m *memStore) PendingCount(context.Context) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	for _, r := range m.rows {
		if r.Status == repo.StatusPending {
			n++
		}
	}
	return n, nil
}

func (m *memStore) ClearOwned(_ context.Context, body json.RawMessage) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	for id, r := range m.rows {
		if r.Status == repo.StatusPending && r.Owner == m.owner {
			r.Status, r.Error, r.UpdatedAt = repo.StatusError, body, time.Now()
			m.rows[id] = r
			n++
		}
	}
	return n, nil
}

// spyStore wraps a store: it counts Statuses calls and chunks, and fails reads while down.
type spyStore struct {
	repo.Store
	statuses   atomic.Int64 // Statuses calls
	statements atomic.Int64 // statements those calls cost (one per chunk)
	down       atomic.Bool
}

var errDown = errors.New("spy: database down")

func (s *spyStore) Statuses(ctx context.Context, ids []string) ([]repo.Record, error) {
	s.statuses.Add(1)
	s.statements.Add(int64((len(ids) + repo.StatusesChunkSize - 1) / repo.StatusesChunkSize))
	if s.down.Load() {
		return nil, errDown
	}
	return s.Store.Statuses(ctx, ids)
}

// The spy passes its store's listener through, as repo.Wrap does.

func (s *spyStore) SupportsListener() bool { return listenerOf(s.Store) != nil }

func (s *spyStore) Listen(ctx context.Context, notify func(repo.Notification), live func(bool, error)) {
	listenerOf(s.Store).Listen(ctx, notify, live)
}

func (s *spyStore) Publish(ctx context.Context, n repo.Notification) error {
	return listenerOf(s.Store).Publish(ctx, n)
}
