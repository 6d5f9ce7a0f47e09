package app

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/camunda-waitroom/camunda-waitroom/config"
	"github.com/camunda-waitroom/camunda-waitroom/migrations"
	"github.com/camunda-waitroom/camunda-waitroom/repo/stores"
)

func newMigrateCmd(load func() (*config.Config, config.Source, error)) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply or inspect the process_store schema migrations",
		Long: `Apply (up), inspect (status) or repair (force) the embedded migrations of the
configured store. 'migrate up' is idempotent and safe when several replicas run it at once
(PostgreSQL and SQL Server take a database lock while migrating); it runs until done (Ctrl-C
stops it). A database that already has the Node.js service's process_store table is adopted:
the first migration creates only what is missing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageError{fmt.Errorf("migrate needs a subcommand: up, status or force")}
		},
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "up",
		Short: "Apply every pending migration (idempotent)",
		Args:  cobra.NoArgs,
		RunE: withDB(load, func(cmd *cobra.Command, cfg *config.Config, db *sql.DB) error {
			if err := migrations.Up(cmd.Context(), db, cfg.Store.Driver); err != nil {
				return fmt.Errorf("migrate up (%s): %w", cfg.Store.Driver, err)
			}
			st, err := migrations.Status(cmd.Context(), db, cfg.Store.Driver)
			if err != nil {
				return fmt.Errorf("migrate status (%s): %w", cfg.Store.Driver, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: schema at version %d of %d\n", cfg.Store.Driver, st.Current, st.Latest)
			return nil
		}),
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "Print the schema version and the pending migrations",
		Args:  cobra.NoArgs,
		RunE: withDB(load, func(cmd *cobra.Command, cfg *config.Config, db *sql.DB) error {
			st, err := migrations.Status(cmd.Context(), db, cfg.Store.Driver)
			if err != nil {
				return fmt.Errorf("migrate status (%s): %w", cfg.Store.Driver, err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "driver:  %s\ncurrent: %d\nlatest:  %d\ndirty:   %t\n", cfg.Store.Driver, st.Current, st.Latest, st.Dirty)
			if len(st.Pending) > 0 {
				fmt.Fprintf(out, "pending: %s\n", strings.Join(st.Pending, ", "))
			} else {
				fmt.Fprintln(out, "pending: none")
			}
			return nil
		}),
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "force VERSION",
		Short: "Record VERSION as applied and clear the dirty flag, running nothing (recovery)",
		Long: `Record VERSION as the applied migration and clear the dirty flag, without running any
migration. golang-migrate marks a version dirty before it runs its file; a migration that
failed or was cut off leaves it so, and every 'migrate up' (and every replica with
store.migrateOnStart) then refuses to go on until someone has looked.

Check the schema against the dirty version's file first. Then either finish that file by
hand and force its version, or force the version before it and run 'migrate up', which runs
the file again: the SQL Server and PostgreSQL files are guarded (IF NOT EXISTS and the
like), so running one again only adds what is missing. (SQLite applies each file and its
version in one transaction and is never left dirty by a failure.) VERSION 0 means none
applied. It takes the migration lock, so it waits for a
running 'migrate up'.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("migrate force needs one VERSION, e.g. 'worker migrate force 3'")}
			}
			if _, err := strconv.ParseUint(args[0], 10, 32); err != nil {
				return usageError{fmt.Errorf("migrate force: VERSION %q must be a migration number such as 3 (0 for none)", args[0])}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			v, _ := strconv.ParseUint(args[0], 10, 32)
			return withDB(load, func(cmd *cobra.Command, cfg *config.Config, db *sql.DB) error {
				if err := migrations.Force(cmd.Context(), db, cfg.Store.Driver, uint(v)); err != nil {
					return fmt.Errorf("migrate force (%s): %w", cfg.Store.Driver, err)
				}
				st, err := migrations.Status(cmd.Context(), db, cfg.Store.Driver)
				if err != nil {
					return fmt.Errorf("migrate status (%s): %w", cfg.Store.Driver, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: schema recorded at version %d of %d, dirty %t; pending: %d (run 'worker migrate up')\n",
					cfg.Store.Driver, st.Current, st.Latest, st.Dirty, len(st.Pending))
				return nil
			})(cmd, nil)
		},
	})
	for _, c := range cmd.Commands() {
		c.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	}
	return cmd
}

// withDB runs f with the loaded configuration and an open database.
func withDB(load func() (*config.Config, config.Source, error), f func(*cobra.Command, *config.Config, *sql.DB) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		cfg, _, err := load()
		if err != nil {
			return err
		}
		db, err := openDB(cmd.Context(), cfg)
		if err != nil {
			return err
		}
		defer db.Close()
		return f(cmd, cfg, db)
	}
}

// openDB opens the configured database for migrations, with errors that never show the DSN's
// password.
func openDB(ctx context.Context, cfg *config.Config) (*sql.DB, error) {
	db, err := stores.OpenDB(ctx, cfg.Store.Driver, cfg.StoreDSN())
	if err != nil {
		return nil, fmt.Errorf("open %s store at %s: %w", cfg.Store.Driver, cfg.RedactedStoreDSN(), err)
	}
	return db, nil
}
