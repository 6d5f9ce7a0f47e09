package processes_test

import (
	"context"
	"os/signal"
	"syscall"

	"go.uber.org/zap"

	"github.com/camunda-waitroom/camunda-waitroom/processes"
	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/topics"
)

// Example shows how the daemon wires the external-task worker: deploy the embedded models,
// register the handlers, build the runtime from its options and run it until SIGTERM.
func Example() {
	var (
		opts  = topics.Options{WorkerID: "worker-1"} // the daemon maps its camunda section here
		subs  []topics.Topic                         // and its topics section here
		store repo.Store                             // or the waitroom's Finisher, which also wakes local waiters
		log   *zap.Logger
		m     topics.Metrics = topics.NopMetrics{} // internal/metrics in the daemon
	)
	opts.Engine.URL = "http://localhost:8080/engine-rest"
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	if _, err := processes.Deploy(ctx, opts); err != nil {
		log.Fatal("deploy", zap.Error(err))
	}
	reg := topics.NewRegistry()
	processes.RegisterAll(reg, store)
	rt, err := topics.New(opts, subs, reg, topics.Deps{Log: log}, log, topics.WithMetrics(m))
	if err != nil {
		log.Fatal("worker", zap.Error(err)) // unknown handler, topic subscribed twice, bad TLS file
	}
	// /readyz: rt.Ready() is nil while the engine answers.
	if err := rt.Run(ctx); err != nil { // returns after the staged shutdown
		log.Fatal("worker", zap.Error(err))
	}
}
