// Package logging builds the daemon's zap logger and fixes the structured field names every
// component uses, so logs from the runtime, the store and the waitroom can be joined on them.
package logging

import (
	"fmt"
	"io"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Field keys shared by every component: fixed snake_case names, so that logs of every
// component can be queried by the same keys.
const (
	KeyComponent         = "component"
	KeyTopic             = "topic"
	KeyTaskID            = "task_id"
	KeyCorrelationID     = "correlation_id"
	KeyProcessInstanceID = "process_instance_id"
	KeyWorkerID          = "worker_id"
	KeyInstanceID        = "instance_id"
	KeyErr               = "err"
)

// Typed field constructors for the shared keys.
func Topic(v string) zap.Field             { return zap.String(KeyTopic, v) }
func TaskID(v string) zap.Field            { return zap.String(KeyTaskID, v) }
func CorrelationID(v string) zap.Field     { return zap.String(KeyCorrelationID, v) }
func ProcessInstanceID(v string) zap.Field { return zap.String(KeyProcessInstanceID, v) }
func WorkerID(v string) zap.Field          { return zap.String(KeyWorkerID, v) }
func Err(err error) zap.Field              { return zap.NamedError(KeyErr, err) }

// New builds the root logger writing to w: format "json" (default) or "console", level
// "debug", "info", "warn" or "error".
func New(w io.Writer, level, format string) (*zap.Logger, error) {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.TimeKey = "ts"
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	encCfg.EncodeDuration = zapcore.MillisDurationEncoder
	var enc zapcore.Encoder
	switch format {
	case "", "json":
		enc = zapcore.NewJSONEncoder(encCfg)
	case "console":
		encCfg.EncodeLevel = zapcore.CapitalColorLevelEncoder
		enc = zapcore.NewConsoleEncoder(encCfg)
	default:
		return nil, fmt.Errorf("log format %q: want json or console", format)
	}
	core := zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), lvl)
	return zap.New(core, zap.AddCaller()), nil
}

// Scrubbing returns a writer that passes every write through scrub before w. zap writes one
// whole entry per Write, so a secret is never split across two calls.
func Scrubbing(w io.Writer, scrub func(string) string) io.Writer {
	return &scrubWriter{w: w, scrub: scrub}
}

type scrubWriter struct {
	w     io.Writer
	scrub func(string) string
}

func (s *scrubWriter) Write(p []byte) (int, error) {
	out := s.scrub(string(p))
	if _, err := io.WriteString(s.w, out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Component returns the logger of one component: named, and tagged with the component field.
func Component(root *zap.Logger, name string) *zap.Logger {
	return root.Named(name).With(zap.String(KeyComponent, name))
}
