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

// WithDefaults returns o with every zero field that has a default set to it: MaxBodyBytes
// to DefaultMaxBodyBytes. Defaults live here and nowhere else.
func (o Options) WithDefaults() Options {
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	return o
}

// Validate checks o after WithDefaults; each error names the field and the rule. A dialect
// package's New skips the Driver and DSN checks (it is the driver, and it was handed a pool).
func (o Options) Validate() error {
	if err := o.validateDriver(); err != nil {
		return err
	}
	if o.DSN == "" {
		return fmt.Errorf("repo: Options.DSN is empty: set the %s connection string", o.Driver)
	}
	return o.ValidateCommon()
}

func (o Options) validateDriver() error {
	for _, d := range Drivers {
		if o.Driver == d {
			return nil
		}
	}
	return fmt.Errorf("repo: Options.Driver %q is not a known driver: use one of %s",
		o.Driver, strings.Join(Drivers, ", "))
}

// ValidateCommon checks the fields every dialect uses: Owner (required, the id rule: it is
// stored in the VARCHAR(64) owner column) and MaxBodyBytes (not negative).
func (o Options) ValidateCommon() error {
	if o.Owner == "" {
		return fmt.Errorf("repo: Options.Owner is empty: every store needs an owner (1 to 64 characters from [A-Za-z0-9._:-], e.g. host name and process id); Create writes it and ClearOwned uses it")
	}
	if p := idProblem(o.Owner); p != "" {
		return fmt.Errorf("repo: Options.Owner %s: %s; an owner is 1 to 64 characters from [A-Za-z0-9._:-]", echo(o.Owner), p)
	}
	if o.MaxBodyBytes < 0 {
		return fmt.Errorf("repo: Options.MaxBodyBytes is %d: it must be 0 (default %d) or a positive byte count", o.MaxBodyBytes, DefaultMaxBodyBytes)
	}
	return nil
}
