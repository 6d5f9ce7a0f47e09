package repotest

// Reads of single rows and pages: Find, List (keyset pages, filters, options), Delete,
// PendingCount, Ping.

import (
	"strings"
	"testing"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
)

func (s *suite) testFind(t *testing.T) {
	st, _ := s.store(t, "find")
	mustNotFind(t, st, s.id("find"))
	_, err := st.Find(ctx(t), s.id("find"))
	if err == nil || !strings.Contains(err.Error(), "rt.") {
		t.Errorf("Find error %q should name the id", err)
	}
}

func (s *suite) testList(t *testing.T) {
	st, _ := s.store(t, "list")
	mine := map[string]repo.Status{}
	for i := range 14 {
		id := s.id("list")
		mustCreate(t, st, id)
		status := repo.StatusPending
		switch i % 3 {
		case 1:
			mustComplete(t, st, id, body(`{"i":%d}`, i), repo.Transitioned)
			status = repo.StatusDone
		case 2:
			mustFail(t, st, id, body(`{"i":%d}`, i), repo.Transitioned)
			status = repo.StatusError
		}
		mine[id] = status
	}
	for _, filter := range []repo.Status{"", repo.StatusPending, repo.StatusDone, repo.StatusError} {
		t.Run("status="+string(filter), func(t *testing.T) {
			seen := map[string]int{}
			for _, rec := range listAll(t, st, filter, 5) {
				if filter != "" && rec.Status != filter {
					t.Errorf("%s has status %s under filter %s", rec.CorrelationID, rec.Status, filter)
				}
				if _, ok := mine[rec.CorrelationID]; ok {
					seen[rec.CorrelationID]++
				}
			}
			for id, status := range mine {
				want := 0
				if filter == "" || filter == status {
					want = 1
				}
				if seen[id] != want {
					t.Errorf("%s (%s) listed %d times under filter %q, want %d", id, status, seen[id], filter, want)
				}
			}
		})
	}
}

// listAll pages through the whole table and checks the keyset order: ids strictly increase
// within and across pages, and only the last page returns no cursor.
func listAll(t *testing.T, st repo.Store, filter repo.Status, limit int) []repo.Record {
	t.Helper()
	var all []repo.Record
	after := ""
	for page := 0; ; page++ {
		if page > 1_000_000 {
			t.Fatal("List never ended")
		}
		recs, next, err := st.List(ctx(t), repo.ListOptions{Status: filter, After: after, Limit: limit})
		if err != nil {
			t.Fatalf("List(after %q): %v", after, err)
		}
		if len(recs) > limit {
			t.Fatalf("List returned %d rows, limit %d", len(recs), limit)
		}
		// Keyset order: ids strictly increase, within a page and from the cursor on. (SQL
		// Server orders by its column collation; ids of lower-case letters, digits and dots
		// sort like bytes in every common collation, but ids with capitals, which only
		// testMixedCaseIDs makes, need not: for those the order is the dialect's, and only
		// repeats are checked.)
		prev := after
		for _, r := range recs {
			if r.CorrelationID == prev || (!hasUpper(r.CorrelationID) && !hasUpper(prev) && !(r.CorrelationID > prev)) {
				t.Fatalf("List returned %q after %q", r.CorrelationID, prev)
			}
			prev = r.CorrelationID
		}
		all = append(all, recs...)
		if next == "" {
			return all
		}
		if len(recs) != limit || next != recs[len(recs)-1].CorrelationID {
			t.Fatalf("List returned %d rows and cursor %q; want a full page ending at the cursor", len(recs), next)
		}
		after = next
	}
}

func (s *suite) testListOptions(t *testing.T) {
	st, _ := s.store(t, "lopt")
	for range 3 {
		mustCreate(t, st, s.id("lopt"))
	}
	recs, _, err := st.List(ctx(t), repo.ListOptions{})
	if err != nil || len(recs) == 0 || len(recs) > repo.DefaultListLimit {
		t.Fatalf("List(default limit) = %d rows, %v", len(recs), err)
	}
	if _, _, err := st.List(ctx(t), repo.ListOptions{Limit: repo.MaxListLimit}); err != nil {
		t.Fatalf("List(MaxListLimit): %v", err)
	}
	recs, _, err = st.List(ctx(t), repo.ListOptions{Limit: 1})
	if err != nil || len(recs) != 1 {
		t.Fatalf("List(limit 1) = %d rows, %v", len(recs), err)
	}
}

func (s *suite) testDelete(t *testing.T) {
	st, _ := s.store(t, "delete")
	for _, finish := range []bool{false, true} {
		id := s.id("delete")
		mustCreate(t, st, id)
		if finish {
			mustComplete(t, st, id, body(`{}`), repo.Transitioned)
		}
		if ok, err := st.Delete(ctx(t), id); err != nil || !ok {
			t.Fatalf("Delete(%s) = %v, %v; want true", id, ok, err)
		}
		if ok, err := st.Delete(ctx(t), id); err != nil || ok {
			t.Fatalf("second Delete(%s) = %v, %v; want false", id, ok, err)
		}
		mustNotFind(t, st, id)
		mustComplete(t, st, id, body(`{}`), repo.NotFound)
	}
}

func (s *suite) testPendingCount(t *testing.T) {
	st, _ := s.store(t, "count")
	count := func() int64 {
		t.Helper()
		n, err := st.PendingCount(ctx(t))
		if err != nil {
			t.Fatalf("PendingCount: %v", err)
		}
		return n
	}
	base := count()
	ids := []string{s.id("count"), s.id("count"), s.id("count"), s.id("count")}
	for _, id := range ids {
		mustCreate(t, st, id)
	}
	// Another owner's rows count too.
	other, _ := s.store(t, "count")
	mustCreate(t, other, s.id("count"))
	if got := count(); got != base+5 {
		t.Fatalf("PendingCount after 5 creates = %d, want %d", got, base+5)
	}
	mustComplete(t, st, ids[0], body(`{"ok":true}`), repo.Transitioned)
	mustFail(t, st, ids[1], body(`{"err":"x"}`), repo.Transitioned)
	mustInsertFinished(t, st, s.id("count"), repo.StatusDone, body(`1`), true)
	if ok, err := st.Delete(ctx(t), ids[2]); err != nil || !ok {
		t.Fatalf("Delete = %v, %v", ok, err)
	}
	if got := count(); got != base+2 {
		t.Fatalf("PendingCount after complete, fail, delete = %d, want %d", got, base+2)
	}
}

func (s *suite) testPing(t *testing.T) {
	st, _ := s.store(t, "ping")
	if err := st.Ping(ctx(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}
