package httpapi

// The start flow of POST /process/{key}/start: exactly one process instance per correlation
// id, whatever crashes, retries and replica losses happen in between. README.md
// ("Exactly one process per correlation id") has the protocol as a state table; in short:
//
//  1. A wait slot is reserved first (waitroom.maxWaiters): past the limit nothing is written
//     or started.
//  2. BeginStart inserts the row if it is absent, with start claim 1 leased for
//     http.startLease. Only the caller that inserted it starts the process, and records the
//     engine's instance id on the row (SetInstance) when the start answers.
//  3. A caller that finds the row waits on it. While the row is PENDING with no instance and
//     its lease has run out, the caller (a retry of the start: it has the variables) asks the
//     engine whether an instance with this correlation id exists, running or ended. If one
//     does, it records it and waits; if none does, it takes the start over with ClaimStart, a
//     guarded update on the claim number it read (the fencing token), and starts the process.
//
// How the engine's answer to a start maps to the row and the HTTP answer:
//
//   - an instance id: recorded; the caller waits for the result (200, 422, or 202 at the end
//     of waitroom.timeout);
//   - definitely not started because the definition is missing (ErrProcessNotFound) or the
//     engine refused the request (ErrStartRejected): the row is failed ERROR, with the
//     reason as its error body, so the id has a final answer;
//   - definitely not sent (ErrStartNotSent): the claim is released at once, so a retry does
//     not wait out the lease; the row stays PENDING; 503 with Location and Retry-After;
//   - maybe started (ErrEngineError: 502; ErrEngineUnavailable, a timeout: 503): the row stays
//     PENDING under the claim, with Location; if the process runs, its result lands on the
//     row, and if it never started, a retry after the lease finds no instance and starts it.
//
// Only a start the engine received but committed more than a lease after it was sent can
// still give two instances: see README.md for why that remains and how it is made unlikely.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/camunda-waitroom/camunda-waitroom/internal/camunda"
	"github.com/camunda-waitroom/camunda-waitroom/internal/fault"
	"github.com/camunda-waitroom/camunda-waitroom/internal/logging"
	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/waitroom"
)

// Fault points of the start protocol (see internal/fault): a test build of the daemon can be
// made to die with SIGKILL at each of them, to prove that a retry recovers.
const (
	// FaultBeforeInsert: nothing is written yet.
	FaultBeforeInsert = "start.before-insert"
	// FaultAfterInsert: the row is PENDING under claim 1; the engine has not been called.
	FaultAfterInsert = "start.after-insert"
	// FaultAfterEngine: the engine started the instance; its id is not recorded yet.
	FaultAfterEngine = "start.after-engine"
)

// StartStore is what the start flow needs of process_store.
type StartStore interface {
	Find(ctx context.Context, id string) (repo.Record, error)
	BeginStart(ctx context.Context, id, key string, lease time.Duration) (repo.StartState, bool, error)
	ReadStart(ctx context.Context, id string) (repo.StartState, error)
	ClaimStart(ctx context.Context, id string, attempt int64, lease time.Duration) (bool, error)
	ReleaseStart(ctx context.Context, id string, attempt int64) (bool, error)
	SetInstance(ctx context.Context, id, instanceID string) (string, error)
}

// Reservation is a wait slot taken before anything is written or started (waitroom.maxWaiters);
// *waitroom.Reservation is one.
type Reservation interface {
	Wait(ctx context.Context, id string) (json.RawMessage, error)
	Release()
}

// RoomWaitroom adapts a *waitroom.Room to Waitroom (its Reserve returns the concrete
// *waitroom.Reservation).
func RoomWaitroom(r *waitroom.Room) Waitroom { return roomWaitroom{r} }

type roomWaitroom struct{ *waitroom.Room }

func (w roomWaitroom) Reserve() (Reservation, error) {
	res, err := w.Room.Reserve()
	if err != nil {
		return nil, err // not a typed nil inside the interface
	}
	return res, nil
}

// Start outcomes counted by camunda_waitroom_starts_total{outcome}.
const (
	startStarted      = "started"        // this caller started the instance
	startTakenOver    = "taken_over"     // ... after taking an interrupted start over
	startFound        = "found_instance" // an interrupted start had reached the engine
	startDuplicate    = "duplicate"      // a second instance for one id was detected
	startNotDeployed  = "not_deployed"
	startRejected     = "rejected"
	startNotSent      = "not_sent"
	startUncertain    = "uncertain" // timeout, 5xx: maybe started
	startExisting     = "existing"  // the row existed; this call started nothing
	startOverCapacity = "over_capacity"
)

// startOutcomes lists every outcome label, for the series exported at zero.
var startOutcomes = []string{startStarted, startTakenOver, startFound, startDuplicate, startNotDeployed,
	startRejected, startNotSent, startUncertain, startExisting, startOverCapacity}

// flowCall is one POST /process/{key}/start after validation.
type flowCall struct {
	id, key, businessKey string
	vars                 map[string]Variable
	res                  Reservation
	st                   repo.StartState // the row as last read or written
	deadline             time.Time       // end of the wait (waitroom.timeout)
	log                  *zap.Logger
}

// detached returns a context that outlives the client's request, bounded by d: a start or a
// write after it must not be cut short because the client went away, or its outcome would
// become unknown for no reason.
func detached(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), d)
}

// startFlow runs the protocol for a validated request and answers.
func (s *Server) startFlow(w http.ResponseWriter, r *http.Request, key string, req startRequest, vars map[string]Variable) {
	ctx := r.Context()
	if s.cfg.StartGate != nil {
		if err := s.cfg.StartGate(); err != nil {
			w.Header().Set("Retry-After", "1")
			writeProblem(w, Problem{Type: "not-ready", Title: "the daemon is not ready to start processes", Status: http.StatusServiceUnavailable,
				Detail: err.Error() + "; nothing was started: try again"})
			return
		}
	}
	res, err := s.cfg.Waitroom.Reserve()
	if err != nil {
		s.countStart(startOverCapacity)
		w.Header().Set("Retry-After", "1")
		writeProblem(w, Problem{Type: "too-many-waiters", Title: "too many concurrent waits", Status: http.StatusServiceUnavailable,
			Detail: "the wait limit (waitroom.maxWaiters) is reached; nothing was written or started: try again later"})
		return
	}
	defer res.Release()

	c := &flowCall{id: req.CorrelationID, key: key, businessKey: req.BusinessKey, vars: vars, res: res,
		deadline: time.Now().Add(s.cfg.WaitTimeout)}
	if c.id == "" {
		c.id = waitroom.NewID()
	}
	c.log = s.log.With(logging.CorrelationID(c.id), zap.String("process_key", key))

	fault.Point(FaultBeforeInsert, c.id)
	// Detached: a client leaving mid-insert must not leave a row whose creator gave up.
	bctx, cancel := detached(ctx, 10*time.Second)
	st, created, err := s.cfg.Store.BeginStart(bctx, c.id, key, s.cfg.StartLease)
	cancel()
	if err != nil {
		s.storeProblem(w, "register the start", err)
		return
	}
	c.st = st
	if created {
		fault.Point(FaultAfterInsert, c.id)
		if !s.launch(w, r, c, false) {
			return
		}
	} else {
		s.countStart(startExisting)
		if st.ProcessKey != "" && st.ProcessKey != key {
			writeProblem(w, Problem{Type: "correlation-id-conflict", Title: "the correlation id belongs to another process", Status: http.StatusConflict,
				Detail: fmt.Sprintf("correlation id %q was started for process %q, not %q; use a new id", c.id, st.ProcessKey, key),
				Ext:    map[string]any{"correlationId": c.id, "processKey": st.ProcessKey}})
			return
		}
		if st.Status.Finished() {
			s.answerStart(w, st)
			return
		}
	}
	s.awaitStart(w, r, c)
}

// launch starts the process for a row whose claim c.st.Attempt this caller holds, and records
// the instance. It reports whether the caller should go on to wait; when it returns false it
// has answered.
func (s *Server) launch(w http.ResponseWriter, r *http.Request, c *flowCall, takeover bool) bool {
	vars := make(map[string]Variable, len(c.vars)+1)
	for k, v := range c.vars {
		vars[k] = v
	}
	vars[s.cfg.CorrelationVariable] = camunda.StringVar(c.id)
	sctx, cancel := detached(r.Context(), s.cfg.StartTimeout+5*time.Second)
	defer cancel()
	instanceID, err := s.cfg.Starter.StartProcess(sctx, c.key, c.businessKey, vars)
	if err == nil {
		fault.Point(FaultAfterEngine, c.id)
		if takeover {
			s.countStart(startTakenOver)
		} else {
			s.countStart(startStarted)
		}
		s.record(sctx, c, instanceID)
		return true
	}
	return s.startFailed(w, r, c, err)
}

// record writes the instance id on the row. A failure is logged and otherwise harmless: the
// result still reaches the row, and a retry after the lease finds the instance in the engine.
func (s *Server) record(ctx context.Context, c *flowCall, instanceID string) {
	got, err := s.cfg.Store.SetInstance(ctx, c.id, instanceID)
	switch {
	case err != nil:
		c.log.Warn("could not record the process instance on its row; a retry after the lease finds it in the engine",
			logging.ProcessInstanceID(instanceID), logging.Err(err))
		c.st.ProcessInstanceID = instanceID // this caller knows it, and waits for it
	case got != instanceID:
		s.countStart(startDuplicate)
		c.log.Error("a second process instance was started for one correlation id: a start reached the engine after its lease ran out",
			logging.ProcessInstanceID(instanceID), zap.String("recorded_instance_id", got), zap.Duration("start_lease", s.cfg.StartLease))
		c.st.ProcessInstanceID = got // the row's result comes from whichever finishes first; report the recorded one
	default:
		c.st.ProcessInstanceID = instanceID
	}
}

// startFailed handles a start the engine did not confirm, as the table in the file comment
// says, and answers. It reports true only when the caller should go on waiting (never now:
// every failure answers at once).
func (s *Server) startFailed(w http.ResponseWriter, r *http.Request, c *flowCall, err error) bool {
	ext := map[string]any{"correlationId": c.id, "processKey": c.key}
	switch {
	case errors.Is(err, ErrProcessNotFound), errors.Is(err, ErrStartRejected):
		typ, title, status, outcome := "process-not-deployed", "the engine has no deployed definition of this process", http.StatusBadGateway, startNotDeployed
		if errors.Is(err, ErrStartRejected) {
			typ, title, status, outcome = "start-rejected", "the engine refused the start request", http.StatusBadRequest, startRejected
		}
		s.countStart(outcome)
		// The process certainly did not start: the row gets its final answer, so neither a
		// waiter nor a retry waits for a result that cannot come.
		body, _ := json.Marshal(map[string]string{"error": typ, "message": err.Error(), "processKey": c.key})
		fctx, cancel := detached(r.Context(), 10*time.Second)
		defer cancel()
		if _, ferr := s.cfg.Waitroom.Fail(fctx, c.id, body); ferr != nil {
			c.log.Error("could not mark the row ERROR after a refused start", logging.Err(ferr))
		}
		c.log.Warn("the engine refused the start; row failed", logging.Err(err))
		writeProblem(w, Problem{Type: typ, Title: title, Status: status, Detail: err.Error(), Ext: ext})
	case errors.Is(err, ErrStartNotSent):
		s.countStart(startNotSent)
		// Nothing reached the engine: end the claim now, so that a retry (on any replica)
		// checks the engine and starts at once instead of waiting out the lease.
		rctx, cancel := detached(r.Context(), 10*time.Second)
		defer cancel()
		if _, rerr := s.cfg.Store.ReleaseStart(rctx, c.id, c.st.Attempt); rerr != nil {
			c.log.Warn("could not release the start claim; a retry waits out the lease", logging.Err(rerr))
		}
		c.log.Warn("the start did not reach the engine; row stays PENDING for a retry", logging.Err(err))
		s.pendingProblem(w, c.id, http.StatusServiceUnavailable, "engine-unavailable", "the Camunda engine is unavailable",
			err.Error()+"; nothing was started: retry with the same correlationId")
	case errors.Is(err, ErrEngineError):
		s.countStart(startUncertain)
		c.log.Warn("the engine failed the start; the process may have started: row stays PENDING", logging.Err(err))
		s.pendingProblem(w, c.id, http.StatusBadGateway, "engine-error", "the engine failed the start",
			err.Error()+"; the process may have started: collect the result at Location, or retry with the same correlationId")
	default: // ErrEngineUnavailable, a timeout: the request may have arrived
		s.countStart(startUncertain)
		c.log.Warn("no answer from the engine to the start; the process may have started: row stays PENDING", logging.Err(err))
		s.pendingProblem(w, c.id, http.StatusServiceUnavailable, "engine-unavailable", "the Camunda engine did not answer the start",
			err.Error()+"; the process may have started: collect the result at Location, or retry with the same correlationId")
	}
	return false
}

// pendingProblem answers a start whose row stays PENDING: Location says where its result
// will be, Retry-After when to retry.
func (s *Server) pendingProblem(w http.ResponseWriter, id string, status int, typ, title, detail string) {
	w.Header().Set("Location", resultPath(id))
	w.Header().Set("Retry-After", "1")
	writeProblem(w, Problem{Type: typ, Title: title, Status: status, Detail: detail,
		Ext: map[string]any{"correlationId": id, "resultStatus": repo.StatusPending}})
}

// awaitStart waits for the row until c.deadline. While the row has no instance, the wait
// ends early when the start claim's lease runs out, to check whether the start must be taken
// over (recover).
func (s *Server) awaitStart(w http.ResponseWriter, r *http.Request, c *flowCall) {
	for {
		until := c.deadline
		if c.st.Status == repo.StatusPending && c.st.ProcessKey != "" && c.st.ProcessInstanceID == "" {
			if c.st.LeaseLeft <= 0 {
				if !s.recover(w, r, c) {
					return
				}
				continue
			}
			// A few milliseconds past the lease, by the database's count of what is left.
			if end := time.Now().Add(c.st.LeaseLeft + 20*time.Millisecond); end.Before(until) {
				until = end
			}
		}
		wctx, cancel := context.WithDeadline(r.Context(), until)
		payload, err := c.res.Wait(wctx, c.id)
		cancel()
		if err == nil {
			writeJSON(w, http.StatusOK, Result{CorrelationID: c.id, Status: repo.StatusDone, Payload: payload, ProcessInstanceID: c.st.ProcessInstanceID})
			return
		}
		if r.Context().Err() != nil {
			return // the client went away; the row stays for a later GET or retry
		}
		var pe *waitroom.ProcessError
		if errors.As(err, &pe) {
			s.answerStart(w, repo.StartState{Record: repo.Record{CorrelationID: c.id, Status: repo.StatusError, Error: pe.Body},
				ProcessInstanceID: c.st.ProcessInstanceID})
			return
		}
		// The wait ended without a result (the deadline, the lease, the waitroom stopping):
		// the row says where it stands.
		rctx, rcancel := detached(r.Context(), 10*time.Second)
		st, ferr := s.cfg.Store.ReadStart(rctx, c.id)
		rcancel()
		if ferr != nil {
			s.storeProblem(w, "read the result", ferr)
			return
		}
		c.st = st
		if st.Status.Finished() || !time.Now().Before(c.deadline) || errors.Is(err, waitroom.ErrClosed) {
			s.answerStart(w, st)
			return
		}
	}
}

// recover handles a PENDING row with no instance whose claim ran out: the start was
// interrupted somewhere, or is slow. It asks the engine for an instance carrying the id; if
// one exists it is recorded, and if none does, this caller takes the start over and starts
// it. It reports whether the caller should go on waiting; when false it has answered.
func (s *Server) recover(w http.ResponseWriter, r *http.Request, c *flowCall) bool {
	// Two engine queries (runtime, history), each bounded by http.startTimeout, then writes.
	qctx, cancel := detached(r.Context(), 2*s.cfg.StartTimeout+5*time.Second)
	defer cancel()
	ids, err := s.cfg.Starter.FindInstances(qctx, c.st.ProcessKey, s.cfg.CorrelationVariable, c.id)
	if err != nil {
		c.log.Warn("cannot ask the engine whether an interrupted start reached it; row stays PENDING", logging.Err(err))
		s.pendingProblem(w, c.id, http.StatusServiceUnavailable, "engine-unavailable", "the Camunda engine is unavailable",
			"an earlier start of this correlation id was interrupted and the engine cannot be asked whether it started: "+err.Error()+"; retry with the same correlationId")
		return false
	}
	if len(ids) > 0 {
		s.countStart(startFound)
		if len(ids) > 1 {
			s.countStart(startDuplicate)
			c.log.Error("the engine holds several process instances for one correlation id", zap.Strings("process_instance_ids", ids))
		}
		c.log.Info("an interrupted start had reached the engine; recording its instance", logging.ProcessInstanceID(ids[0]))
		s.record(qctx, c, ids[0]) // sets c.st.ProcessInstanceID, even if recording failed
		return true
	}
	won, err := s.cfg.Store.ClaimStart(qctx, c.id, c.st.Attempt, s.cfg.StartLease)
	if err != nil {
		s.storeProblem(w, "take the start over", err)
		return false
	}
	if !won {
		// Another caller took it over, or the row changed: read it again and go on.
		st, err := s.cfg.Store.ReadStart(qctx, c.id)
		if err != nil {
			s.storeProblem(w, "read the start", err)
			return false
		}
		c.st = st
		if c.st.Startable() {
			// The guard and the read disagreed by a clock tick: look again shortly.
			c.st.LeaseLeft = 50 * time.Millisecond
		}
		return true
	}
	c.st.Attempt++
	c.st.LeaseLeft = s.cfg.StartLease
	c.log.Info("no instance in the engine for an interrupted start; taking it over", zap.Int64("attempt", c.st.Attempt))
	return s.launch(w, r, c, true)
}

// answerStart answers a row that needs no more waiting (finished, or PENDING at the end of
// the wait).
func (s *Server) answerStart(w http.ResponseWriter, st repo.StartState) {
	s.answerRecordWith(w, st.Record, st.ProcessInstanceID)
}

func (s *Server) countStart(outcome string) {
	if s.starts != nil {
		s.starts.WithLabelValues(outcome).Inc()
	}
}
