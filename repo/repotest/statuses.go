package repotest

// Statuses: batched reads, and their chunking at repo.StatusesChunkSize.

import (
	"testing"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
)

func (s *suite) testStatuses(t *testing.T) {
	st, owner := s.store(t, "stat")
	pending, done, failed := s.id("stat"), s.id("stat"), s.id("stat")
	mustCreate(t, st, pending)
	mustInsertFinished(t, st, done, repo.StatusDone, body(`{"d":1}`), true)
	mustCreate(t, st, failed)
	mustFail(t, st, failed, body(`{"f":1}`), repo.Transitioned)

	ids := []string{s.id("stat"), pending, done, s.id("stat"), failed, done, pending}
	got := statusesByID(t, st, ids)
	if len(got) != 3 {
		t.Fatalf("Statuses returned %d rows, want 3: %v", len(got), got)
	}
	checkRecord(t, got[pending], pending, repo.StatusPending, nil, nil, owner)
	checkRecord(t, got[done], done, repo.StatusDone, body(`{"d":1}`), nil, "")
	checkRecord(t, got[failed], failed, repo.StatusError, nil, body(`{"f":1}`), owner)

	for _, ids := range [][]string{nil, {}, {s.id("stat")}} {
		recs, err := st.Statuses(ctx(t), ids)
		if err != nil || len(recs) != 0 {
			t.Errorf("Statuses(%v) = %v, %v; want none", ids, recs, err)
		}
	}
}

func (s *suite) testStatusesChunked(t *testing.T) {
	st, _ := s.store(t, "chunk")
	n := 2*repo.StatusesChunkSize + 1
	ids := make([]string, n)
	for i := range ids {
		ids[i] = s.id("chunk")
	}
	// Rows at both edges of every chunk, and in the middle; the rest are missing.
	c := repo.StatusesChunkSize
	want := map[string]bool{}
	for _, i := range []int{0, 1, c / 2, c - 1, c, c + 1, 2*c - 1, 2 * c} {
		mustCreate(t, st, ids[i])
		want[ids[i]] = true
	}
	got := statusesByID(t, st, ids)
	if len(got) != len(want) {
		t.Fatalf("Statuses(%d ids) returned %d rows, want %d", n, len(got), len(want))
	}
	for id := range want {
		if got[id].Status != repo.StatusPending {
			t.Errorf("%s: got %+v", id, got[id])
		}
	}
}
