package repo

import (
	"fmt"
	"strings"
)

// Driver names for Options.Driver, one per dialect package.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
	DriverMSSQL    = "mssql"
)

// Drivers lists the valid Options.Driver values.
var Drivers = []string{DriverMSSQL, DriverPostgres, DriverSQLite}

// MaxBodyBytesDefault is the default limit of a payload or error body: 1 MiB.
const MaxBodyBytesDefault = 1 << 20

// Options configures a store. The store owns them: a program maps its own configuration onto
// them (the daemon maps store.* of config.yaml), and every store validates them the same way,
// whichever dialect package built it.
type Options struct {
	// DSN is the dialect's connection string: a file path or "file:..." URI for sqlite, a
	// URL or keyword/value string for postgres, a "sqlserver://..." URL for mssql. A
	// dialect's Open and stores.Open open their pool on it and refuse an empty one; a
	// dialect's New, handed a pool, uses it only for connections of its own (the postgres
	// listener). No default.
	DSN string
	// Driver is the dialect: DriverSQLite, DriverPostgres or DriverMSSQL. stores.Open
	// dispatches on it. A dialect package's New and Open accept it empty (they are the
	// dialect) and refuse another dialect's name. No default.
	Driver string
	// MaxBodyBytes limits payload and error bodies: a larger one fails with ErrTooLarge and
	// changes nothing. Defaults to MaxBodyBytesDefault.
	MaxBodyBytes int
	// Migrate makes stores.Open apply the embedded migrations (migrations.Up) before it
	// returns the store. Defaults to false: some deployments run migrations separately.
	Migrate bool
	// Owner identifies this instance in the owner column: Create writes it, ClearOwned
	// clears only its rows. Required, 1 to 64 characters from [A-Za-z0-9._:-] (the id rule);
	// choosing a unique value (host name and process id, say) is the caller's job. No
	// default.
	Owner string
}

// WithDefaults returns o with every zero field that has a default set to it. Defaults live
// here and nowhere else.
func (o Options) WithDefaults() Options {
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = MaxBodyBytesDefault
	}
	return o
}

// validate checks o, after WithDefaults, for a store of dialect: each error names the field
// and the rule. DSN is checked where a pool is opened on it (the dialects' OpenDB).
func (o Options) validate(dialect string) error {
	if o.Driver != "" && o.Driver != dialect {
		known := false
		for _, d := range Drivers {
			known = known || o.Driver == d
		}
		if !known {
			return UnknownDriver(o.Driver)
		}
		return fmt.Errorf("repo: Options.Driver is %q, but this is the %s store: leave Driver empty or set it to %q", o.Driver, dialect, dialect)
	}
	if o.Owner == "" {
		return fmt.Errorf("repo: Options.Owner is empty: every store needs an owner (1 to 64 characters from [A-Za-z0-9._:-], e.g. host name and process id); Create writes it and ClearOwned uses it")
	}
	if p := idProblem(o.Owner); p != "" {
		return fmt.Errorf("repo: Options.Owner %s: %s; an owner is 1 to 64 characters from [A-Za-z0-9._:-]", echo(o.Owner), p)
	}
	if o.MaxBodyBytes < 0 {
		return fmt.Errorf("repo: Options.MaxBodyBytes is %d: it must be 0 (default %d) or a positive byte count", o.MaxBodyBytes, MaxBodyBytesDefault)
	}
	return nil
}

// UnknownDriver is the error for an Options.Driver no dialect package answers to, for code
// that dispatches on it (stores.Open).
func UnknownDriver(driver string) error {
	return fmt.Errorf("repo: Options.Driver %q is not a known driver: use one of %s",
		driver, strings.Join(Drivers, ", "))
}
