package mssql

// The Go side of the store against the scripted driver of fakedb_test.go. Nothing here runs
// on SQL Server: these tests pin what the store sends and how it reads what comes back.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	mssql "github.com/microsoft/go-mssqldb"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
)

func optsFor(owner string) repo.Options { return repo.Options{Owner: owner} }

func unexpected(c fakeCall, _ int) fakeAnswer {
	return fakeAnswer{err: fmt.Errorf("fake: unexpected statement %.60q", c.query)}
}

// TestNewChecksTheDatabase: New reads compatibility level, READ_COMMITTED_SNAPSHOT and the id
// collation from sys.databases; it refuses a level below 130 with the statement to run, and
// accepts 130 and above whatever the snapshot setting, which only gets reported.
func TestNewChecksTheDatabase(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		level     int
		rcsi      bool
		style     int64
		refused   bool
		caseBlind bool
	}{
		{name: "150 with RCSI (Azure SQL default)", level: 150, rcsi: true, style: caseInsensitiveStyle, caseBlind: true},
		{name: "130 without RCSI", level: 130, rcsi: false, style: 0},
		{name: "120 without RCSI (upgraded from 2014)", level: 120, rcsi: false, refused: true},
		{name: "100 with RCSI", level: 100, rcsi: true, refused: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeDB{answer: func(c fakeCall, _ int) fakeAnswer {
				if c.query != sqlSettings {
					return unexpected(c, 0)
				}
				return settingsRow("shop]db", tc.level, tc.rcsi, "Some_Collation", tc.style)
			}}
			db := sql.OpenDB(fakeConnector{f})
			defer db.Close()
			s, err := New(context.Background(), db, optsFor("o"))
			if len(f.callsOf(sqlSettings)) != 1 {
				t.Fatalf("New sent the settings query %d times, want once", len(f.callsOf(sqlSettings)))
			}
			if tc.refused {
				if !errors.Is(err, repo.ErrUnsupportedDatabase) {
					t.Fatalf("New at level %d = %v, want ErrUnsupportedDatabase", tc.level, err)
				}
				for _, want := range []string{
					fmt.Sprintf("compatibility level %d", tc.level),
					"ALTER DATABASE [shop]]db] SET COMPATIBILITY_LEVEL = 130",
					"OPENJSON",
				} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q lacks %q", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("New at level %d: %v", tc.level, err)
			}
			want := Settings{Database: "shop]db", CompatibilityLevel: tc.level, ReadCommittedSnapshot: tc.rcsi,
				IDCollation: "Some_Collation", IDCaseInsensitive: tc.caseBlind}
			if got := s.Settings(); got != want {
				t.Fatalf("Settings = %+v, want %+v", got, want)
			}
		})
	}
}

// TestStatementsDoNotDependOnRCSI: the store sends the same skip-locked statements whatever
// READ_COMMITTED_SNAPSHOT says, with READCOMMITTEDLOCK beside READPAST.
func TestStatementsDoNotDependOnRCSI(t *testing.T) {
	t.Parallel()
	sent := map[bool][]string{}
	for _, rcsi := range []bool{false, true} {
		f := &fakeDB{answer: func(c fakeCall, _ int) fakeAnswer {
			switch c.query {
			case sqlSettings:
				return settingsRow("db", 160, rcsi, "Latin1_General_100_BIN2", 0)
			case sqlStatuses:
				return noRows
			case sqlDeleteFinishedBefore, sqlExpirePendingBefore:
				return intRow(0)
			}
			return unexpected(c, 0)
		}}
		db := sql.OpenDB(fakeConnector{f})
		s, err := New(context.Background(), db, optsFor("o"))
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if _, err := s.Statuses(ctx, []string{"a"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DeleteFinishedBefore(ctx, time.Now(), 10); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ExpirePendingBefore(ctx, time.Now(), 10, json.RawMessage(`{}`)); err != nil {
			t.Fatal(err)
		}
		for _, c := range f.calls[1:] {
			sent[rcsi] = append(sent[rcsi], c.query)
		}
		db.Close()
	}
	if strings.Join(sent[false], "\n") != strings.Join(sent[true], "\n") {
		t.Fatal("the statements differ with READ_COMMITTED_SNAPSHOT on and off")
	}
	for _, q := range sent[true] {
		if !strings.Contains(q, "WITH (READCOMMITTEDLOCK, READPAST)") {
			t.Errorf("statement without READCOMMITTEDLOCK, READPAST:\n%s", q)
		}
	}
}

// TestCreateDuplicateKeyMeansTheRowExists: a duplicate key from the upsert's INSERT (a
// concurrent insert won) makes Create run the batch again, which returns the row.
func TestCreateDuplicateKeyMeansTheRowExists(t *testing.T) {
	t.Parallel()
	for _, number := range []int32{errDuplicateKey, errDuplicateIndex} {
		s, f := newFakeStore(t, func(c fakeCall, n int) fakeAnswer {
			if c.query != sqlCreate {
				return unexpected(c, n)
			}
			if n == 0 {
				return fakeAnswer{err: mssql.Error{Number: number, Message: "Violation of PRIMARY KEY constraint"}}
			}
			return recordRow("ab", "PENDING", nil, nil, "owner-0")
		})
		rec, err := s.Create(context.Background(), "ab")
		if err != nil {
			t.Fatalf("Create after a %d: %v", number, err)
		}
		if rec.CorrelationID != "ab" || rec.Status != repo.StatusPending || rec.Owner != "owner-0" {
			t.Fatalf("Create returned %+v", rec)
		}
		if n := len(f.callsOf(sqlCreate)); n != 2 {
			t.Fatalf("the upsert ran %d times, want 2", n)
		}
	}
}

// TestDuplicateKeyOutsideInsertsIsNotRetried: only the inserting statements read a
// duplicate key as "the row exists".
func TestDuplicateKeyOutsideInsertsIsNotRetried(t *testing.T) {
	t.Parallel()
	s, f := newFakeStore(t, func(c fakeCall, _ int) fakeAnswer {
		return fakeAnswer{err: mssql.Error{Number: errDuplicateKey, Message: "dup"}}
	})
	if _, err := s.Complete(context.Background(), "ab", json.RawMessage(`{}`)); !isErrorNumber(err, errDuplicateKey) {
		t.Fatalf("Complete = %v, want the duplicate key error", err)
	}
	if n := len(f.callsOf(sqlComplete)); n != 1 {
		t.Fatalf("Complete ran %d times, want 1", n)
	}
}

// TestCreateIDConflict: no row back from the upsert means an id differing only in case
// holds the key: ErrIDConflict, naming the collation, never someone else's row.
func TestCreateIDConflict(t *testing.T) {
	t.Parallel()
	s, _ := newFakeStore(t, func(c fakeCall, n int) fakeAnswer {
		if c.query != sqlCreate {
			return unexpected(c, n)
		}
		return noRows
	})
	_, err := s.Create(context.Background(), "ABC")
	if !errors.Is(err, repo.ErrIDConflict) {
		t.Fatalf("Create = %v, want ErrIDConflict", err)
	}
	for _, want := range []string{`"ABC"`, "SQL_Latin1_General_CP1_CI_AS", "letter case"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

// TestInsertFinishedOutcomes: (inserted, exact row exists) from the batch maps to true,
// false, or ErrIDConflict; a duplicate key reruns the batch.
func TestInsertFinishedOutcomes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		answers  []fakeAnswer
		want     bool
		conflict bool
	}{
		{"inserted", []fakeAnswer{intRow(1, 1)}, true, false},
		{"row exists", []fakeAnswer{intRow(0, 1)}, false, false},
		{"case variant holds the key", []fakeAnswer{intRow(0, 0)}, false, true},
		{"duplicate key, then the row exists", []fakeAnswer{{err: mssql.Error{Number: errDuplicateIndex}}, intRow(0, 1)}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, f := newFakeStore(t, func(c fakeCall, n int) fakeAnswer {
				if c.query != sqlInsertFinished || n >= len(tc.answers) {
					return unexpected(c, n)
				}
				return tc.answers[n]
			})
			got, err := s.InsertFinished(context.Background(), "id-1", repo.StatusDone, json.RawMessage(`{"r":1}`))
			if tc.conflict != errors.Is(err, repo.ErrIDConflict) || (!tc.conflict && err != nil) {
				t.Fatalf("InsertFinished = %v, %v", got, err)
			}
			if got != tc.want {
				t.Fatalf("InsertFinished = %v, want %v", got, tc.want)
			}
			if n := len(f.callsOf(sqlInsertFinished)); n != len(tc.answers) {
				t.Fatalf("ran %d times, want %d", n, len(tc.answers))
			}
		})
	}
}

// TestNullsAreTyped: a NULL body reaches the driver as sql.NullString (go-mssqldb sends a
// typed NVARCHAR NULL), never as nil (the untyped NULL some TDS servers refuse).
func TestNullsAreTyped(t *testing.T) {
	t.Parallel()
	s, f := newFakeStore(t, func(c fakeCall, _ int) fakeAnswer { return intRow(1, 1) })
	ctx := context.Background()
	if _, err := s.InsertFinished(ctx, "d", repo.StatusDone, json.RawMessage(`1`)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.InsertFinished(ctx, "e", repo.StatusError, json.RawMessage(`2`)); err != nil {
		t.Fatal(err)
	}
	calls := f.callsOf(sqlInsertFinished)
	for i, null := range []string{"error", "payload"} {
		v, ok := calls[i].args[null]
		if !ok {
			t.Fatalf("call %d has no @%s", i, null)
		}
		if ns, ok := v.(sql.NullString); !ok || ns.Valid {
			t.Errorf("call %d: @%s is %#v, want an invalid sql.NullString", i, null, v)
		}
	}
	for _, c := range f.calls {
		for name, v := range c.args {
			if v == nil {
				t.Errorf("@%s of %.40q is an untyped nil", name, c.query)
			}
		}
	}
}

// TestTransientErrorsAreRetried: reads and writes are sent again after a deadlock or an
// Azure SQL transient error, with pauses, and give up after the policy's attempts; other
// errors are returned at once.
func TestTransientErrorsAreRetried(t *testing.T) {
	t.Parallel()
	for _, number := range []int32{1205, 4060, 40197, 40501, 40613, 49918} {
		t.Run(fmt.Sprint(number), func(t *testing.T) {
			t.Parallel()
			transientErr := fmt.Errorf("wrapped: %w", mssql.Error{Number: number, Message: transientErrors[number]})
			s, f := newFakeStore(t, func(c fakeCall, n int) fakeAnswer {
				switch {
				case n < 2:
					return fakeAnswer{err: transientErr}
				case c.query == sqlFind:
					return recordRow("x", "DONE", `{}`, nil, nil)
				case c.query == sqlStatuses:
					return noRows
				case c.query == sqlComplete, c.query == sqlPendingCount:
					return intRow(1)
				}
				return unexpected(c, n)
			})
			ctx := context.Background()
			if _, err := s.Find(ctx, "x"); err != nil {
				t.Errorf("Find: %v", err)
			}
			if _, err := s.Statuses(ctx, []string{"x"}); err != nil {
				t.Errorf("Statuses: %v", err)
			}
			if _, err := s.PendingCount(ctx); err != nil {
				t.Errorf("PendingCount: %v", err)
			}
			if out, err := s.Complete(ctx, "x", json.RawMessage(`{}`)); err != nil || out != repo.Transitioned {
				t.Errorf("Complete = %v, %v", out, err)
			}
			for _, q := range []string{sqlFind, sqlStatuses, sqlPendingCount, sqlComplete} {
				if n := len(f.callsOf(q)); n != 3 {
					t.Errorf("%.30q ran %d times, want 3", q, n)
				}
			}
		})
	}
	t.Run("gives up", func(t *testing.T) {
		t.Parallel()
		s, f := newFakeStore(t, func(fakeCall, int) fakeAnswer {
			return fakeAnswer{err: mssql.Error{Number: 40613, Message: "not available"}}
		})
		_, err := s.Find(context.Background(), "x")
		if !isErrorNumber(err, 40613) {
			t.Fatalf("Find = %v, want the 40613", err)
		}
		if n := len(f.callsOf(sqlFind)); n != int(s.retry.attempts) {
			t.Fatalf("ran %d times, want %d", n, s.retry.attempts)
		}
	})
	t.Run("other errors", func(t *testing.T) {
		t.Parallel()
		s, f := newFakeStore(t, func(fakeCall, int) fakeAnswer {
			return fakeAnswer{err: mssql.Error{Number: 208, Message: "Invalid object name 'OPENJSON'"}}
		})
		if _, err := s.Statuses(context.Background(), []string{"x"}); !isErrorNumber(err, 208) {
			t.Fatalf("Statuses = %v", err)
		}
		if n := len(f.callsOf(sqlStatuses)); n != 1 {
			t.Fatalf("ran %d times, want 1", n)
		}
	})
	t.Run("context ends the pause", func(t *testing.T) {
		t.Parallel()
		s, _ := newFakeStoreRetry(t, retryPolicy{attempts: 100, pause: time.Hour, maxPause: time.Hour}, func(fakeCall, int) fakeAnswer {
			return fakeAnswer{err: mssql.Error{Number: 1205, Message: "deadlock"}}
		})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := s.Find(ctx, "x")
		if !isErrorNumber(err, 1205) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Find = %v, want both the deadlock and the deadline", err)
		}
	})
}

// TestClassify covers every number retry acts on, including one that is not the last of
// its batch.
func TestClassify(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err     error
		inserts bool
		want    retryClass
	}{
		{mssql.Error{Number: 1205}, false, transient},
		{mssql.Error{Number: 40613}, true, transient},
		{mssql.Error{Number: 2627}, true, insertRace},
		{mssql.Error{Number: 2601}, true, insertRace},
		{mssql.Error{Number: 2627}, false, giveUp},
		{mssql.Error{Number: 3621, All: []mssql.Error{{Number: 2627}, {Number: 3621}}}, true, insertRace},
		{mssql.Error{Number: 3998, All: []mssql.Error{{Number: 1205}, {Number: 3998}}}, false, transient},
		{mssql.Error{Number: 650}, false, giveUp},
		{errors.New("i/o timeout"), false, giveUp},
		{nil, true, giveUp},
	} {
		if got := classify(tc.err, tc.inserts); got != tc.want {
			t.Errorf("classify(%v, inserts=%t) = %v, want %v", tc.err, tc.inserts, got, tc.want)
		}
	}
}

// TestRetentionBatchesAreCapped: a batch of 10,000 goes as statements of at most 4,000 rows
// (no lock escalation), and stops at the first short one.
func TestRetentionBatchesAreCapped(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		batch     int
		available int64
		wantParts []int64
	}{
		{"full", 10000, 1 << 40, []int64{4000, 4000, 2000}},
		{"runs out", 10000, 5000, []int64{4000, 4000}},
		{"small", 500, 1 << 40, []int64{500}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, del := range []bool{true, false} {
				left := tc.available
				s, f := newFakeStore(t, func(c fakeCall, _ int) fakeAnswer {
					part := c.args["batch"].(int64)
					n := min(part, left)
					left -= n
					return intRow(n)
				})
				var got int64
				var err error
				if del {
					got, err = s.DeleteFinishedBefore(context.Background(), time.Now(), tc.batch)
				} else {
					got, err = s.ExpirePendingBefore(context.Background(), time.Now(), tc.batch, json.RawMessage(`{}`))
				}
				if err != nil {
					t.Fatal(err)
				}
				var parts []int64
				for _, c := range f.calls[1:] {
					parts = append(parts, c.args["batch"].(int64))
				}
				if fmt.Sprint(parts) != fmt.Sprint(tc.wantParts) {
					t.Fatalf("delete=%t: statements of %v rows, want %v", del, parts, tc.wantParts)
				}
				if want := min(int64(tc.batch), tc.available); got != want {
					t.Fatalf("delete=%t: returned %d, want %d", del, got, want)
				}
			}
		})
	}
}

// TestEntraIDNeedsTheAzureADDriver: a DSN with fedauth opens with the "azuresql" driver,
// which this package does not import; without it OpenDB says what to import.
func TestEntraIDNeedsTheAzureADDriver(t *testing.T) {
	t.Parallel()
	name, err := driverFor("sqlserver://u:p@host:1433?database=d")
	if err != nil || name != DriverName {
		t.Fatalf("driverFor(SQL login) = %q, %v", name, err)
	}
	for _, dsn := range []string{
		"sqlserver://host:1433?database=d&fedauth=ActiveDirectoryDefault",
		"server=host;database=d;fedauth=ActiveDirectoryManagedIdentity",
	} {
		_, err := OpenDB(dsn)
		if err == nil || !strings.Contains(err.Error(), `"github.com/microsoft/go-mssqldb/azuread"`) || !strings.Contains(err.Error(), "fedauth=ActiveDirectory") {
			t.Errorf("OpenDB(%s) = %v, want an error naming the azuread import", dsn, err)
		}
	}
}

// TestNoAzureSDKWithoutEntraID: the store, the store opener and the waitroom package do not
// link the Azure SDK; only a program that imports azuread does.
func TestNoAzureSDKWithoutEntraID(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs go list")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH")
	}
	out, err := exec.Command(goTool, "list", "-deps",
		"github.com/camunda-waitroom/camunda-waitroom/repo/mssql",
		"github.com/camunda-waitroom/camunda-waitroom/repo/stores",
		"github.com/camunda-waitroom/camunda-waitroom/waitroom").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.Contains(pkg, "azure-sdk-for-go") || strings.HasSuffix(pkg, "go-mssqldb/azuread") {
			t.Errorf("%s is linked without Entra ID being asked for", pkg)
		}
	}
}

// isErrorNumber reports whether err carries SQL Server error number.
func isErrorNumber(err error, number int32) bool {
	return slices.Contains(errorNumbers(err), number)
}
