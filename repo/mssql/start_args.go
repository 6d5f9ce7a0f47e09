package mssql

import (
	"database/sql"
	"time"

	mssql "github.com/microsoft/go-mssqldb"
)

// The argument builders of start_sql.go. Ids, owners, keys and instance ids go as
// mssql.VarChar (never a Go string, which go-mssqldb sends as NVARCHAR and which would convert
// the VARCHAR column); durations as BIGINT milliseconds. None is ever NULL.

func ownerArg(owner string) sql.NamedArg { return sql.Named("owner", mssql.VarChar(owner)) }

func msArg(name string, d time.Duration) sql.NamedArg { return sql.Named(name, d.Milliseconds()) }

func argsBeginStart(id, owner, key string, lease time.Duration) []any {
	return []any{idArg(id), ownerArg(owner), sql.Named("key", mssql.VarChar(key)), msArg("leaseMs", lease)}
}

func argsClaimStart(id string, attempt int64, lease time.Duration, owner string) []any {
	return []any{idArg(id), sql.Named("attempt", attempt), msArg("leaseMs", lease), ownerArg(owner)}
}

func argsReleaseStart(id string, attempt int64) []any {
	return []any{idArg(id), sql.Named("attempt", attempt)}
}

func argsSetInstance(id, instanceID string) []any {
	return []any{idArg(id), sql.Named("instance", mssql.VarChar(instanceID))}
}

func argsWorker(worker string) []any { return []any{sql.Named("worker", mssql.VarChar(worker))} }

func argsForgetWorker(worker string, olderThan time.Duration) []any {
	return []any{sql.Named("worker", mssql.VarChar(worker)), msArg("olderMs", olderThan)}
}
