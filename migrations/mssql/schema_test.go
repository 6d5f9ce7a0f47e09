package mssql

import (
	"strings"
	"testing"

	"github.com/camunda-waitroom/camunda-waitroom/migrations/internal/dialect"
)

// TestLockText checks the SQL Server migration lock as text (no SQL Server runs in the
// tests): the statements golang-migrate's sqlserver driver sends, a
// session-owned exclusive application lock that waits without a timeout, so concurrent Up
// calls from several processes queue instead of racing.
func TestLockText(t *testing.T) {
	t.Parallel()
	for _, want := range []string{
		"EXEC @lockResult = sp_getapplock @Resource = @p1, @LockMode = 'Exclusive', @LockOwner = 'Session', @LockTimeout = -1;",
		"SELECT @lockResult;",
	} {
		if !strings.Contains(lockSQL, want) {
			t.Errorf("lock statement lacks %q", want)
		}
	}
	// One fixed resource: the login's default schema must not split the lock, since every
	// table is dbo.*.
	if lockResource != "camunda-waitroom/dbo.process_store_migrations" {
		t.Errorf("lock resource %q", lockResource)
	}
	if unlockSQL != "EXEC sp_releaseapplock @Resource = @p1, @LockOwner = 'Session'" {
		t.Errorf("unlock statement %q", unlockSQL)
	}
	for name, stmt := range map[string]string{"CreateTable": Dialect.CreateTable, "SelectVersion": Dialect.SelectVersion} {
		if !strings.Contains(stmt, "dbo."+dialect.Table) {
			t.Errorf("%s does not use dbo.%s: %s", name, dialect.Table, stmt)
		}
	}
	if !strings.Contains(Dialect.CreateTable, "IF OBJECT_ID(N'dbo."+dialect.Table+"', N'U') IS NULL") {
		t.Errorf("CreateTable is not guarded: %s", Dialect.CreateTable)
	}
}
