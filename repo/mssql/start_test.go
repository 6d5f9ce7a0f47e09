package mssql

// Text-level tests of the start protocol's and the heartbeats' statements (start_sql.go) and
// their arguments (start_args.go). What the statements do on a server is checked by the
// conformance suite only when WAITROOM_TEST_MSSQL_DSN is set.

import (
	"context"
	"database/sql"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	mssql "github.com/microsoft/go-mssqldb"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
)

var startStatements = map[string]string{
	"sqlBeginStart": sqlBeginStart, "sqlReadStart": sqlReadStart, "sqlClaimStart": sqlClaimStart,
	"sqlReleaseStart": sqlReleaseStart, "sqlSetInstance": sqlSetInstance,
	"sqlBeat": sqlBeat, "sqlWorkers": sqlWorkers, "sqlForgetWorker": sqlForgetWorker,
}

// The rules of sql.go, which store_test.go checks over statements, apply to these too.
func init() {
	for name, stmt := range startStatements {
		statements[name] = stmt
	}
}

func TestStartStatementText(t *testing.T) {
	t.Parallel()
	must := map[string][]string{
		"sqlBeginStart": {
			"SET XACT_ABORT ON;", "BEGIN TRANSACTION;", "COMMIT TRANSACTION;",
			"IF NOT EXISTS (SELECT 1 FROM dbo.process_store WITH (UPDLOCK, HOLDLOCK) WHERE correlation_id = @id)",
			"VALUES (@id, 'PENDING', @owner, @key, 1, DATEADD(millisecond, @leaseMs, @now), @now, @now);",
			"SELECT @created, " + startColumns,
			"FROM dbo.process_store WHERE " + idIs + ";",
		},
		"sqlReadStart": {"FROM dbo.process_store WITH (READCOMMITTEDLOCK) WHERE " + idIs},
		"sqlClaimStart": {
			"UPDATE dbo.process_store",
			"SET start_attempt = @attempt + 1, start_lease_until = DATEADD(millisecond, @leaseMs, SYSUTCDATETIME()),",
			"WHERE " + idIs,
			"AND status = 'PENDING' AND process_key IS NOT NULL AND process_instance_id IS NULL",
			"AND COALESCE(start_attempt, 0) = @attempt",
			"AND (start_lease_until IS NULL OR start_lease_until <= SYSUTCDATETIME());",
			"SELECT @@ROWCOUNT;",
		},
		"sqlReleaseStart": {
			"WHERE " + idIs,
			"AND status = 'PENDING' AND process_instance_id IS NULL AND COALESCE(start_attempt, 0) = @attempt;",
			"SELECT @@ROWCOUNT;",
		},
		"sqlSetInstance": {
			"SET process_instance_id = @instance,",
			"WHERE " + idIs + " AND process_instance_id IS NULL;",
			"SET @n = @@ROWCOUNT;",
			"SELECT @n, COALESCE(process_instance_id, '') FROM dbo.process_store WITH (READCOMMITTEDLOCK) WHERE " + idIs,
		},
		"sqlBeat": {
			"UPDATE dbo.process_store_heartbeat WITH (UPDLOCK, HOLDLOCK)",
			"WHERE worker_id = @worker;", "IF @@ROWCOUNT = 0", "COMMIT TRANSACTION;",
		},
		"sqlWorkers":      {"FROM dbo.process_store_heartbeat WITH (READCOMMITTEDLOCK, READPAST)", "DATEDIFF_BIG(millisecond, beat_at, SYSUTCDATETIME())"},
		"sqlForgetWorker": {"WHERE worker_id = @worker AND beat_at <= DATEADD(millisecond, -@olderMs, SYSUTCDATETIME());", "SELECT @@ROWCOUNT;"},
	}
	for name, wants := range must {
		got := norm(startStatements[name])
		for _, w := range wants {
			if !strings.Contains(got, norm(w)) {
				t.Errorf("%s lacks %q:\n%s", name, w, startStatements[name])
			}
		}
	}
	for name, stmt := range startStatements {
		if _, ok := statements[name]; !ok {
			t.Errorf("%s is not in statements: the rules of sql.go are not checked on it", name)
		}
		// A guarded write reports its rows affected.
		if (strings.HasPrefix(strings.TrimSpace(stmt), "UPDATE") || strings.HasPrefix(strings.TrimSpace(stmt), "DELETE")) &&
			!strings.Contains(stmt, "@@ROWCOUNT") {
			t.Errorf("%s writes without reading @@ROWCOUNT", name)
		}
	}
}

// TestStartArgTypes: ids, owners, keys, instance and worker ids bind as VARCHAR, durations as
// BIGINT milliseconds, and no argument is NULL.
func TestStartArgTypes(t *testing.T) {
	t.Parallel()
	calls := map[string][]any{
		"beginStart":   argsBeginStart("id-1", "owner-1", "onboard-user", 15*time.Second),
		"claimStart":   argsClaimStart("id-1", 3, 15*time.Second, "owner-2"),
		"releaseStart": argsReleaseStart("id-1", 3),
		"setInstance":  argsSetInstance("id-1", "5f0c-instance"),
		"worker":       argsWorker("replica-1"),
		"forgetWorker": argsForgetWorker("replica-1", 4*time.Second),
	}
	wantType := map[string]reflect.Type{
		"id": reflect.TypeFor[mssql.VarChar](), "owner": reflect.TypeFor[mssql.VarChar](),
		"key": reflect.TypeFor[mssql.VarChar](), "instance": reflect.TypeFor[mssql.VarChar](),
		"worker": reflect.TypeFor[mssql.VarChar](), "leaseMs": reflect.TypeFor[int64](),
		"attempt": reflect.TypeFor[int64](), "olderMs": reflect.TypeFor[int64](),
	}
	using := func(param string) bool {
		for _, s := range startStatements {
			if strings.Contains(s, "@"+param) {
				return true
			}
		}
		return false
	}
	for call, args := range calls {
		for _, a := range args {
			na, ok := a.(sql.NamedArg)
			if !ok {
				t.Errorf("%s: positional argument %T", call, a)
				continue
			}
			if na.Value == nil {
				t.Errorf("%s: @%s is an untyped NULL", call, na.Name)
				continue
			}
			if got, want := reflect.TypeOf(na.Value), wantType[na.Name]; got != want {
				t.Errorf("%s: @%s is %v, want %v", call, na.Name, got, want)
			}
			if !using(na.Name) {
				t.Errorf("%s: no statement uses @%s", call, na.Name)
			}
		}
	}
	if got := argsBeginStart("i", "o", "k", 1500*time.Millisecond)[3].(sql.NamedArg).Value; got != int64(1500) {
		t.Errorf("leaseMs = %v, want 1500", got)
	}
}

// TestStartValidationBeforeDatabase: bad input is refused before the (unreachable) database.
func TestStartValidationBeforeDatabase(t *testing.T) {
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
	if _, _, err := s.BeginStart(ctx, "ok", "bad key!", time.Second); !errors.Is(err, repo.ErrInvalidArgument) {
		t.Errorf("BeginStart: %v", err)
	}
	if _, err := s.ClaimStart(ctx, "bad id", 1, time.Second); !errors.Is(err, repo.ErrInvalidID) {
		t.Errorf("ClaimStart: %v", err)
	}
	if _, err := s.SetInstance(ctx, "ok", ""); !errors.Is(err, repo.ErrInvalidArgument) {
		t.Errorf("SetInstance: %v", err)
	}
	if err := s.Beat(ctx, strings.Repeat("w", 65)); !errors.Is(err, repo.ErrInvalidArgument) {
		t.Errorf("Beat: %v", err)
	}
}
