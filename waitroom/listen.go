package waitroom

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
)

// BodyChannel is the PostgreSQL channel on which a Room publishes, after a completion it made
// (Complete, Fail, InsertFinished), the row's id, status and body as JSON, so that Rooms in
// other processes wake their waiters without reading the row. Bodies that do not fit
// NOTIFY's 8000-byte payload are not published: the store's id-only notification on
// repo.NotifyChannel, followed by a read, covers them.
const BodyChannel = "waitroom_process_store_body"

// maxNotifyPayload keeps published payloads under PostgreSQL's 8000-byte NOTIFY limit.
const maxNotifyPayload = 7900

// LISTEN reconnection backoff and health checking.
const (
	listenBackoffInitial = 100 * time.Millisecond
	listenBackoffMax     = 5 * time.Second
	listenIdleCheck      = 30 * time.Second
	connectTimeout       = 10 * time.Second
	publishTimeout       = 2 * time.Second
)

// bodyMessage is BodyChannel's payload.
type bodyMessage struct {
	ID     string          `json:"id"`
	Status repo.Status     `json:"status"`
	Body   json.RawMessage `json:"body,omitempty"`
}

// listen holds the LISTEN connection until ctx ends, reconnecting with capped exponential
// backoff. Failures are logged once per streak, and recovery once.
func (r *Room) listen(ctx context.Context) {
	wait := listenBackoffInitial
	failing := false
	for ctx.Err() == nil {
		connected, err := r.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if connected {
			wait = listenBackoffInitial
			failing = false
		}
		if !failing {
			failing = true
			r.log.Warn("waitroom: LISTEN connection failed; polling every poll interval until it is back",
				zap.Duration("poll_interval", r.cfg.PollInterval), zap.NamedError("err", err))
		}
		d := time.Duration(float64(wait) * (0.5 + rand.Float64()/2))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, listenBackoffMax)
	}
}

// listenOnce connects, LISTENs and delivers notifications until the connection fails. It
// reports whether LISTEN was established.
func (r *Room) listenOnce(ctx context.Context) (bool, error) {
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	conn, err := pgx.Connect(cctx, r.pgDSN)
	cancel()
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer func() {
		c, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = conn.Close(c)
		cancel()
	}()
	cctx, cancel = context.WithTimeout(ctx, connectTimeout)
	_, err = conn.Exec(cctx, "LISTEN "+pgx.Identifier{repo.NotifyChannel}.Sanitize()+"; LISTEN "+
		pgx.Identifier{BodyChannel}.Sanitize())
	cancel()
	if err != nil {
		return false, fmt.Errorf("listen: %w", err)
	}
	r.listenerPID.Store(conn.PgConn().PID())
	r.setListening(true)
	defer r.setListening(false)
	r.log.Info("waitroom: listening for PostgreSQL notifications", zap.Uint32("backend_pid", conn.PgConn().PID()))

	for {
		wctx, cancel := context.WithTimeout(ctx, listenIdleCheck)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if err == nil {
			r.onNotification(n.Channel, n.Payload)
			continue
		}
		if ctx.Err() != nil {
			return true, ctx.Err()
		}
		if wctx.Err() == nil || conn.IsClosed() {
			return true, fmt.Errorf("wait for notification: %w", err)
		}
		// Quiet for a while: check the connection is alive (a dead peer may send no RST).
		pctx, cancel := context.WithTimeout(ctx, connectTimeout)
		err = conn.Ping(pctx)
		cancel()
		if err != nil {
			return true, fmt.Errorf("ping: %w", err)
		}
	}
}

func (r *Room) setListening(up bool) {
	if r.listening.Swap(up) == up {
		return
	}
	select {
	case r.stateCh <- struct{}{}:
	default:
	}
}

// onNotification handles one notification: a body wakes waiters at once; an id alone marks an
// awaited id for a read after the grace.
func (r *Room) onNotification(channel, payload string) {
	switch channel {
	case BodyChannel:
		var m bodyMessage
		if err := json.Unmarshal([]byte(payload), &m); err != nil || m.ID == "" || !m.Status.Finished() {
			r.log.Warn("waitroom: ignoring malformed body notification", zap.Int("bytes", len(payload)))
			return
		}
		rec := repo.Record{CorrelationID: m.ID, Status: m.Status, UpdatedAt: r.now()}
		if m.Status == repo.StatusError {
			rec.Error = m.Body
		} else {
			rec.Payload = m.Body
		}
		r.wake(rec, WakeNotify)
	case repo.NotifyChannel:
		r.mu.Lock()
		_, awaited := r.waiting[payload]
		if awaited {
			if _, ok := r.notified[payload]; !ok {
				r.notified[payload] = time.Now()
			}
		}
		r.mu.Unlock()
		if awaited {
			r.signal()
		}
	}
}

// publisher sends body notifications on a lazily (re)connected connection of its own, one at a
// time. It is best effort: a failure costs the other Rooms one read, nothing else.
type publisher struct {
	dsn     string
	log     *zap.Logger
	mu      sync.Mutex
	conn    *pgx.Conn
	failing atomic.Bool
}

func (p *publisher) publish(ctx context.Context, rec repo.Record) {
	m := bodyMessage{ID: rec.CorrelationID, Status: rec.Status, Body: rec.Payload}
	if rec.Status == repo.StatusError {
		m.Body = rec.Error
	}
	b, err := json.Marshal(m)
	if err != nil || len(b) > maxNotifyPayload {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), publishTimeout)
	defer cancel()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn == nil {
		c, err := pgx.Connect(ctx, p.dsn)
		if err != nil {
			p.fail(err)
			return
		}
		p.conn = c
	}
	if _, err := p.conn.Exec(ctx, "SELECT pg_notify($1, $2)", BodyChannel, string(b)); err != nil {
		_ = p.conn.Close(ctx)
		p.conn = nil
		p.fail(err)
		return
	}
	if p.failing.CompareAndSwap(true, false) {
		p.log.Info("waitroom: publishing body notifications recovered")
	}
}

func (p *publisher) fail(err error) {
	if p.failing.CompareAndSwap(false, true) {
		p.log.Warn("waitroom: publishing a body notification failed; other replicas will read the row",
			zap.NamedError("err", err))
	}
}

func (p *publisher) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = p.conn.Close(ctx)
		cancel()
		p.conn = nil
	}
}
