// Command worker is the camunda-waitroom daemon: it fetches and locks Camunda external tasks,
// runs a handler per topic, finishes process_store rows, and serves the sync HTTP API.
// Run `worker --help` for the subcommands; all wiring lives in internal/app.
package main

import (
	"os"

	"github.com/camunda-waitroom/camunda-waitroom/internal/app"
)

func main() {
	os.Exit(app.Main(os.Args[1:], os.Stdout, os.Stderr, os.Environ()))
}
