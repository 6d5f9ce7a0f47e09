package retention

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/camunda-waitroom/camunda-waitroom/migrations"
	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/repo/sqlite"
)

func newStore(t *testing.T) repo.Store {
	t.Helper()
	ctx := context.Background()
	dsn := "file:" + filepath.Join(t.TempDir(), "r.db")
	db, err := sqlite.OpenDB(dsn)
	require.NoError(t, err)
	require.NoError(t, migrations.Up(ctx, db, "sqlite"))
	s, err := sqlite.New(ctx, db, repo.Options{Owner: "retention-test"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestRetentionDeletesOnlyWhatItShould: finished rows older than finishedAfter go, in batches;
// younger finished rows and PENDING rows stay; PENDING rows older than pendingAfter become
// ERROR "expired" and are not deleted in the same pass.
func TestRetentionDeletesOnlyWhatItShould(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	for i := 0; i < 5; i++ {
		id := fmt.Sprintf("done-%d", i)
		_, err := s.Create(ctx, id)
		require.NoError(t, err)
		_, err = s.Complete(ctx, id, json.RawMessage(`{"ok":true}`))
		require.NoError(t, err)
	}
	_, err := s.Fail(ctx, mustCreate(t, s, "failed-1"), json.RawMessage(`{"error":"x"}`))
	require.NoError(t, err)
	mustCreate(t, s, "pending-1")
	mustCreate(t, s, "pending-2")

	rec, err := s.Find(ctx, "pending-2")
	require.NoError(t, err)
	dbNow := rec.UpdatedAt // the database clock

	// "Now" is 2h after the rows were written: finished rows older than 1h go, PENDING rows
	// (3h limit) stay.
	j, err := New(s, Options{FinishedAfter: time.Hour, PendingAfter: 3 * time.Hour, Batch: 2, Interval: time.Minute}, zap.NewNop())
	require.NoError(t, err)
	j.now = func() time.Time { return dbNow.Add(2 * time.Hour) }
	res, err := j.RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, Result{Deleted: 6, Expired: 0}, res, "batches of 2 must loop until all 6 finished rows are gone")
	for _, id := range []string{"done-0", "done-4", "failed-1"} {
		_, err := s.Find(ctx, id)
		require.ErrorIs(t, err, repo.ErrNotFound, id)
	}
	n, err := s.PendingCount(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 2, n)

	// Finished rows younger than the cutoff are kept.
	mustCreate(t, s, "fresh-done")
	_, err = s.Complete(ctx, "fresh-done", json.RawMessage(`{}`))
	require.NoError(t, err)
	j.now = func() time.Time { return dbNow } // nothing is older than an hour now
	res, err = j.RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, Result{}, res)

	// With a 1h pending limit, 2h later the PENDING rows expire; this pass keeps them (they
	// were just updated), a later one deletes them.
	j.cfg.PendingAfter = time.Hour
	j.cfg.FinishedAfter = 3 * time.Hour
	j.now = func() time.Time { return dbNow.Add(2 * time.Hour) }
	res, err = j.RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, Result{Expired: 2}, res)
	rec, err = s.Find(ctx, "pending-1")
	require.NoError(t, err)
	require.Equal(t, repo.StatusError, rec.Status)
	var body map[string]string
	require.NoError(t, json.Unmarshal(rec.Error, &body))
	require.Equal(t, "expired", body["error"])
	_, err = s.Find(ctx, "fresh-done")
	require.NoError(t, err, "a finished row younger than finishedAfter must stay")
}

func mustCreate(t *testing.T, s repo.Store, id string) string {
	t.Helper()
	_, err := s.Create(context.Background(), id)
	require.NoError(t, err)
	return id
}

// TestOptionsDefaultsAndValidation: zero fields take the exported defaults, set fields are
// kept, and a field that cannot work fails New with its name.
func TestOptionsDefaultsAndValidation(t *testing.T) {
	t.Parallel()
	require.Equal(t, Options{Batch: BatchDefault, FinishedAfter: FinishedAfterDefault, Interval: IntervalDefault,
		PendingAfter: PendingAfterDefault}, Options{}.WithDefaults())
	set := Options{Batch: 7, FinishedAfter: time.Hour, Interval: time.Second, PendingAfter: time.Minute}
	require.Equal(t, set, set.WithDefaults())

	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{Batch: -1}, "Options.Batch"},
		{Options{FinishedAfter: -time.Hour}, "Options.FinishedAfter"},
		{Options{Interval: -time.Second}, "Options.Interval"},
		{Options{PendingAfter: -time.Minute}, "Options.PendingAfter"},
	} {
		_, err := New(newStore(t), tc.opts, nil)
		require.ErrorContains(t, err, tc.want)
	}
	_, err := New(nil, Options{}, nil)
	require.ErrorContains(t, err, "nil store")
}
