// Package httpapi is the daemon's HTTP API for front services not written in Go: start a
// process and wait for its answer, fetch a result later, finish a wait from outside; plus the
// operator endpoints /healthz, /readyz and /metrics, and the API's OpenAPI 3.1 document at
// /openapi.json (openapi.json beside this file).
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/camunda-waitroom/camunda-waitroom/internal/logging"
	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/waitroom"
)

// Waitroom is what the API needs of the waitroom: reserve a wait slot, wait, finish a wait.
// RoomWaitroom adapts a *waitroom.Room.
type Waitroom interface {
	Reserve() (Reservation, error)
	Wait(ctx context.Context, id string) (json.RawMessage, error)
	Complete(ctx context.Context, id string, payload json.RawMessage) (repo.Outcome, error)
	Fail(ctx context.Context, id string, errBody json.RawMessage) (repo.Outcome, error)
}

// Check is one readiness check; nil means ready.
type Check func(ctx context.Context) error

// Defaults of Config, exported so that the daemon's configuration can be tested against them.
const (
	// CorrelationVariableDefault is Config.CorrelationVariable when unset.
	CorrelationVariableDefault = "correlationId"
	// MaxBodyBytesDefault is Config.MaxBodyBytes when unset: 1 MiB.
	MaxBodyBytesDefault = 1 << 20
	// ReadyTimeoutDefault is Config.ReadyTimeout when unset.
	ReadyTimeoutDefault = 3 * time.Second
	// StartTimeoutDefault is Config.StartTimeout when unset.
	StartTimeoutDefault = 5 * time.Second
	// WaitTimeoutDefault is Config.WaitTimeout when unset: the waitroom's own default wait.
	WaitTimeoutDefault = waitroom.TimeoutDefault
)

// Config is the API's configuration and collaborators. It belongs to this package: the
// daemon maps its http.* and waitroom.* keys onto it. Zero fields take their defaults
// (WithDefaults); Starter, Store and Waitroom are required.
type Config struct {
	// AuthToken, when set, is required as a bearer token on the /process routes (and on
	// /metrics with MetricsAuth). Defaults to "": no authentication.
	AuthToken string

	// CorrelationVariable is the process variable that carries the correlation id into the
	// engine. Defaults to CorrelationVariableDefault ("correlationId").
	CorrelationVariable string

	// Gatherer serves /metrics. Defaults to nil: no /metrics route.
	Gatherer prometheus.Gatherer

	// Log receives the API's logs. Defaults to a logger that discards them.
	Log *zap.Logger

	// MaxBodyBytes limits request bodies; a larger one answers 413. Defaults to
	// MaxBodyBytesDefault (1 MiB).
	MaxBodyBytes int64

	// MaxResultWait caps GET /process/{id}/result?wait=. Defaults to WaitTimeout.
	MaxResultWait time.Duration

	// MetricsAuth requires AuthToken on /metrics too; it needs AuthToken. Defaults to false:
	// scrapers usually reach /metrics inside the cluster.
	MetricsAuth bool

	// Ready are the /readyz checks by name. They run in parallel, each within ReadyTimeout.
	// Defaults to none: /readyz answers ready.
	Ready map[string]Check

	// ReadyTimeout bounds each readiness check. Defaults to ReadyTimeoutDefault (3 s).
	ReadyTimeout time.Duration

	// Redact, when set, is applied to every readiness message before it is served: /readyz is
	// open to anyone who reaches the port, and a check's error may quote a URL. Defaults to
	// nil: messages are served as they are.
	Redact func(string) string

	// Registerer receives the API's metrics. Defaults to nil: the API counts nothing.
	Registerer prometheus.Registerer

	// Startable is the allow-list of process keys POST /process/{key}/start may start;
	// other keys answer 404 and write nothing. Defaults to none.
	Startable []string

	// StartGate, when set, is asked before each start; an error answers 503 and starts
	// nothing (e.g. the embedded models are not deployed yet). Defaults to nil: always open.
	StartGate func() error

	// Starter starts processes in the engine and finds their instances. Required.
	Starter Starter

	// StartLease is the start claim's lease: how long the replica that registered a start
	// holds it before another may take it over. It must be at least twice StartTimeout.
	// Defaults to three StartTimeouts.
	StartLease time.Duration

	// StartTimeout bounds one start call (the Starter applies it; the flow uses it to bound
	// what surrounds the call). Defaults to StartTimeoutDefault (5 s).
	StartTimeout time.Duration

	// Store is the start protocol's store (the process_store rows and their claims).
	// Required.
	Store StartStore

	// WaitTimeout is the wait of POST /process/{key}/start before it answers 202. Defaults to
	// WaitTimeoutDefault (25 s).
	WaitTimeout time.Duration

	// Waitroom waits for rows and finishes them. Required.
	Waitroom Waitroom
}

// WithDefaults returns a copy of c with every unset (zero) field set to its default.
func (c Config) WithDefaults() Config {
	if c.CorrelationVariable == "" {
		c.CorrelationVariable = CorrelationVariableDefault
	}
	if c.Log == nil {
		c.Log = zap.NewNop()
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = MaxBodyBytesDefault
	}
	if c.ReadyTimeout == 0 {
		c.ReadyTimeout = ReadyTimeoutDefault
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = StartTimeoutDefault
	}
	if c.StartLease == 0 {
		c.StartLease = 3 * c.StartTimeout
	}
	if c.WaitTimeout == 0 {
		c.WaitTimeout = WaitTimeoutDefault
	}
	if c.MaxResultWait == 0 && c.WaitTimeout > 0 { // a negative WaitTimeout is validate's to name
		c.MaxResultWait = c.WaitTimeout
	}
	return c
}

// validate reports the first field that cannot work, naming it. It expects WithDefaults to
// have run: what is left at or below zero was set so.
func (c Config) validate() error {
	switch {
	case c.Starter == nil:
		return errors.New("httpapi: Config.Starter is required")
	case c.Store == nil:
		return errors.New("httpapi: Config.Store is required")
	case c.Waitroom == nil:
		return errors.New("httpapi: Config.Waitroom is required")
	case c.MaxBodyBytes < 0:
		return fmt.Errorf("httpapi: Config.MaxBodyBytes is %d: must be positive (0 means %d)", c.MaxBodyBytes, MaxBodyBytesDefault)
	case c.MetricsAuth && c.AuthToken == "":
		return errors.New("httpapi: Config.MetricsAuth needs Config.AuthToken")
	case c.StartLease < 2*c.StartTimeout:
		return fmt.Errorf("httpapi: Config.StartLease %s must be at least twice Config.StartTimeout %s", c.StartLease, c.StartTimeout)
	}
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"MaxResultWait", c.MaxResultWait}, {"ReadyTimeout", c.ReadyTimeout}, {"StartTimeout", c.StartTimeout}, {"WaitTimeout", c.WaitTimeout}} {
		if f.d < 0 {
			return fmt.Errorf("httpapi: Config.%s is %s: must be positive (0 means its default)", f.name, f.d)
		}
	}
	return nil
}

// Server serves the API.
type Server struct {
	cfg Config
	log *zap.Logger
	mux *http.ServeMux
	// methods lists the methods served per path pattern, for 405 answers.
	methods map[string][]string
	// routes lists every pattern route registered, in order: what the OpenAPI document must
	// describe (openapi_test.go).
	routes    []string
	startable map[string]bool
	reqs      *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	starts    *prometheus.CounterVec
}

// Result is the body of 200 and 202 answers.
type Result struct {
	CorrelationID string          `json:"correlationId"`
	Status        repo.Status     `json:"status"`
	Payload       json.RawMessage `json:"payload,omitempty"`
	// ProcessInstanceID is the engine's instance, when its start recorded it.
	ProcessInstanceID string `json:"processInstanceId,omitempty"`
}

var keyPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,255}$`)

// waitPattern is the syntax of GET /process/{id}/result?wait=: time.ParseDuration's, without a
// sign (so no negative zero), as openapi.json states it. Checking the syntax first leaves
// ParseDuration only overflow to fail on, which a wait capped anyway does not need to refuse.
var waitPattern = regexp.MustCompile(`^(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$`)

// New builds the server and its routes. It fails, naming the field, when a field of cfg
// cannot work.
func New(cfg Config) (*Server, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Log, mux: http.NewServeMux(), methods: map[string][]string{}, startable: map[string]bool{}}
	for _, k := range cfg.Startable {
		s.startable[k] = true
	}
	if cfg.Registerer != nil {
		s.reqs = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "camunda_waitroom_http_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"})
		s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "camunda_waitroom_http_request_duration_seconds", Help: "HTTP request duration by route and status code.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "code"})
		if err := cfg.Registerer.Register(s.reqs); err != nil {
			return nil, err
		}
		if err := cfg.Registerer.Register(s.latency); err != nil {
			return nil, err
		}
		s.starts = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "camunda_waitroom_starts_total",
			Help: "Process starts through the HTTP API by outcome: started, taken_over (an interrupted start restarted), found_instance (an interrupted start had reached the engine), existing (the id had a row), duplicate (two instances for one id detected), not_deployed, rejected, not_sent, uncertain (timeout or 5xx), over_capacity.",
		}, []string{"outcome"})
		if err := cfg.Registerer.Register(s.starts); err != nil {
			return nil, err
		}
		for _, o := range startOutcomes { // exported at 0 from the start, like the other series
			s.starts.WithLabelValues(o)
		}
	}
	s.route("POST /process/{key}/start", s.auth(jsonBody(s.start)))
	s.route("GET /process/{id}/result", s.auth(s.result))
	s.route("POST /process/{id}/complete", s.auth(jsonBody(s.finish(true))))
	s.route("POST /process/{id}/fail", s.auth(jsonBody(s.finish(false))))
	s.route("GET /healthz", s.healthz)
	s.route("GET /readyz", s.readyz)
	s.route("GET /openapi.json", s.openAPI)
	if cfg.Gatherer != nil {
		metrics := promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{}).ServeHTTP
		if cfg.MetricsAuth {
			metrics = s.auth(metrics)
		}
		s.route("GET /metrics", metrics)
	}
	for path, methods := range s.methods {
		s.mux.HandleFunc(path, methodNotAllowed(methods))
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, Problem{Type: "not-found", Title: "no such route", Status: http.StatusNotFound,
			Detail: fmt.Sprintf("%s %s is not a route: see README.md for the API", r.Method, r.URL.Path)})
	})
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// route registers a handler and counts its requests under the route pattern, with
// promhttp's middleware: the route is curried into the request counter and the duration
// histogram, promhttp adds the status code. By code for the duration too: a start that
// answers 202 took the whole wait, one that answers 200 took the process's time; one
// distribution of both would say neither.
func (s *Server) route(pattern string, h http.HandlerFunc) {
	method, path, _ := strings.Cut(pattern, " ")
	s.methods[path] = append(s.methods[path], method)
	s.routes = append(s.routes, pattern)
	var handler http.Handler = h
	if s.reqs != nil {
		route := prometheus.Labels{"route": pattern}
		handler = promhttp.InstrumentHandlerDuration(s.latency.MustCurryWith(route),
			promhttp.InstrumentHandlerCounter(s.reqs.MustCurryWith(route), handler))
	}
	s.mux.Handle(pattern, handler)
}

func (s *Server) auth(h http.HandlerFunc) http.HandlerFunc {
	if s.cfg.AuthToken == "" {
		return h
	}
	want := tokenDigest("Bearer " + s.cfg.AuthToken)
	return func(w http.ResponseWriter, r *http.Request) {
		if !tokenMatches(r.Header.Get("Authorization"), want) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="camunda-waitroom"`)
			writeProblem(w, Problem{Type: "unauthorized", Title: "authentication required", Status: http.StatusUnauthorized,
				Detail: "send the configured token (http.authToken) as 'Authorization: Bearer <token>'"})
			return
		}
		h(w, r)
	}
}

// readBody reads a JSON request body within the size limit: exactly one JSON document,
// optionally surrounded by white space. It writes the problem and returns false when the
// body is too large, empty, not JSON, followed by anything but white space, or did not arrive
// within the server's read timeout.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, what string, allowEmpty bool) (json.RawMessage, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	var raw json.RawMessage
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(&raw); err != nil {
		if errors.Is(err, io.EOF) && allowEmpty {
			return nil, true
		}
		s.bodyProblem(w, what, err)
		return nil, false
	}
	// Anything after the document must be white space: a second Decode has to meet EOF.
	// (Decoder.More is not enough: it reports false for a stray '}' or ']'.)
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err == nil || isSyntaxError(err) {
			writeProblem(w, Problem{Type: "invalid-body", Title: "request body is not valid JSON", Status: http.StatusBadRequest,
				Detail: fmt.Sprintf("%s must be a single JSON document; found more data after it", what)})
			return nil, false
		}
		s.bodyProblem(w, what, err)
		return nil, false
	}
	return raw, true
}

func isSyntaxError(err error) bool {
	var se *json.SyntaxError
	return errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF)
}

// bodyProblem answers a failed body read. Only JSON syntax errors are quoted: a read error
// names the socket's addresses, which are none of the client's business.
func (s *Server) bodyProblem(w http.ResponseWriter, what string, err error) {
	var mbe *http.MaxBytesError
	var se *json.SyntaxError
	var ne net.Error
	switch {
	case errors.As(err, &mbe):
		writeProblem(w, Problem{Type: "body-too-large", Title: "request body too large", Status: http.StatusRequestEntityTooLarge,
			Detail: fmt.Sprintf("%s is over the limit of %d bytes (http.maxBodyBytes)", what, s.cfg.MaxBodyBytes)})
	case errors.Is(err, io.EOF):
		writeProblem(w, Problem{Type: "invalid-body", Title: "request body missing", Status: http.StatusBadRequest,
			Detail: fmt.Sprintf("%s must be a JSON document", what)})
	case errors.As(err, &se):
		writeProblem(w, Problem{Type: "invalid-body", Title: "request body is not valid JSON", Status: http.StatusBadRequest,
			Detail: fmt.Sprintf("%s: %v", what, err)})
	case errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		w.Header().Set("Connection", "close")
		writeProblem(w, Problem{Type: "request-timeout", Title: "request body not received in time", Status: http.StatusRequestTimeout,
			Detail: fmt.Sprintf("%s did not arrive within the server's read timeout (http.readTimeout)", what)})
	case errors.Is(err, io.ErrUnexpectedEOF):
		writeProblem(w, Problem{Type: "invalid-body", Title: "request body is not valid JSON", Status: http.StatusBadRequest,
			Detail: fmt.Sprintf("%s ended before the JSON document did", what)})
	default:
		s.log.Debug("request body read failed", logging.Err(err))
		writeProblem(w, Problem{Type: "invalid-body", Title: "request body could not be read", Status: http.StatusBadRequest,
			Detail: fmt.Sprintf("%s could not be read completely", what)})
	}
}

func badID(w http.ResponseWriter, err error) {
	writeProblem(w, Problem{Type: "invalid-correlation-id", Title: "invalid correlation id", Status: http.StatusBadRequest, Detail: err.Error()})
}

// startRequest is the body of POST /process/{key}/start. Members other than businessKey,
// correlationId and variables are process variables too, so a plain object of variables works.
type startRequest struct {
	BusinessKey   string
	CorrelationID string
	Variables     map[string]json.RawMessage
}

func parseStart(raw json.RawMessage) (startRequest, error) {
	var req startRequest
	if raw == nil {
		return req, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return req, errors.New("the body must be a JSON object: {\"variables\": {...}, \"businessKey\": \"...\", \"correlationId\": \"...\"} or an object of variables")
	}
	req.Variables = map[string]json.RawMessage{}
	for k, v := range m {
		switch k {
		case "businessKey":
			if err := json.Unmarshal(v, &req.BusinessKey); err != nil {
				return req, errors.New("businessKey must be a string")
			}
			if err := checkBusinessKey(req.BusinessKey); err != nil {
				return req, err
			}
		case "correlationId":
			if err := json.Unmarshal(v, &req.CorrelationID); err != nil {
				return req, errors.New("correlationId must be a string")
			}
		case "variables":
			var vars map[string]json.RawMessage
			if err := json.Unmarshal(v, &vars); err != nil {
				return req, errors.New("variables must be a JSON object of name: value")
			}
			for n, val := range vars {
				if _, twice := m[n]; twice && n != "businessKey" && n != "correlationId" && n != "variables" {
					return req, fmt.Errorf("variable %q is given twice, at the top level and inside variables: keep one", shorten(n))
				}
				req.Variables[n] = val
			}
		default:
			req.Variables[k] = v
		}
	}
	return req, nil
}

// start handles POST /process/{key}/start: validate, then run the start flow (startflow.go):
// exactly one process instance per correlation id, so a client may retry a start safely, with
// the same id, on any replica. Nothing is written for a request that fails validation or names
// a process this daemon does not serve.
func (s *Server) start(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	if !keyPattern.MatchString(key) {
		writeProblem(w, Problem{Type: "invalid-process-key", Title: "invalid process definition key", Status: http.StatusBadRequest,
			Detail: "the key must be 1 to 255 characters from [A-Za-z0-9._-]"})
		return
	}
	if !s.startable[key] {
		writeProblem(w, Problem{Type: "process-not-found", Title: "no startable process with that key", Status: http.StatusNotFound,
			Detail: fmt.Sprintf("process %q is not one this daemon starts (http.startableProcesses)", key),
			Ext:    map[string]any{"processKey": key}})
		return
	}
	raw, ok := s.readBody(w, r, "the start body", true)
	if !ok {
		return
	}
	req, err := parseStart(raw)
	if err != nil {
		writeProblem(w, Problem{Type: "invalid-body", Title: "invalid start request", Status: http.StatusBadRequest, Detail: err.Error()})
		return
	}
	if req.CorrelationID != "" {
		if err := repo.ValidateID(req.CorrelationID); err != nil {
			badID(w, err)
			return
		}
	}
	vars, err := toVariables(req.Variables)
	if err != nil {
		writeProblem(w, Problem{Type: "invalid-variables", Title: "invalid process variables", Status: http.StatusBadRequest, Detail: err.Error()})
		return
	}
	if _, clash := vars[s.cfg.CorrelationVariable]; clash {
		writeProblem(w, Problem{Type: "invalid-variables", Title: "invalid process variables", Status: http.StatusBadRequest,
			Detail: fmt.Sprintf("variable %q is set by the API; pass the id as correlationId instead", s.cfg.CorrelationVariable)})
		return
	}
	s.startFlow(w, r, key, req, vars)
}

// waitAndAnswer waits for the row and answers 200 (DONE), 422 (ERROR) or 202 (still PENDING
// when the wait ended, with Location to the result).
func (s *Server) waitAndAnswer(w http.ResponseWriter, r *http.Request, ctx context.Context, id, instanceID string) {
	payload, err := s.cfg.Waitroom.Wait(ctx, id)
	if err == nil {
		writeJSON(w, http.StatusOK, Result{CorrelationID: id, Status: repo.StatusDone, Payload: payload, ProcessInstanceID: instanceID})
		return
	}
	if errors.Is(err, waitroom.ErrTooManyWaiters) {
		w.Header().Set("Retry-After", "1")
		w.Header().Set("Location", resultPath(id))
		writeProblem(w, Problem{Type: "too-many-waiters", Title: "too many concurrent waits", Status: http.StatusServiceUnavailable,
			Detail: "the wait limit (waitroom.maxWaiters) is reached; the process runs on: collect its result later at Location",
			Ext:    map[string]any{"correlationId": id}})
		return
	}
	if r.Context().Err() != nil {
		return // the client went away; the row stays for a later GET
	}
	var pe *waitroom.ProcessError
	if errors.As(err, &pe) {
		s.answerRecordWith(w, repo.Record{CorrelationID: id, Status: repo.StatusError, Error: pe.Body}, instanceID)
		return
	}
	// The wait ended without a result (a timeout, the waitroom stopping): the row says where
	// it stands.
	rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, ferr := s.cfg.Store.ReadStart(rctx, id)
	if ferr != nil {
		s.storeProblem(w, "read the result", ferr)
		return
	}
	s.answerStart(w, st)
}

// answerRecordWith answers a row: 200 DONE, 422 ERROR, 202 PENDING with Location; instanceID,
// when known, is the engine's instance of the row's process.
func (s *Server) answerRecordWith(w http.ResponseWriter, rec repo.Record, instanceID string) {
	switch rec.Status {
	case repo.StatusDone:
		writeJSON(w, http.StatusOK, Result{CorrelationID: rec.CorrelationID, Status: repo.StatusDone, Payload: rec.Payload, ProcessInstanceID: instanceID})
	case repo.StatusError:
		var body any = rec.Error
		if rec.Error == nil {
			body = nil
		}
		ext := map[string]any{"correlationId": rec.CorrelationID, "error": body}
		if instanceID != "" {
			ext["processInstanceId"] = instanceID
		}
		writeProblem(w, Problem{Type: "process-error", Title: "the process ended in ERROR", Status: http.StatusUnprocessableEntity, Ext: ext})
	default:
		w.Header().Set("Location", resultPath(rec.CorrelationID))
		writeJSON(w, http.StatusAccepted, Result{CorrelationID: rec.CorrelationID, Status: repo.StatusPending, ProcessInstanceID: instanceID})
	}
}

// resultPath is the Location of id's result. The ids "." and ".." are valid (repo.ValidateID)
// but are dot segments in a path: a client resolving "/process/./result" (RFC 3986) would ask
// for "/process/result". Percent-encoded they reach the route.
func resultPath(id string) string {
	seg := url.PathEscape(id)
	if id == "." || id == ".." {
		seg = strings.ReplaceAll(id, ".", "%2E")
	}
	return "/process/" + seg + "/result"
}

// result handles GET /process/{id}/result?wait=10s.
func (s *Server) result(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := repo.ValidateID(id); err != nil {
		badID(w, err)
		return
	}
	var wait time.Duration
	if q := r.URL.Query().Get("wait"); q != "" {
		if !waitPattern.MatchString(q) {
			writeProblem(w, Problem{Type: "invalid-wait", Title: "invalid wait", Status: http.StatusBadRequest,
				Detail: fmt.Sprintf("wait=%q must be a duration such as 10s or 500ms, at most %s", q, s.cfg.MaxResultWait)})
			return
		}
		d, err := time.ParseDuration(q)
		if err != nil {
			d = s.cfg.MaxResultWait // the pattern holds, so the value overflowed: longer than any cap
		}
		wait = min(d, s.cfg.MaxResultWait)
	}
	st, err := s.cfg.Store.ReadStart(r.Context(), id)
	if errors.Is(err, repo.ErrNotFound) {
		writeProblem(w, Problem{Type: "unknown-correlation-id", Title: "unknown correlation id", Status: http.StatusNotFound,
			Detail: fmt.Sprintf("no process_store row has correlation id %q (never registered, or removed by retention)", id)})
		return
	}
	if err != nil {
		s.storeProblem(w, "read the result", err)
		return
	}
	if st.Status == repo.StatusPending && wait > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), wait)
		defer cancel()
		s.waitAndAnswer(w, r, ctx, id, st.ProcessInstanceID)
		return
	}
	s.answerStart(w, st)
}

// finish handles POST /process/{id}/complete (body: the payload) and /fail (body: the error).
func (s *Server) finish(complete bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if err := repo.ValidateID(id); err != nil {
			badID(w, err)
			return
		}
		what, op, status := "the payload", s.cfg.Waitroom.Complete, repo.StatusDone
		if !complete {
			what, op, status = "the error body", s.cfg.Waitroom.Fail, repo.StatusError
		}
		body, ok := s.readBody(w, r, what, false)
		if !ok {
			return
		}
		out, err := op(r.Context(), id, body)
		if err != nil {
			s.storeProblem(w, "finish the wait", err)
			return
		}
		switch out {
		case repo.Transitioned:
			writeJSON(w, http.StatusOK, Result{CorrelationID: id, Status: status})
		case repo.AlreadyFinished:
			writeProblem(w, Problem{Type: "already-finished", Title: "the wait already finished", Status: http.StatusConflict,
				Detail: "the row is DONE or ERROR already; the first writer wins", Ext: map[string]any{"correlationId": id}})
		default:
			writeProblem(w, Problem{Type: "unknown-correlation-id", Title: "unknown correlation id", Status: http.StatusNotFound,
				Detail: fmt.Sprintf("no process_store row has correlation id %q", id)})
		}
	}
}

// storeProblem answers a store error: bad input is the client's (400/413), anything else is
// ours (503: the database is unavailable).
func (s *Server) storeProblem(w http.ResponseWriter, doing string, err error) {
	switch {
	case errors.Is(err, repo.ErrInvalidID):
		badID(w, err)
	case errors.Is(err, repo.ErrTooLarge):
		writeProblem(w, Problem{Type: "body-too-large", Title: "body too large", Status: http.StatusRequestEntityTooLarge, Detail: err.Error()})
	case errors.Is(err, repo.ErrInvalidJSON):
		writeProblem(w, Problem{Type: "invalid-body", Title: "request body is not valid JSON", Status: http.StatusBadRequest, Detail: err.Error()})
	case errors.Is(err, repo.ErrIDConflict):
		writeProblem(w, Problem{Type: "correlation-id-conflict", Title: "the correlation id conflicts with an existing one", Status: http.StatusConflict,
			Detail: "an id that differs only in letter case has a row, and the database cannot hold both (a case-insensitive collation); ids are compared byte for byte, so that row is not this id's: use another correlation id"})
	default:
		s.log.Error("store error", zap.String("doing", doing), logging.Err(err))
		writeProblem(w, Problem{Type: "store-unavailable", Title: "the process store is unavailable", Status: http.StatusServiceUnavailable,
			Detail: "could not " + doing + "; try again later"})
	}
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "alive"})
}

// readyz runs every check in parallel, each within ReadyTimeout: 200 when all pass, 503
// naming the failures. A check that does not return in time counts as failed, so one hung
// dependency cannot hold the answer (or the others) beyond the timeout.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.ReadyTimeout)
	defer cancel()
	type outcome struct {
		name string
		err  error
	}
	results := make(chan outcome, len(s.cfg.Ready))
	for name, check := range s.cfg.Ready {
		go func() { results <- outcome{name, check(ctx)} }()
	}
	checks := map[string]string{}
	for name := range s.cfg.Ready {
		checks[name] = fmt.Sprintf("no answer within %s", s.cfg.ReadyTimeout)
	}
	ready := true
	timeout := time.NewTimer(s.cfg.ReadyTimeout + 100*time.Millisecond) // checks that ignore ctx
	defer timeout.Stop()
collect:
	for range s.cfg.Ready {
		select {
		case o := <-results:
			if o.err != nil {
				ready = false
				msg := strings.TrimSpace(o.err.Error())
				if s.cfg.Redact != nil {
					msg = s.cfg.Redact(msg)
				}
				checks[o.name] = msg
			} else {
				checks[o.name] = "ok"
			}
		case <-timeout.C:
			ready = false
			break collect
		}
	}
	status, code := "ready", http.StatusOK
	if !ready {
		status, code = "not ready", http.StatusServiceUnavailable
	}
	writeJSON(w, code, map[string]any{"status": status, "checks": checks})
}
