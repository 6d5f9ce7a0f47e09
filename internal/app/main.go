// Package app wires the daemon: the command line (run, migrate, config, version), the
// configuration, and the start and stop order of its components. cmd/worker only calls Main,
// so tests can drive every subcommand in-process.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/camunda-waitroom/camunda-waitroom/config"
	"github.com/camunda-waitroom/camunda-waitroom/internal/logging"
)

// Version is set at build time with -ldflags "-X github.com/camunda-waitroom/camunda-waitroom/internal/app.Version=v1.2.3";
// otherwise the module version or VCS revision from the build info is shown.
var Version = ""

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitConfig  = config.ExitCode // invalid configuration or command line
)

// usageError marks command-line mistakes (exit 2, like an invalid configuration).
type usageError struct{ error }

// Main runs the command line and returns the process exit code. environ is the environment
// as os.Environ returns it: the configuration reads its names, and refuses misspelled
// WAITROOM_ names (see config.LoadEnviron).
func Main(args []string, stdout, stderr io.Writer, environ []string) int {
	ctx, stop := signalContext(stderr)
	defer stop()
	return run(ctx, args, stdout, stderr, environ)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, environ []string) int {
	var loaded *config.Config
	root := newRootCmd(stdout, stderr, environ, &loaded)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	// The message may repeat what a driver or library said about a connection string:
	// scrub every secret of the loaded configuration from it.
	msg := err.Error()
	if loaded != nil {
		msg = loaded.Scrub(msg)
	}
	var cerr *config.Error
	var uerr usageError
	switch {
	case errors.As(err, &cerr):
		fmt.Fprintln(stderr, "worker:", msg)
		fmt.Fprintln(stderr, "worker: see README.md for every key, its environment name and its default")
		return ExitConfig
	case errors.As(err, &uerr):
		fmt.Fprintln(stderr, "worker:", msg)
		fmt.Fprintln(stderr, "worker: run 'worker --help' for usage")
		return ExitConfig
	default:
		fmt.Fprintln(stderr, "worker:", msg)
		return ExitFailure
	}
}

// signalDebounce: signals that arrive within this time of the first are the same request to
// stop (Ctrl-C reaches every process of the terminal's group, and a supervisor or a shell
// wrapper may forward its own SIGTERM too). Only a signal after it forces the exit.
const signalDebounce = time.Second

// signalContext is cancelled by the first SIGINT or SIGTERM, which starts a graceful shutdown;
// a signal more than signalDebounce after it exits at once.
func signalContext(stderr io.Writer) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go watchSignals(ch, done, cancel, stderr, signalDebounce, func() { os.Exit(ExitFailure) })
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		cancel()
	}
}

// watchSignals cancels the run at the first signal, ignores signals for debounce after it,
// then calls exit at the next one. It returns when done closes.
func watchSignals(ch <-chan os.Signal, done <-chan struct{}, cancel func(), stderr io.Writer, debounce time.Duration, exit func()) {
	var first os.Signal
	select {
	case first = <-ch:
		cancel()
	case <-done:
		return
	}
	window := time.NewTimer(debounce)
	defer window.Stop()
	for waiting := true; waiting; {
		select {
		case <-ch: // the same stop request, delivered twice
		case <-window.C:
			waiting = false
		case <-done:
			return
		}
	}
	fmt.Fprintf(stderr, "worker: %s: stopping gracefully; another signal exits at once\n", first)
	select {
	case s := <-ch:
		fmt.Fprintf(stderr, "worker: second %s: exiting now\n", s)
		exit()
	case <-done:
	}
}

func newRootCmd(stdout, stderr io.Writer, environ []string, loaded **config.Config) *cobra.Command {
	var cfgPath string
	load := func() (*config.Config, config.Source, error) {
		cfg, src, err := config.LoadEnviron(cfgPath, environ)
		if cfg != nil {
			*loaded = cfg
		}
		return cfg, src, err
	}

	root := &cobra.Command{
		Use:   "worker",
		Short: "camunda-waitroom: Camunda 7 external-task worker and sync waitroom",
		Long: `camunda-waitroom runs beside a Camunda 7 (or Operaton) engine. It long-polls the
engine's external-task API for the topics in config.yaml, runs one handler per topic, and marks
rows of the process_store table DONE or ERROR, so that front services waiting on a correlation
id (through the waitroom Go package or the HTTP API) get the process's answer synchronously.

Configuration: ./config.yaml (or --config), then environment variables: WAITROOM_<KEY> for every
key (dots as underscores), and the Node.js service's DB_HOST, DB_PORT, DB_NAME, DB_USER,
DB_PASSWORD, DB_DSN, SYNC_TIMEOUT_MS and PORT. 'worker config' prints the effective result.

Exit codes: 0 success, 1 failure, 2 invalid configuration or command line.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDaemon(cmd.Context(), load, stderr)
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVar(&cfgPath, "config", "", "config file (default ./config.yaml; a missing default file means built-in defaults)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })

	root.AddCommand(&cobra.Command{
		Use:   "run",
		Short: "Run the daemon (the default command)",
		Long: `Run the daemon until SIGINT or SIGTERM: open the store (waiting for the database),
apply migrations if store.migrateOnStart, deploy the embedded BPMN models if
camunda.deployOnStart, fetch and lock the configured topics, and serve the HTTP API.
The first signal stops fetching and lets running handlers finish within
camunda.shutdownTimeout; a second signal exits at once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDaemon(cmd.Context(), load, stderr)
		},
	})
	root.AddCommand(newMigrateCmd(load))
	root.AddCommand(&cobra.Command{
		Use:   "config",
		Short: "Print the effective configuration, secrets redacted",
		Long: `Print the effective configuration (embedded defaults, then the config file, then the
environment) as YAML, with every secret (passwords, tokens, the DSN's password) redacted.
Exits 2, naming every problem, when the configuration is invalid.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, src, err := load()
			if err != nil {
				return err
			}
			out, err := cfg.DumpYAML()
			if err != nil {
				return err
			}
			from := "built-in defaults"
			if src.File != "" {
				from = src.File
			}
			fmt.Fprintf(cmd.OutOrStdout(), "# effective configuration: %s + environment; secrets redacted\n", from)
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	})
	root.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "camunda-waitroom", versionString())
		},
	})
	for _, c := range root.Commands() {
		c.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	}
	return root
}

func versionString() string {
	if Version != "" {
		return Version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(devel)"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " " + s.Value[:12]
		}
	}
	return v
}

// newLogger builds the root logger from the configuration.
func newLogger(cfg *config.Config, w io.Writer) (*zap.Logger, error) {
	log, err := logging.New(w, cfg.Log.Level, cfg.Log.Format)
	if err != nil {
		return nil, err
	}
	return log.With(zap.String(logging.KeyInstanceID, cfg.Instance.ID)), nil
}
