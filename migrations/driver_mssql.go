package migrations

import (
	"context"
	"fmt"
)

// mssqlDialect locks like golang-migrate's sqlserver driver (database/sqlserver/sqlserver.go,
// Lock and Unlock, read for this port): sp_getapplock with @LockMode = 'Exclusive',
// @LockOwner = 'Session', @LockTimeout = -1, so a second process waits until the first
// releases the lock or its session ends; cancelling ctx aborts the wait. Unlike that driver,
// which hashes the database name with the login's default schema, the resource is the fixed
// mssqlLockResource: every table here is dbo.*, so two logins with different default schemas
// migrate the same tables and must take the same lock (application locks are scoped to the
// current database already). Each file runs as one batch, so the files contain no GO
// separators. No SQL Server runs in the tests: driver_test.go checks the statements as text.
var mssqlDialect = &dialect{
	lock: func(ctx context.Context, c *connDriver) error {
		var status int
		if err := c.conn.QueryRowContext(ctx, mssqlLock, mssqlLockResource).Scan(&status); err != nil {
			return err
		}
		if status < 0 {
			return fmt.Errorf("sp_getapplock returned %d (-1 timeout, -2 cancelled, -3 deadlock victim, -999 error)", status)
		}
		c.state = mssqlLockResource
		return nil
	},
	unlock: func(ctx context.Context, c *connDriver, _ bool) error {
		_, err := c.conn.ExecContext(ctx, mssqlUnlock, c.state)
		return err
	},
	tableExists: `SELECT CAST(CASE WHEN OBJECT_ID(N'dbo.` + Table + `', N'U') IS NULL THEN 0 ELSE 1 END AS BIT)`,
	createTable: `IF OBJECT_ID(N'dbo.` + Table + `', N'U') IS NULL
  CREATE TABLE dbo.` + Table + ` (version BIGINT NOT NULL PRIMARY KEY, dirty BIT NOT NULL)`,
	selectVersion: `SELECT TOP 1 version, dirty FROM dbo.` + Table,
	deleteVersion: `DELETE FROM dbo.` + Table,
	insertVersion: `INSERT INTO dbo.` + Table + ` (version, dirty) VALUES (@p1, @p2)`,
}

// The lock statements, as golang-migrate's sqlserver driver sends them, and the one resource
// they lock.
const (
	mssqlLockResource = "camunda-waitroom/dbo." + Table
	mssqlLock         = `DECLARE @lockResult int;
EXEC @lockResult = sp_getapplock @Resource = @p1, @LockMode = 'Exclusive', @LockOwner = 'Session', @LockTimeout = -1;
SELECT @lockResult;`
	mssqlUnlock = `EXEC sp_releaseapplock @Resource = @p1, @LockOwner = 'Session'`
)
