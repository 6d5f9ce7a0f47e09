package mssql

// These tests are in package mssql to reach the statements and argument builders. Only the
// text-level tests run without a SQL Server, so what the statements do on a server is not observed
// unless WAITROOM_TEST_MSSQL_DSN is set.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-sql/civil"
	mssql "github.com/microsoft/go-mssqldb"

	"github.com/camunda-waitroom/camunda-waitroom/migrations"
	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/repo/repotest"
)

// TestConformance runs the shared suite against a real SQL Server twice: with
// READ_COMMITTED_SNAPSHOT OFF, then ON (the Azure SQL Database default), and puts the
// setting back as it found it. The database must be reserved for the test run: the suite
// expires and deletes rows across the whole table, and switching the setting ends every
// other session of the database (WITH ROLLBACK IMMEDIATE), so the login needs ALTER on it.
func TestConformance(t *testing.T) {
	dsn := os.Getenv("WAITROOM_TEST_MSSQL_DSN")
	if dsn == "" {
		t.Skip("WAITROOM_TEST_MSSQL_DSN not set: SQL Server conformance not run (no SQL Server to run against)")
	}
	ctx := context.Background()
	admin, err := OpenDB(dsn)
	if err != nil {
		t.Fatal(err)
	}
	admin.SetMaxOpenConns(1)
	t.Cleanup(func() { admin.Close() })
	if err := migrations.Up(ctx, admin, repo.DriverMSSQL); err != nil {
		t.Fatal(err)
	}
	was, err := readSettings(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	setRCSI := func(t *testing.T, on bool) {
		t.Helper()
		state := map[bool]string{true: "ON", false: "OFF"}[on]
		if _, err := admin.ExecContext(ctx, "ALTER DATABASE CURRENT SET READ_COMMITTED_SNAPSHOT "+state+" WITH ROLLBACK IMMEDIATE"); err != nil {
			t.Fatalf("set READ_COMMITTED_SNAPSHOT %s (the second pass needs it; the login needs ALTER on the database): %v", state, err)
		}
	}
	t.Cleanup(func() { setRCSI(t, was.ReadCommittedSnapshot) })
	for _, rcsi := range []bool{false, true} {
		t.Run(fmt.Sprintf("READ_COMMITTED_SNAPSHOT=%t", rcsi), func(t *testing.T) {
			setRCSI(t, rcsi)
			repotest.Run(t, func(t *testing.T, owner string) repo.Store {
				st, err := Open(ctx, repo.Options{Driver: repo.DriverMSSQL, DSN: dsn, Owner: owner})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				if st.Settings().ReadCommittedSnapshot != rcsi {
					t.Fatalf("Settings().ReadCommittedSnapshot = %t, want %t", st.Settings().ReadCommittedSnapshot, rcsi)
				}
				st.DB().SetMaxOpenConns(8)
				return st
			})
		})
	}
}

// statements lists every statement with its name. A new statement goes here, so that the
// rules of sql.go are checked on it.
var statements = map[string]string{
	"sqlCreate": sqlCreate, "sqlComplete": sqlComplete, "sqlFail": sqlFail, "sqlStatusOf": sqlStatusOf,
	"sqlInsertFinished": sqlInsertFinished, "sqlFind": sqlFind, "sqlStatuses": sqlStatuses,
	"sqlList": sqlList, "sqlListStatus": sqlListStatus, "sqlDelete": sqlDelete,
	"sqlPendingCount": sqlPendingCount, "sqlClearOwned": sqlClearOwned,
	"sqlDeleteFinishedBefore": sqlDeleteFinishedBefore, "sqlExpirePendingBefore": sqlExpirePendingBefore,
	"sqlSettings": sqlSettings,
}

func norm(s string) string { return strings.Join(strings.Fields(s), " ") }

func TestStatementText(t *testing.T) {
	t.Parallel()
	exact := "correlation_id = @id AND correlation_id = @id COLLATE Latin1_General_100_BIN2"
	must := map[string][]string{
		"sqlCreate": {
			"SET XACT_ABORT ON;",
			"BEGIN TRANSACTION;",
			"UPDATE dbo.process_store WITH (UPDLOCK, HOLDLOCK)",
			"WHERE " + exact + " AND status = 'PENDING';",
			"IF @@ROWCOUNT = 0 AND NOT EXISTS (SELECT 1 FROM dbo.process_store WITH (UPDLOCK, HOLDLOCK) WHERE correlation_id = @id)",
			"INSERT INTO dbo.process_store",
			"DECLARE @now DATETIME2(3) = SYSUTCDATETIME();",
			"SELECT " + columns + " FROM dbo.process_store WHERE " + exact + ";",
			"COMMIT TRANSACTION;",
		},
		"sqlComplete": {"SET status = 'DONE', payload_json = @body", "WHERE " + exact + " AND status = 'PENDING';", "SYSUTCDATETIME()", "SELECT @@ROWCOUNT;"},
		"sqlFail":     {"SET status = 'ERROR', error_json = @body", "WHERE " + exact + " AND status = 'PENDING';", "SYSUTCDATETIME()", "SELECT @@ROWCOUNT;"},
		"sqlInsertFinished": {
			"SET XACT_ABORT ON;", "BEGIN TRANSACTION;",
			"WHERE NOT EXISTS (SELECT 1 FROM dbo.process_store WITH (UPDLOCK, HOLDLOCK) WHERE correlation_id = @id);",
			"SET @inserted = @@ROWCOUNT;",
			"SELECT @inserted, CASE WHEN EXISTS (SELECT 1 FROM dbo.process_store WHERE " + exact + ") THEN 1 ELSE 0 END;",
			"SYSUTCDATETIME()", "COMMIT TRANSACTION;",
		},
		"sqlStatusOf": {"WHERE " + exact},
		"sqlFind":     {"WHERE " + exact},
		"sqlDelete":   {"WHERE " + exact + ";", "SELECT @@ROWCOUNT;"},
		"sqlStatuses": {
			"FROM dbo.process_store p WITH (READCOMMITTEDLOCK, READPAST)",
			"JOIN OPENJSON(@ids) WITH (id varchar(64) '$') j ON p.correlation_id = j.id AND p.correlation_id = j.id COLLATE Latin1_General_100_BIN2",
		},
		"sqlList":                 {"SELECT TOP (@limit)", "WHERE correlation_id > @after ORDER BY correlation_id"},
		"sqlListStatus":           {"SELECT TOP (@limit)", "WHERE correlation_id > @after AND status = @status ORDER BY correlation_id"},
		"sqlClearOwned":           {"WHERE owner = @owner AND status = 'PENDING';", "SYSUTCDATETIME()", "SELECT @@ROWCOUNT;"},
		"sqlDeleteFinishedBefore": {"DELETE TOP (@batch) FROM dbo.process_store WITH (READCOMMITTEDLOCK, READPAST)", "WHERE status IN ('DONE', 'ERROR') AND updated_at < @cutoff;", "SELECT @@ROWCOUNT;"},
		"sqlExpirePendingBefore":  {"UPDATE TOP (@batch) dbo.process_store WITH (READCOMMITTEDLOCK, READPAST)", "WHERE status = 'PENDING' AND started_at < @cutoff;", "SYSUTCDATETIME()", "SELECT @@ROWCOUNT;"},
		"sqlPendingCount":         {"WHERE status = 'PENDING'"},
		"sqlSettings":             {"FROM sys.databases d", "d.compatibility_level, d.is_read_committed_snapshot_on", "WHERE d.database_id = DB_ID()", "COLLATIONPROPERTY(", "'ComparisonStyle'"},
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
		if strings.Contains(stmt, "process_store") && !strings.Contains(stmt, "dbo.process_store") && name != "sqlSettings" {
			t.Errorf("%s names the table without its schema", name)
		}
	}
}

// tableHints returns the contents of every WITH (...) table hint list in stmt, upper-cased
// and without spaces ("READCOMMITTEDLOCK,READPAST"). OPENJSON's WITH (column list) is not
// a hint list and is skipped.
func tableHints(stmt string) []string {
	var out []string
	up := strings.ToUpper(norm(stmt))
	for i := 0; ; {
		j := strings.Index(up[i:], "WITH (")
		if j < 0 {
			return out
		}
		start := i + j + len("WITH (")
		end := strings.Index(up[start:], ")")
		list := strings.ReplaceAll(up[start:start+end], " ", "")
		if !strings.HasSuffix(strings.TrimSpace(up[:i+j]), ")") || strings.Contains(up[:i+j], "DBO.PROCESS_STORE") {
			if !strings.Contains(list, "VARCHAR") { // OPENJSON(@ids) WITH (id varchar(64) '$')
				out = append(out, list)
			}
		}
		i = start + end
	}
}

// TestReadPastNeedsReadCommittedLock pins rule 1 of sql.go on every statement: READPAST
// only with READCOMMITTEDLOCK (error 650 under READ_COMMITTED_SNAPSHOT otherwise), and
// READCOMMITTEDLOCK as the only granularity hint of its list (SQL Server allows one).
func TestReadPastNeedsReadCommittedLock(t *testing.T) {
	t.Parallel()
	granularity := []string{"PAGLOCK", "NOLOCK", "READCOMMITTEDLOCK", "ROWLOCK", "TABLOCK", "TABLOCKX"}
	skipping := 0
	for name, stmt := range statements {
		for _, list := range tableHints(stmt) {
			hints := strings.Split(list, ",")
			if !slices.Contains(hints, "READPAST") {
				continue
			}
			skipping++
			if !slices.Contains(hints, "READCOMMITTEDLOCK") {
				t.Errorf("%s: WITH (%s) has READPAST without READCOMMITTEDLOCK", name, list)
			}
			n := 0
			for _, h := range hints {
				if slices.Contains(granularity, h) {
					n++
				}
			}
			if n > 1 {
				t.Errorf("%s: WITH (%s) has %d granularity hints; SQL Server allows one", name, list, n)
			}
		}
	}
	if skipping != 4 {
		t.Errorf("%d hint lists skip locked rows, want 4 (Statuses, the two retention statements and Workers)", skipping)
	}
	// The check itself finds a bad list.
	if l := tableHints("SELECT 1 FROM dbo.process_store WITH (ROWLOCK, READPAST)"); len(l) != 1 || l[0] != "ROWLOCK,READPAST" {
		t.Fatalf("tableHints = %q", l)
	}
}

// TestIDsAreComparedExactly pins rule 2 of sql.go: every comparison of correlation_id with
// an id is idIs or idJoin (byte for byte), except the insert guards, which use idTaken.
func TestIDsAreComparedExactly(t *testing.T) {
	t.Parallel()
	guard := norm("NOT EXISTS (SELECT 1 FROM dbo.process_store WITH (UPDLOCK, HOLDLOCK) WHERE correlation_id = @id)")
	for name, stmt := range statements {
		rest := norm(stmt)
		rest = strings.ReplaceAll(rest, norm(idIs), "")
		rest = strings.ReplaceAll(rest, norm(idJoin), "")
		guards := strings.Count(rest, guard)
		rest = strings.ReplaceAll(rest, guard, "")
		if strings.Contains(rest, "correlation_id =") || strings.Contains(rest, "= @id") || strings.Contains(rest, "= j.id") {
			t.Errorf("%s compares an id without %s:\n%s", name, binaryCollation, stmt)
		}
		inserts := strings.Contains(stmt, "INSERT INTO dbo.process_store (") // not the heartbeat table, keyed in binary (003)
		if inserts != (guards == 1) {
			t.Errorf("%s: %d insert guards; an INSERT needs exactly one, nothing else any", name, guards)
		}
		if inserts && !(strings.Contains(stmt, "SET XACT_ABORT ON;") && strings.Contains(stmt, "BEGIN TRANSACTION;") && strings.Contains(stmt, "COMMIT TRANSACTION;")) {
			t.Errorf("%s inserts outside SET XACT_ABORT ON and one transaction", name)
		}
	}
	if !strings.HasSuffix(idIs, "COLLATE Latin1_General_100_BIN2") || !strings.HasSuffix(idJoin, "COLLATE Latin1_General_100_BIN2") {
		t.Fatal("idIs/idJoin lost the binary collation")
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
		"insertError":    argsInsertFinished("id-1", repo.StatusError, nil, body),
		"statuses":       statuses,
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
			if na.Value == nil {
				t.Errorf("%s: @%s is an untyped nil; send a typed NULL (nullBody)", call, na.Name)
				continue
			}
			if _, isNull := na.Value.(sql.NullString); isNull && (na.Name == "body" || na.Name == "payload" || na.Name == "error") {
				continue // a NULL body, typed
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
// array of VARCHAR (the store chunks; each statement gets one chunk).
func TestStatusesChunks(t *testing.T) {
	t.Parallel()
	ids := make([]string, 4001)
	for i := range ids {
		ids[i] = fmt.Sprintf("id-%d", i)
	}
	s, f := newFakeStore(t, func(c fakeCall, n int) fakeAnswer {
		if c.query != sqlStatuses {
			return unexpected(c, n)
		}
		return noRows
	})
	if _, err := s.Statuses(context.Background(), ids); err != nil {
		t.Fatal(err)
	}
	var sizes []int
	var all []string
	for _, c := range f.callsOf(sqlStatuses) {
		if len(c.args) != 1 {
			t.Fatalf("%d arguments per chunk, want 1", len(c.args))
		}
		v, ok := c.args["ids"].(mssql.VarCharMax)
		if !ok {
			t.Fatalf("ids are %T, want mssql.VarCharMax", c.args["ids"])
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
	s, err := build(db, repo.Options{Owner: "o"}, defaultRetry)
	if err != nil {
		t.Fatal(err)
	}
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
