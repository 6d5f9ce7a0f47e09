package mssql

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
)

// MinCompatibilityLevel is the lowest database compatibility level the store runs on:
// OPENJSON, which Statuses uses to pass thousands of ids in one parameter, exists from 130
// (SQL Server 2016) on. A database upgraded from SQL Server 2014 or earlier keeps its old
// level until someone raises it.
const MinCompatibilityLevel = 130

// Settings is what New read from the database at open: the facts the store depends on, for
// the daemon to log and for operators to check.
type Settings struct {
	// Database is the database's name.
	Database string
	// CompatibilityLevel is sys.databases.compatibility_level; New refuses a level below
	// MinCompatibilityLevel.
	CompatibilityLevel int
	// ReadCommittedSnapshot is READ_COMMITTED_SNAPSHOT. The statements are written to be
	// right either way (READCOMMITTEDLOCK with every READPAST), so it is reported, not acted
	// on.
	ReadCommittedSnapshot bool
	// IDCollation is the collation of process_store.correlation_id (the database default
	// when the table does not exist yet).
	IDCollation string
	// IDCaseInsensitive is set when IDCollation ignores letter case: the table cannot hold
	// two ids that differ only in case, and creating the second fails with
	// repo.ErrIDConflict.
	IDCaseInsensitive bool
}

// queryRower is the one method readSettings needs: *sql.DB has it, and so does a test's
// fake.
type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// readSettings reads Settings with sqlSettings.
func readSettings(ctx context.Context, q queryRower) (Settings, error) {
	var (
		s     Settings
		style sql.NullInt64
		coll  sql.NullString
	)
	if err := q.QueryRowContext(ctx, sqlSettings).Scan(&s.Database, &s.CompatibilityLevel, &s.ReadCommittedSnapshot, &coll, &style); err != nil {
		return Settings{}, fmt.Errorf("read the database's settings from sys.databases: %w", err)
	}
	s.IDCollation = coll.String
	// COLLATIONPROPERTY(..., 'ComparisonStyle') bit 1 is "ignore case"; an unknown style
	// (NULL) is taken as case-insensitive, the common default, which only affects reporting.
	s.IDCaseInsensitive = !style.Valid || style.Int64&1 != 0
	return s, nil
}

// check refuses a database the store cannot run on, saying what to change.
func (s Settings) check() error {
	if s.CompatibilityLevel < MinCompatibilityLevel {
		return fmt.Errorf("%w: SQL Server database %s is at compatibility level %d; the store needs %d or later (its status reads use OPENJSON, which lower levels do not have). "+
			"Raise it with: ALTER DATABASE %s SET COMPATIBILITY_LEVEL = %d (or the server's own level, such as 150 or 160); "+
			"the level changes query optimisation for the whole database, so agree it with the database's owner, then start again",
			repo.ErrUnsupportedDatabase, quoteName(s.Database), s.CompatibilityLevel, MinCompatibilityLevel, quoteName(s.Database), MinCompatibilityLevel)
	}
	return nil
}

// quoteName quotes a database name as T-SQL's QUOTENAME does, for the message above.
func quoteName(name string) string {
	return "[" + strings.ReplaceAll(name, "]", "]]") + "]"
}
