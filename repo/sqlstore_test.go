package repo

// Tests of SQLStore's shared logic on a scripted executor: what it sends to a dialect, in
// which pieces, and what it makes of the answers. The dialects' statements are tested by
// the conformance suite (repo/repotest) on real databases.

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeExec is an Executor whose methods the test scripts; an unscripted method fails the
// call. calls records the methods called, in order.
type fakeExec struct {
	Executor // nil: unscripted methods panic

	mu    sync.Mutex
	calls []string

	create       func(n int) (Record, bool, error)
	finish       func(n int) (bool, error)
	statusOf     func(n int) (Status, error)
	find         func(n int) (Record, error)
	statuses     func(ids []string) ([]Record, error)
	list         func(opts ListOptions) ([]Record, error)
	deleteBefore func(n, limit int) (int64, error)
	beginStart   func(n int) (StartState, bool, error)
	readStart    func(n int) (StartState, error)
	setInstance  func(n int) (string, error)
	beat         func(n int) error
	pendingCount func(n int) (int64, error)
}

// record notes a call of method and returns how many came before it.
func (f *fakeExec) record(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c == method {
			n++
		}
	}
	f.calls = append(f.calls, method)
	return n
}

func (f *fakeExec) count(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c == method {
			n++
		}
	}
	return n
}

func (f *fakeExec) Create(context.Context, string, string) (Record, bool, error) {
	return f.create(f.record("Create"))
}
func (f *fakeExec) Finish(context.Context, string, Status, []byte) (bool, error) {
	return f.finish(f.record("Finish"))
}
func (f *fakeExec) StatusOf(context.Context, string) (Status, error) {
	return f.statusOf(f.record("StatusOf"))
}
func (f *fakeExec) Find(context.Context, string) (Record, error) { return f.find(f.record("Find")) }
func (f *fakeExec) Statuses(_ context.Context, ids []string) ([]Record, error) {
	f.record("Statuses")
	return f.statuses(ids)
}
func (f *fakeExec) List(_ context.Context, opts ListOptions) ([]Record, error) {
	f.record("List")
	return f.list(opts)
}
func (f *fakeExec) DeleteFinishedBefore(_ context.Context, _ time.Time, limit int) (int64, error) {
	return f.deleteBefore(f.record("DeleteFinishedBefore"), limit)
}
func (f *fakeExec) BeginStart(context.Context, string, string, string, time.Duration) (StartState, bool, error) {
	return f.beginStart(f.record("BeginStart"))
}
func (f *fakeExec) ReadStart(context.Context, string) (StartState, error) {
	return f.readStart(f.record("ReadStart"))
}
func (f *fakeExec) SetInstance(context.Context, string, string) (string, error) {
	return f.setInstance(f.record("SetInstance"))
}
func (f *fakeExec) Beat(context.Context, string) error { return f.beat(f.record("Beat")) }
func (f *fakeExec) PendingCount(context.Context) (int64, error) {
	return f.pendingCount(f.record("PendingCount"))
}

func newFake(t *testing.T, f *fakeExec, batch int, retry RetryPolicy) *SQLStore {
	t.Helper()
	s, err := NewSQLStore(Dialect{Name: DriverSQLite, Exec: f, MaxStatementBatch: batch, Retry: retry}, Options{Owner: "o"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestChunks(t *testing.T) {
	t.Parallel()
	ids := make([]string, 4001)
	for i := range ids {
		ids[i] = fmt.Sprint(i)
	}
	var sizes []int
	for _, c := range chunks(ids, 2000) {
		sizes = append(sizes, len(c))
	}
	if !reflect.DeepEqual(sizes, []int{2000, 2000, 1}) {
		t.Fatalf("sizes %v", sizes)
	}
	if got := chunks(nil, 3); len(got) != 0 {
		t.Fatalf("chunks(nil) = %v", got)
	}
	if got := chunks([]string{"a", "b", "c"}, 3); len(got) != 1 {
		t.Fatalf("chunks(3 of 3) = %v", got)
	}
}

func TestCheckIDs(t *testing.T) {
	t.Parallel()
	got, err := checkIDs([]string{"a", "b", "a", "c", "b"})
	if err != nil || !reflect.DeepEqual(got, []string{"a", "b", "c"}) {
		t.Fatalf("checkIDs = %v, %v", got, err)
	}
	if _, err := checkIDs([]string{"a", "b c"}); !errors.Is(err, ErrInvalidID) {
		t.Fatalf("checkIDs(bad) = %v", err)
	}
}

func TestCheckList(t *testing.T) {
	t.Parallel()
	o, err := checkList(ListOptions{})
	if err != nil || o.Limit != DefaultListLimit {
		t.Fatalf("checkList default = %+v, %v", o, err)
	}
	for _, bad := range []ListOptions{{Limit: -1}, {Limit: MaxListLimit + 1}, {Status: "x"}} {
		if _, err := checkList(bad); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("checkList(%+v) = %v", bad, err)
		}
	}
	if _, err := checkList(ListOptions{After: "a b"}); !errors.Is(err, ErrInvalidID) {
		t.Errorf("checkList(bad cursor) = %v", err)
	}
}

// TestStatusesChunksAndMerges: 4,001 ids (with repeats) reach the executor once each, in
// statements of at most StatusesChunkSize ids, and the answers come back together.
func TestStatusesChunksAndMerges(t *testing.T) {
	t.Parallel()
	var sizes []int
	f := &fakeExec{statuses: func(ids []string) ([]Record, error) {
		sizes = append(sizes, len(ids))
		return []Record{{CorrelationID: ids[0]}}, nil
	}}
	s := newFake(t, f, 0, RetryPolicy{})
	ids := make([]string, 4001)
	for i := range ids {
		ids[i] = fmt.Sprintf("id-%d", i)
	}
	recs, err := s.Statuses(context.Background(), append(ids, ids[:10]...))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(sizes, []int{2000, 2000, 1}) {
		t.Fatalf("statements of %v ids, want [2000 2000 1]", sizes)
	}
	if len(recs) != 3 {
		t.Fatalf("%d records, want one per statement", len(recs))
	}
}

// TestListReadsOneMoreForTheCursor: a page of n reads n+1 rows; the extra row means a next
// page, whose cursor is the page's last id.
func TestListReadsOneMoreForTheCursor(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		rows     int
		wantNext string
		wantLen  int
	}{{3, "r1", 2}, {2, "", 2}, {0, "", 0}} {
		var asked ListOptions
		f := &fakeExec{list: func(opts ListOptions) ([]Record, error) {
			asked = opts
			var out []Record
			for i := range tc.rows {
				out = append(out, Record{CorrelationID: fmt.Sprintf("r%d", i)})
			}
			return out, nil
		}}
		s := newFake(t, f, 0, RetryPolicy{})
		rows, next, err := s.List(context.Background(), ListOptions{After: "a", Limit: 2, Status: StatusDone})
		if err != nil {
			t.Fatal(err)
		}
		if asked != (ListOptions{After: "a", Limit: 3, Status: StatusDone}) {
			t.Fatalf("asked the executor for %+v", asked)
		}
		if len(rows) != tc.wantLen || next != tc.wantNext {
			t.Fatalf("%d rows read: page of %d, next %q; want %d, %q", tc.rows, len(rows), next, tc.wantLen, tc.wantNext)
		}
	}
}

// TestTransitionExplainsNoChange: a guarded update that changed nothing is explained by a
// status read, and run again when the row turns out PENDING (created in between).
func TestTransitionExplainsNoChange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		updates []bool
		reads   []Status // "" = no row
		want    Outcome
	}{
		{"transitioned", []bool{true}, nil, Transitioned},
		{"finished", []bool{false}, []Status{StatusDone}, AlreadyFinished},
		{"absent", []bool{false}, []Status{""}, NotFound},
		{"created between update and read", []bool{false, true}, []Status{StatusPending}, Transitioned},
	}
	for _, tt := range tests {
		f := &fakeExec{
			finish: func(n int) (bool, error) { return tt.updates[n], nil },
			statusOf: func(n int) (Status, error) {
				if tt.reads[n] == "" {
					return "", ErrNotFound
				}
				return tt.reads[n], nil
			},
		}
		s := newFake(t, f, 0, RetryPolicy{})
		got, err := s.Complete(context.Background(), "id", []byte(`{}`))
		if err != nil || got != tt.want {
			t.Errorf("%s: Complete = %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
	f := &fakeExec{
		finish:   func(int) (bool, error) { return false, nil },
		statusOf: func(int) (Status, error) { return StatusPending, nil },
	}
	if _, err := newFake(t, f, 0, RetryPolicy{}).Fail(context.Background(), "id", []byte(`{}`)); err == nil {
		t.Error("a transition that never settles returned no error")
	}
}

// TestCreateReadsAFinishedRow: an upsert that left a finished row alone is followed by a
// read; a row deleted in between is upserted again.
func TestCreateReadsAFinishedRow(t *testing.T) {
	t.Parallel()
	f := &fakeExec{
		create: func(n int) (Record, bool, error) {
			if n == 0 {
				return Record{}, false, nil
			}
			return Record{CorrelationID: "id", Status: StatusPending}, true, nil
		},
		find: func(int) (Record, error) { return Record{}, ErrNotFound },
	}
	rec, err := newFake(t, f, 0, RetryPolicy{}).Create(context.Background(), "id")
	if err != nil || rec.Status != StatusPending {
		t.Fatalf("Create = %+v, %v", rec, err)
	}
	if want := []string{"Create", "Find", "Create"}; !reflect.DeepEqual(f.calls, want) {
		t.Fatalf("calls %v, want %v", f.calls, want)
	}
}

// TestSetInstanceReadsWhatTheRowHolds: an update that recorded nothing and cannot tell why
// is followed by a read of the row's instance.
func TestSetInstanceReadsWhatTheRowHolds(t *testing.T) {
	t.Parallel()
	f := &fakeExec{
		setInstance: func(int) (string, error) { return "", nil },
		readStart: func(int) (StartState, error) {
			return StartState{ProcessInstanceID: "other"}, nil
		},
	}
	got, err := newFake(t, f, 0, RetryPolicy{}).SetInstance(context.Background(), "id", "mine")
	if err != nil || got != "other" {
		t.Fatalf("SetInstance = %q, %v; want the instance the row holds", got, err)
	}
	f = &fakeExec{
		setInstance: func(int) (string, error) { return "", nil },
		readStart:   func(int) (StartState, error) { return StartState{}, ErrNotFound },
	}
	if _, err := newFake(t, f, 0, RetryPolicy{}).SetInstance(context.Background(), "id", "mine"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SetInstance on no row = %v, want ErrNotFound", err)
	}
}

// TestBeginStartReadsAnExistingRow: when the insert finds a row, the row is read (and
// inserted again if it vanished in between).
func TestBeginStartReadsAnExistingRow(t *testing.T) {
	t.Parallel()
	f := &fakeExec{
		beginStart: func(int) (StartState, bool, error) { return StartState{}, false, nil },
		readStart: func(n int) (StartState, error) {
			if n == 0 {
				return StartState{}, ErrNotFound
			}
			return StartState{Attempt: 2}, nil
		},
	}
	st, created, err := newFake(t, f, 0, RetryPolicy{}).BeginStart(context.Background(), "id", "key", time.Second)
	if err != nil || created || st.Attempt != 2 {
		t.Fatalf("BeginStart = %+v, %t, %v", st, created, err)
	}
	if n := f.count("BeginStart"); n != 2 {
		t.Fatalf("BeginStart ran %d times, want 2", n)
	}
}

// TestRetentionBatchesAreSplit: with a MaxStatementBatch, a batch goes in statements of at
// most that many rows and stops at the first short one; without, in one statement.
func TestRetentionBatchesAreSplit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		cap       int
		batch     int
		available int64
		want      []int
	}{
		{"capped", 4000, 10000, 1 << 40, []int{4000, 4000, 2000}},
		{"capped, runs out", 4000, 10000, 5000, []int{4000, 4000}},
		{"no cap", 0, 10000, 1 << 40, []int{10000}},
	} {
		left := tc.available
		var parts []int
		f := &fakeExec{deleteBefore: func(_ int, limit int) (int64, error) {
			parts = append(parts, limit)
			n := min(int64(limit), left)
			left -= n
			return n, nil
		}}
		n, err := newFake(t, f, tc.cap, RetryPolicy{}).DeleteFinishedBefore(context.Background(), time.Now(), tc.batch)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(parts, tc.want) || n != min(int64(tc.batch), tc.available) {
			t.Fatalf("%s: statements of %v rows, total %d; want %v", tc.name, parts, n, tc.want)
		}
	}
}

var errFlaky = errors.New("flaky")
var errRace = errors.New("race")

// classifyTest retries errFlaky always and errRace on inserting statements.
func classifyTest(err error, inserts bool) RetryClass {
	switch {
	case errors.Is(err, errFlaky):
		return RetryTransient
	case errors.Is(err, errRace) && inserts:
		return RetryInsertRace
	}
	return RetryNever
}

// TestRetryHooks: a dialect's classification decides what is sent again: transient errors
// on any statement, insert races only on inserting ones, within Attempts; without a
// classifier nothing is sent again.
func TestRetryHooks(t *testing.T) {
	t.Parallel()
	policy := RetryPolicy{Classify: classifyTest, Attempts: 3, Pause: time.Millisecond, MaxPause: time.Millisecond}
	ctx := context.Background()

	f := &fakeExec{pendingCount: func(n int) (int64, error) {
		if n < 2 {
			return 0, errFlaky
		}
		return 7, nil
	}}
	if n, err := newFake(t, f, 0, policy).PendingCount(ctx); err != nil || n != 7 {
		t.Fatalf("PendingCount = %d, %v after two transient errors", n, err)
	}

	f = &fakeExec{pendingCount: func(int) (int64, error) { return 0, errFlaky }}
	if _, err := newFake(t, f, 0, policy).PendingCount(ctx); !errors.Is(err, errFlaky) || f.count("PendingCount") != 3 {
		t.Fatalf("PendingCount = %v after %d sends, want errFlaky after 3", err, f.count("PendingCount"))
	}

	f = &fakeExec{beat: func(n int) error {
		if n == 0 {
			return errRace
		}
		return nil
	}}
	if err := newFake(t, f, 0, policy).Beat(ctx, "w"); err != nil || f.count("Beat") != 2 {
		t.Fatalf("Beat = %v after %d sends; an insert race is sent again", err, f.count("Beat"))
	}

	f = &fakeExec{pendingCount: func(int) (int64, error) { return 0, errRace }}
	if _, err := newFake(t, f, 0, policy).PendingCount(ctx); !errors.Is(err, errRace) || f.count("PendingCount") != 1 {
		t.Fatalf("PendingCount = %v after %d sends; a statement that inserts nothing is not retried on a race", err, f.count("PendingCount"))
	}

	f = &fakeExec{pendingCount: func(int) (int64, error) { return 0, errFlaky }}
	if _, err := newFake(t, f, 0, RetryPolicy{}).PendingCount(ctx); !errors.Is(err, errFlaky) || f.count("PendingCount") != 1 {
		t.Fatalf("without a classifier: %v after %d sends, want one", err, f.count("PendingCount"))
	}
}

// TestBadInputNeverReachesTheExecutor: every argument check runs before the first statement
// (the fake panics on any call).
func TestBadInputNeverReachesTheExecutor(t *testing.T) {
	t.Parallel()
	s := newFake(t, &fakeExec{}, 0, RetryPolicy{})
	ctx := context.Background()
	for name, err := range map[string]error{
		"Create":         func() error { _, err := s.Create(ctx, "bad id"); return err }(),
		"Complete":       func() error { _, err := s.Complete(ctx, "ok", []byte(`{`)); return err }(),
		"InsertFinished": func() error { _, err := s.InsertFinished(ctx, "ok", StatusPending, []byte(`1`)); return err }(),
		"Statuses":       func() error { _, err := s.Statuses(ctx, []string{"ok", "no way"}); return err }(),
		"List":           func() error { _, _, err := s.List(ctx, ListOptions{Limit: -1}); return err }(),
		"Delete":         func() error { _, err := s.Delete(ctx, ""); return err }(),
		"ClearOwned":     func() error { _, err := s.ClearOwned(ctx, nil); return err }(),
		"Expire":         func() error { _, err := s.ExpirePendingBefore(ctx, time.Now(), 0, []byte(`1`)); return err }(),
		"BeginStart":     func() error { _, _, err := s.BeginStart(ctx, "ok", "bad key!", time.Second); return err }(),
		"ClaimStart":     func() error { _, err := s.ClaimStart(ctx, "ok", -1, time.Second); return err }(),
		"SetInstance":    func() error { _, err := s.SetInstance(ctx, "ok", ""); return err }(),
		"ForgetWorker":   func() error { _, err := s.ForgetWorker(ctx, "w", -time.Second); return err }(),
	} {
		if err == nil {
			t.Errorf("%s accepted bad input", name)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	good := Options{Driver: DriverSQLite, DSN: "file:x.db", Owner: "host-1.42"}
	tests := []struct {
		name string
		mod  func(*Options)
		msg  string // "" means valid
	}{
		{name: "good", mod: func(*Options) {}},
		{name: "no driver", mod: func(o *Options) { o.Driver = "" }},
		{name: "no dsn", mod: func(o *Options) { o.DSN = "" }},
		{name: "unknown driver", mod: func(o *Options) { o.Driver = "oracle" }, msg: `Options.Driver "oracle" is not a known driver`},
		{name: "other dialect", mod: func(o *Options) { o.Driver = DriverPostgres }, msg: `Options.Driver is "postgres", but this is the sqlite store`},
		{name: "no owner", mod: func(o *Options) { o.Owner = "" }, msg: "Options.Owner is empty"},
		{name: "bad owner", mod: func(o *Options) { o.Owner = "a b" }, msg: "Options.Owner"},
		{name: "negative max body", mod: func(o *Options) { o.MaxBodyBytes = -1 }, msg: "Options.MaxBodyBytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := good
			tt.mod(&o)
			// NewSQLStore validates before anything else; the executor is never called.
			_, err := NewSQLStore(Dialect{Name: DriverSQLite, Exec: &fakeExec{}}, o)
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("NewSQLStore = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("NewSQLStore = %v, want an error containing %q", err, tt.msg)
			}
		})
	}
	if got := (Options{}).WithDefaults().MaxBodyBytes; got != MaxBodyBytesDefault {
		t.Errorf("WithDefaults MaxBodyBytes = %d, want %d", got, MaxBodyBytesDefault)
	}
}
