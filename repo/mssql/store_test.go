package mssql

// These tests are in package mssql to reach the statements and argument builders. Only the
// text-level tests run on the development machine: SQL Server cannot run there, so what the
// statements do on a server is not observed unless WAITROOM_TEST_MSSQL_DSN is set.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-sql/civil"
	mssql "github.com/microsoft/go-mssqldb"

	"github.com/camunda-waitroom/camunda-waitroom/migrations"
	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/repo/repotest"
)

// TestConformance runs the shared suite against a real SQL Server. The database must be
// reserved for the test run: the suite expires and deletes rows across the whole table.
func TestConformance(t *testing.T) {
	dsn := os.Getenv("WAITROOM_TEST_MSSQL_DSN")
	if dsn == "" {
		t.Skip("WAITROOM_TEST_MSSQL_DSN not set: SQL Server conformance not run (SQL Server cannot run on this machine)")
	}
	db, err := OpenDB(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if err := migrations.Up(context.Background(), db, repo.DriverMSSQL); err != nil {
		t.Fatal(err)
	}
	db.Close()
	repotest.Run(t, func(t *testing.T, owner string) repo.Store {
		st, err := Open(context.Background(), repo.Options{Driver: repo.DriverMSSQL, DSN: dsn, Owner: owner})
		if err != nil {
			t.Fatal(err)
		}
		st.DB().SetMaxOpenConns(8)
		t.Cleanup(func() { st.Close() })
		return st
	})
}

// statements lists every statement with its name.
var statements = map[string]string{
	"sqlCreate": sqlCreate, "sqlComplete": sqlComplete, "sqlFail": sqlFail, "sqlStatusOf": sqlStatusOf,
	"sqlInsertFinished": sqlInsertFinished, "sqlFind": sqlFind, "sqlStatuses": sqlStatuses,
	"sqlList": sqlList, "sqlListStatus": sqlListStatus, "sqlDelete": sqlDelete,
	"sqlPendingCount": sqlPendingCount, "sqlClearOwned": sqlClearOwned,
	"sqlDeleteFinishedBefore": sqlDeleteFinishedBefore, "sqlExpirePendingBefore": sqlExpirePendingBefore,
}

func TestStatementText(t *testing.T) {
	t.Parallel()
	norm := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	must := map[string][]string{
		"sqlCreate": {
			"BEGIN TRANSACTION;",
			"UPDATE dbo.process_store WITH (UPDLOCK, HOLDLOCK)",
			"WHERE correlation_id = @id AND status = 'PENDING';",
			"IF @@ROWCOUNT = 0 AND NOT EXISTS (SELECT 1 FROM dbo.process_store WITH (UPDLOCK, HOLDLOCK) WHERE correlation_id = @id)",
			"INSERT INTO dbo.process_store",
			"DECLARE @now DATETIME2(3) = SYSUTCDATETIME();",
			"SELECT " + columns + " FROM dbo.process_store WHERE correlation_id = @id;",
			"COMMIT TRANSACTION;",
			"SET XACT_ABORT ON;",
		},
		"sqlComplete":       {"SET status = 'DONE', payload_json = @body", "WHERE correlation_id = @id AND status = 'PENDING';", "SYSUTCDATETIME()", "SELECT @@ROWCOUNT;"},
		"sqlFail":           {"SET status = 'ERROR', error_json = @body", "WHERE correlation_id = @id AND status = 'PENDING';", "SYSUTCDATETIME()", "SELECT @@ROWCOUNT;"},
		"sqlInsertFinished": {"WHERE NOT EXISTS (SELECT 1 FROM dbo.process_store WITH (UPDLOCK, HOLDLOCK) WHERE correlation_id = @id)", "SYSUTCDATETIME()", "SELECT @@ROWCOUNT;"},
		"sqlStatuses": {
			"FROM dbo.process_store p WITH (READPAST)",
			"JOIN OPENJSON(@ids) WITH (id varchar(64) '$') j ON j.id = p.correlation_id",
		},
		"sqlList":                 {"SELECT TOP (@limit)", "WHERE correlation_id > @after ORDER BY correlation_id"},
		"sqlListStatus":           {"SELECT TOP (@limit)", "WHERE correlation_id > @after AND status = @status ORDER BY correlation_id"},
		"sqlClearOwned":           {"WHERE owner = @owner AND status = 'PENDING';", "SYSUTCDATETIME()", "SELECT @@ROWCOUNT;"},
		"sqlDeleteFinishedBefore": {"DELETE TOP (@batch) FROM dbo.process_store WITH (ROWLOCK, READPAST)", "WHERE status IN ('DONE', 'ERROR') AND updated_at < @cutoff;", "SELECT @@ROWCOUNT;"},
		"sqlExpirePendingBefore":  {"UPDATE TOP (@batch) dbo.process_store WITH (ROWLOCK, READPAST)", "WHERE status = 'PENDING' AND started_at < @cutoff;", "SYSUTCDATETIME()", "SELECT @@ROWCOUNT;"},
		"sqlPendingCount":         {"WHERE status = 'PENDING'"},
	}
	for name, wants := range must {
		got := norm(statements[name])
		for _, w := range wants {
			if !strings.Contains(got, norm(w)) {
				t.Errorf("%s lacks %q:\n%s", name, w, statements[name])
			}
		}
	}
	for name, stmt := range statements {
		up := strings.ToUpper(stmt)
		for _, banned := range []string{"NOLOCK", "GETDATE", "SYSDATETIME()", "GETUTCDATE", "MERGE ", "\nGO"} {
			if strings.Contains(up, banned) {
				t.Errorf("%s uses %s", name, strings.TrimSpace(banned))
			}
		}
		// Every statement that writes updated_at takes it from the server's UTC clock.
		if strings.Contains(stmt, "updated_at =") && !strings.Contains(stmt, "SYSUTCDATETIME()") {
			t.Errorf("%s sets updated_at without SYSUTCDATETIME()", name)
		}
		if strings.Contains(stmt, "process_store") && !strings.Contains(stmt, "dbo.process_store") {
			t.Errorf("%s names the table without its schema", name)
		}
	}
}

// TestArgTypes checks every argument the store binds: keys as VARCHAR (mssql.VarChar), never
// a Go string, which go-mssqldb would send as NVARCHAR.
func TestArgTypes(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.FixedZone("X", 3600))
	body := json.RawMessage(`{"a":"é"}`)
	stmtDone, listDone := argsList(repo.ListOptions{After: "x", Limit: 10, Status: repo.StatusDone})
	stmtAll, listAll := argsList(repo.ListOptions{Limit: 10})
	statuses, err := argsStatuses([]string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string][]any{
		"create":         argsCreate("id-1", "owner-1"),
		"transition":     argsTransition("id-1", body),
		"id":             argsID("id-1"),
		"insertFinished": argsInsertFinished("id-1", repo.StatusDone, body, nil),
		"statuses":       statuses[0],
		"list status":    listDone,
		"list":           listAll,
		"clearOwned":     argsClearOwned("owner-1", body),
		"deleteFinished": argsDeleteFinished(now, 5),
		"expirePending":  argsExpirePending(now, 5, body),
	}
	if stmtDone != sqlListStatus || stmtAll != sqlList {
		t.Error("argsList picked the wrong statement")
	}
	wantType := map[string]reflect.Type{
		"id": reflect.TypeFor[mssql.VarChar](), "owner": reflect.TypeFor[mssql.VarChar](),
		"status": reflect.TypeFor[mssql.VarChar](), "after": reflect.TypeFor[mssql.VarChar](),
		"ids":  reflect.TypeFor[mssql.VarCharMax](),
		"body": reflect.TypeFor[mssql.NVarCharMax](), "payload": reflect.TypeFor[mssql.NVarCharMax](),
		"error": reflect.TypeFor[mssql.NVarCharMax](), "limit": reflect.TypeFor[int64](),
		"batch": reflect.TypeFor[int64](), "cutoff": reflect.TypeFor[civil.DateTime](),
	}
	for call, args := range calls {
		for _, a := range args {
			na, ok := a.(sql.NamedArg)
			if !ok {
				t.Errorf("%s: positional argument %T; the statements use named parameters", call, a)
				continue
			}
			if na.Value == nil { // NULL body
				continue
			}
			want, known := wantType[na.Name]
			if !known {
				t.Errorf("%s: unexpected parameter @%s", call, na.Name)
				continue
			}
			if got := reflect.TypeOf(na.Value); got != want {
				t.Errorf("%s: @%s is %v, want %v", call, na.Name, got, want)
			}
			if _, isString := na.Value.(string); isString {
				t.Errorf("%s: @%s is a Go string (NVARCHAR)", call, na.Name)
			}
			if !strings.Contains(statementsUsing(na.Name), "@"+na.Name) {
				t.Errorf("%s: no statement uses @%s", call, na.Name)
			}
		}
	}
	// The cutoff is UTC wall time, rounded up to DATETIME2's 100 ns.
	cut := argsDeleteFinished(now, 5)[0].(sql.NamedArg).Value.(civil.DateTime)
	if want := civil.DateTimeOf(time.Date(2025, 1, 2, 2, 4, 5, 123456800, time.UTC)); cut != want {
		t.Errorf("cutoff = %v, want %v", cut, want)
	}
}

func statementsUsing(param string) string {
	var b strings.Builder
	for _, s := range statements {
		if strings.Contains(s, "@"+param) {
			b.WriteString(s)
		}
	}
	return b.String()
}

// TestStatusesChunks: 4,001 ids go in three statements of 2,000, 2,000 and 1, each a JSON
// array of VARCHAR.
func TestStatusesChunks(t *testing.T) {
	t.Parallel()
	ids := make([]string, 4001)
	for i := range ids {
		ids[i] = fmt.Sprintf("id-%d", i)
	}
	batches, err := argsStatuses(ids)
	if err != nil {
		t.Fatal(err)
	}
	var sizes []int
	var all []string
	for _, args := range batches {
		if len(args) != 1 {
			t.Fatalf("%d arguments per chunk, want 1", len(args))
		}
		v, ok := args[0].(sql.NamedArg).Value.(mssql.VarCharMax)
		if !ok {
			t.Fatalf("ids are %T, want mssql.VarCharMax", args[0].(sql.NamedArg).Value)
		}
		var chunk []string
		if err := json.Unmarshal([]byte(v), &chunk); err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(chunk))
		all = append(all, chunk...)
	}
	if !reflect.DeepEqual(sizes, []int{2000, 2000, 1}) {
		t.Fatalf("chunk sizes %v, want [2000 2000 1]", sizes)
	}
	if !reflect.DeepEqual(all, ids) {
		t.Fatal("the chunks do not hold the ids in order")
	}
	if repo.StatusesChunkSize != 2000 {
		t.Fatalf("StatusesChunkSize = %d", repo.StatusesChunkSize)
	}
}

func TestRetryDeadlock(t *testing.T) {
	t.Parallel()
	victim := fmt.Errorf("wrapped: %w", mssql.Error{Number: errDeadlockVictim, Message: "deadlock"})
	calls := 0
	err := retryDeadlock(context.Background(), func() error {
		calls++
		if calls < 3 {
			return victim
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("retryDeadlock = %v after %d calls, want nil after 3", err, calls)
	}
	calls = 0
	err = retryDeadlock(context.Background(), func() error { calls++; return victim })
	if !errors.Is(err, victim) || calls != deadlockRetries+1 {
		t.Fatalf("retryDeadlock = %v after %d calls, want the victim error after %d", err, calls, deadlockRetries+1)
	}
	calls = 0
	other := errors.New("other")
	if err := retryDeadlock(context.Background(), func() error { calls++; return other }); err != other || calls != 1 {
		t.Fatalf("a non-deadlock error was retried: %v, %d calls", err, calls)
	}
	if !isDuplicateKey(mssql.Error{Number: errDuplicateKey}) || !isDuplicateKey(mssql.Error{Number: errDuplicateIndex}) || isDuplicateKey(other) {
		t.Fatal("isDuplicateKey")
	}
}

func TestUTCWall(t *testing.T) {
	t.Parallel()
	in := time.Date(2025, 1, 2, 3, 4, 5, 6000000, time.FixedZone("X", 7200))
	got := utcWall(in)
	if got.Location() != time.UTC || got.Hour() != 3 || got.Nanosecond() != 6000000 {
		t.Fatalf("utcWall(%v) = %v", in, got)
	}
}

// TestValidationBeforeDatabase: the store checks input before it touches the database, here
// one it cannot even reach.
func TestValidationBeforeDatabase(t *testing.T) {
	t.Parallel()
	db, err := OpenDB("sqlserver://nobody:x@127.0.0.1:1?database=none&dial+timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := &Store{db: db, owner: "o", maxBody: repo.DefaultMaxBodyBytes}
	ctx := context.Background()
	if _, err := s.Create(ctx, "bad id"); !errors.Is(err, repo.ErrInvalidID) {
		t.Errorf("Create: %v", err)
	}
	if _, err := s.Complete(ctx, "ok", json.RawMessage(`{`)); !errors.Is(err, repo.ErrInvalidJSON) {
		t.Errorf("Complete: %v", err)
	}
	if _, err := s.Statuses(ctx, []string{"ok", strings.Repeat("x", 65)}); !errors.Is(err, repo.ErrInvalidID) {
		t.Errorf("Statuses: %v", err)
	}
	if _, err := New(ctx, db, repo.Options{}); err == nil || !strings.Contains(err.Error(), "Options.Owner") {
		t.Errorf("New without owner: %v", err)
	}
}
