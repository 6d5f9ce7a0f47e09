package repotest

// ClearOwned: a store clears only its own owner's PENDING rows.

import (
	"testing"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
)

func (s *suite) testClearOwned(t *testing.T) {
	a, ownerA := s.store(t, "clear")
	b, ownerB := s.store(t, "clear")
	var aPending, bPending []string
	for range 3 {
		id := s.id("clear")
		mustCreate(t, a, id)
		aPending = append(aPending, id)
	}
	bOnly := s.id("clear")
	mustCreate(t, b, bOnly)
	bPending = append(bPending, bOnly)
	aDone := s.id("clear")
	mustCreate(t, a, aDone)
	mustComplete(t, a, aDone, body(`{"done":1}`), repo.Transitioned)
	takenOver := s.id("clear") // registered by a, then by b: b owns it now
	mustCreate(t, a, takenOver)
	mustCreate(t, b, takenOver)
	bPending = append(bPending, takenOver)

	before := map[string]repo.Record{}
	for _, id := range aPending {
		before[id] = mustFind(t, a, id)
	}
	errBody := body(`{"error":"instance stopped"}`)
	n, err := a.ClearOwned(ctx(t), errBody)
	if err != nil || n != int64(len(aPending)) {
		t.Fatalf("a.ClearOwned = %d, %v; want %d", n, err, len(aPending))
	}
	for _, id := range aPending {
		rec := mustFind(t, a, id)
		checkRecord(t, rec, id, repo.StatusError, nil, errBody, ownerA)
		if !rec.UpdatedAt.After(before[id].UpdatedAt) {
			t.Errorf("%s: ClearOwned did not move updated_at", id)
		}
	}
	checkRecord(t, mustFind(t, a, aDone), aDone, repo.StatusDone, body(`{"done":1}`), nil, ownerA)
	for _, id := range bPending {
		checkRecord(t, mustFind(t, a, id), id, repo.StatusPending, nil, nil, ownerB)
	}
	if n, err := a.ClearOwned(ctx(t), errBody); err != nil || n != 0 {
		t.Fatalf("second a.ClearOwned = %d, %v; want 0", n, err)
	}
	if n, err := b.ClearOwned(ctx(t), errBody); err != nil || n != int64(len(bPending)) {
		t.Fatalf("b.ClearOwned = %d, %v; want %d", n, err, len(bPending))
	}
	for _, id := range bPending {
		checkRecord(t, mustFind(t, a, id), id, repo.StatusError, nil, errBody, ownerB)
	}
}
