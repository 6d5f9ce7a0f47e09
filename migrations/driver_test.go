package migrations

import (
	"strings"
	"testing"
)

// TestMSSQLLockText checks the SQL Server migration lock as text (no SQL Server runs in the
// tests): the statements golang-migrate's sqlserver driver sends, a
// session-owned exclusive application lock that waits without a timeout, so concurrent Up
// calls from several processes queue instead of racing.
func TestMSSQLLockText(t *testing.T) {
	t.Parallel()
	for _, want := range []string{
		"EXEC @lockResult = sp_getapplock @Resource = @p1, @LockMode = 'Exclusive', @LockOwner = 'Session', @LockTimeout = -1;",
		"SELECT @lockResult;",
	} {
		if !strings.Contains(mssqlLock, want) {
			t.Errorf("lock statement lacks %q", want)
		}
	}
	// One fixed resource: the login's default schema must not split the lock, since every
	// table is dbo.*.
	if mssqlLockResource != "camunda-waitroom/dbo.process_store_migrations" {
		t.Errorf("lock resource %q", mssqlLockResource)
	}
	if mssqlUnlock != "EXEC sp_releaseapplock @Resource = @p1, @LockOwner = 'Session'" {
		t.Errorf("unlock statement %q", mssqlUnlock)
	}
	for name, stmt := range map[string]string{"createTable": mssqlDialect.createTable, "selectVersion": mssqlDialect.selectVersion} {
		if !strings.Contains(stmt, "dbo."+Table) {
			t.Errorf("%s does not use dbo.%s: %s", name, Table, stmt)
		}
	}
	if !strings.Contains(mssqlDialect.createTable, "IF OBJECT_ID(N'dbo."+Table+"', N'U') IS NULL") {
		t.Errorf("createTable is not guarded: %s", mssqlDialect.createTable)
	}
}
