package repotest

// Bad input: every method refuses it before touching the database and writes nothing.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
)

// badIDs break the id rule in every way it can be broken.
var badIDs = []string{"", strings.Repeat("x", 65), "has space", "slash/id", "é", "semi;colon", "quote'd"}

// badBodies are invalid payloads and the sentinel each must produce.
func badBodies() []struct {
	name string
	body json.RawMessage
	want error
} {
	return []struct {
		name string
		body json.RawMessage
		want error
	}{
		{"empty", nil, repo.ErrInvalidJSON},
		{"truncated", body(`{"a":`), repo.ErrInvalidJSON},
		{"not json", body(`hello`), repo.ErrInvalidJSON},
		{"too large", json.RawMessage(`"` + strings.Repeat("a", repo.MaxBodyBytesDefault) + `"`), repo.ErrTooLarge},
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: error %v, want %v", what, err, want)
	}
}

// badInputCalls returns every call with a bad argument and the sentinel it must return.
func (s *suite) badInputCalls(st repo.Store, goodID string) []struct {
	name string
	call func(context.Context) error
	want error
} {
	type call = struct {
		name string
		call func(context.Context) error
		want error
	}
	var calls []call
	ok := body(`{}`)
	for _, bad := range badIDs {
		calls = append(calls,
			call{"Create " + bad, func(c context.Context) error { _, err := st.Create(c, bad); return err }, repo.ErrInvalidID},
			call{"Complete " + bad, func(c context.Context) error { _, err := st.Complete(c, bad, ok); return err }, repo.ErrInvalidID},
			call{"Fail " + bad, func(c context.Context) error { _, err := st.Fail(c, bad, ok); return err }, repo.ErrInvalidID},
			call{"InsertFinished " + bad, func(c context.Context) error {
				_, err := st.InsertFinished(c, bad, repo.StatusDone, ok)
				return err
			}, repo.ErrInvalidID},
			call{"Find " + bad, func(c context.Context) error { _, err := st.Find(c, bad); return err }, repo.ErrInvalidID},
			call{"Delete " + bad, func(c context.Context) error { _, err := st.Delete(c, bad); return err }, repo.ErrInvalidID},
			call{"Statuses " + bad, func(c context.Context) error {
				_, err := st.Statuses(c, []string{goodID, bad})
				return err
			}, repo.ErrInvalidID},
		)
		if bad != "" { // "" is the first page, not a bad cursor
			calls = append(calls, call{"List after " + bad, func(c context.Context) error {
				_, _, err := st.List(c, repo.ListOptions{After: bad})
				return err
			}, repo.ErrInvalidID})
		}
	}
	for _, bb := range badBodies() {
		calls = append(calls,
			call{"Complete body " + bb.name, func(c context.Context) error { _, err := st.Complete(c, goodID, bb.body); return err }, bb.want},
			call{"Fail body " + bb.name, func(c context.Context) error { _, err := st.Fail(c, goodID, bb.body); return err }, bb.want},
			call{"InsertFinished body " + bb.name, func(c context.Context) error {
				_, err := st.InsertFinished(c, goodID, repo.StatusError, bb.body)
				return err
			}, bb.want},
			call{"ClearOwned body " + bb.name, func(c context.Context) error { _, err := st.ClearOwned(c, bb.body); return err }, bb.want},
			call{"ExpirePendingBefore body " + bb.name, func(c context.Context) error {
				_, err := st.ExpirePendingBefore(c, farFuture, 10, bb.body)
				return err
			}, bb.want},
		)
	}
	for _, lim := range []int{-1, repo.MaxListLimit + 1} {
		calls = append(calls, call{fmt.Sprintf("List limit %d", lim), func(c context.Context) error {
			_, _, err := st.List(c, repo.ListOptions{Limit: lim})
			return err
		}, repo.ErrInvalidArgument})
	}
	calls = append(calls,
		call{"List status", func(c context.Context) error {
			_, _, err := st.List(c, repo.ListOptions{Status: "pending"})
			return err
		}, repo.ErrInvalidArgument},
		call{"InsertFinished PENDING", func(c context.Context) error {
			_, err := st.InsertFinished(c, goodID, repo.StatusPending, ok)
			return err
		}, repo.ErrInvalidArgument},
	)
	for _, batch := range []int{0, -1} {
		calls = append(calls,
			call{fmt.Sprintf("DeleteFinishedBefore batch %d", batch), func(c context.Context) error {
				_, err := st.DeleteFinishedBefore(c, farFuture, batch)
				return err
			}, repo.ErrInvalidArgument},
			call{fmt.Sprintf("ExpirePendingBefore batch %d", batch), func(c context.Context) error {
				_, err := st.ExpirePendingBefore(c, farFuture, batch, ok)
				return err
			}, repo.ErrInvalidArgument},
		)
	}
	return calls
}

// testBadInputWritesNothing makes the bad calls on a live store and checks that the rows they
// name are unchanged.
func (s *suite) testBadInputWritesNothing(t *testing.T) {
	st, _ := s.store(t, "bad")
	pending := s.id("bad")
	before := mustCreate(t, st, pending)
	absent := s.id("bad")

	for _, c := range s.badInputCalls(st, pending) {
		wantErr(t, c.name, c.call(ctx(t)), c.want)
	}
	// The same calls aimed at an id without a row must not create it.
	for _, c := range s.badInputCalls(st, absent) {
		wantErr(t, c.name+" (absent id)", c.call(ctx(t)), c.want)
	}
	if got := mustFind(t, st, pending); !sameRecord(got, before) {
		t.Fatalf("bad calls changed %s: %+v -> %+v", pending, before, got)
	}
	mustNotFind(t, st, absent)

	// The errors say what is wrong.
	_, err := st.Complete(ctx(t), pending, body(`{"a":`))
	if err == nil || !strings.Contains(err.Error(), "payload") {
		t.Errorf("Complete error %q should name the payload", err)
	}
	_, err = st.Fail(ctx(t), pending, badBodies()[3].body)
	if err == nil || !strings.Contains(err.Error(), "store.maxBodyBytes") || !strings.Contains(err.Error(), "error body") {
		t.Errorf("Fail error %q should name the error body and store.maxBodyBytes", err)
	}
}

// testBadInputBeforeDatabase makes the bad calls on a closed store: each must fail with its
// sentinel, which shows the input is checked before the database is touched.
func (s *suite) testBadInputBeforeDatabase(t *testing.T) {
	st, _ := s.store(t, "closed")
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, c := range s.badInputCalls(st, s.id("closed")) {
		wantErr(t, c.name+" (closed store)", c.call(ctx(t)), c.want)
	}
}
