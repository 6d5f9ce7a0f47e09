package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
)

// The store's push path: LISTEN/NOTIFY. A waitroom (package waitroom) finds it on the store
// (SupportsListener, Listen, Publish) and uses it to wake waiters when another process
// finishes their rows, instead of waiting for its next poll.

// NotifyChannel is the channel on which Complete, Fail, InsertFinished, ClearOwned and
// ExpirePendingBefore send pg_notify(NotifyChannel, correlation_id) in the same statement as
// the status change, so a listener wakes when it commits. A repeat that finds the row
// finished sends nothing.
const NotifyChannel = "waitroom_process_store"

// BodyChannel is the channel on which Publish sends a completion's id, status and body as
// JSON, so that listeners in other processes wake their waiters without reading the row.
// Bodies that do not fit NOTIFY's 8000-byte payload are not published: the id-only
// notification on NotifyChannel, followed by a read, covers them.
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

// errNoDSN is Listen's and Publish's error on a store built by New without Options.DSN.
var errNoDSN = errors.New("postgres: the store has no DSN (Options.DSN) for its listener's connections")

// SupportsListener reports whether the store can listen and publish: it needs its DSN to open
// connections of its own, which Open always has and New has when Options.DSN is set.
func (s *Store) SupportsListener() bool { return s.dsn != "" }

// Listen holds a LISTEN connection on NotifyChannel and BodyChannel until ctx ends,
// reconnecting with capped, jittered exponential backoff. It calls notify for each
// notification (an id-only one for the store's pg_notify, one with status and body for a
// Publish), live(true, nil) each time LISTEN is established, and live(false, err) each time a
// connection attempt fails or an established connection is lost; when ctx ends while LISTEN
// is up, live(false, nil). It never calls them concurrently. A quiet connection is pinged
// every 30 s, since a dead peer may send no RST. A message on BodyChannel that is not a
// completion (not from Publish) is ignored: the id-only notification of the same change
// covers it.
func (s *Store) Listen(ctx context.Context, notify func(repo.Notification), live func(up bool, err error)) {
	if !s.SupportsListener() {
		live(false, errNoDSN)
		return
	}
	wait := listenBackoffInitial
	for ctx.Err() == nil {
		connected, err := s.listenOnce(ctx, notify, live)
		if ctx.Err() != nil {
			if connected {
				live(false, nil)
			}
			return
		}
		if connected {
			wait = listenBackoffInitial
		}
		live(false, err)
		t := time.NewTimer(time.Duration(float64(wait) * (0.5 + rand.Float64()/2)))
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
func (s *Store) listenOnce(ctx context.Context, notify func(repo.Notification), live func(bool, error)) (bool, error) {
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	conn, err := pgx.Connect(cctx, s.dsn)
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
	_, err = conn.Exec(cctx, "LISTEN "+pgx.Identifier{NotifyChannel}.Sanitize()+"; LISTEN "+
		pgx.Identifier{BodyChannel}.Sanitize())
	cancel()
	if err != nil {
		return false, fmt.Errorf("listen: %w", err)
	}
	pid := conn.PgConn().PID()
	s.pid.Store(pid)
	defer s.pid.CompareAndSwap(pid, 0)
	live(true, nil)

	for {
		wctx, cancel := context.WithTimeout(ctx, listenIdleCheck)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if err == nil {
			if note, ok := parse(n.Channel, n.Payload); ok {
				notify(note)
			}
			continue
		}
		if ctx.Err() != nil {
			return true, ctx.Err()
		}
		if wctx.Err() == nil || conn.IsClosed() {
			return true, fmt.Errorf("LISTEN connection: wait for notification: %w", err)
		}
		// Quiet for a while: check the connection is alive.
		pctx, cancel := context.WithTimeout(ctx, connectTimeout)
		err = conn.Ping(pctx)
		cancel()
		if err != nil {
			return true, fmt.Errorf("LISTEN connection: ping: %w", err)
		}
	}
}

// parse turns one notification into a repo.Notification; false for one to ignore.
func parse(channel, payload string) (repo.Notification, bool) {
	switch channel {
	case NotifyChannel:
		return repo.Notification{ID: payload}, payload != ""
	case BodyChannel:
		var m bodyMessage
		if err := json.Unmarshal([]byte(payload), &m); err != nil || m.ID == "" || !m.Status.Finished() {
			return repo.Notification{}, false
		}
		return repo.Notification{ID: m.ID, Status: m.Status, Body: m.Body}, true
	}
	return repo.Notification{}, false
}

// ListenerPID returns the backend pid of the store's LISTEN connection while one is up (the
// latest, when several Listen calls run), and 0 otherwise: what to look for in
// pg_stat_activity.
func (s *Store) ListenerPID() uint32 { return s.pid.Load() }

// Publish sends n, a completion this process made (its status and body), on BodyChannel, so
// that listeners in other processes wake their waiters without reading the row. It is best
// effort, on a connection of its own opened at the first call and again after a failure; a
// failure costs the other processes one read. A body too large for NOTIFY is not sent (nil
// error): the store's id-only notification covers it. ctx's cancellation does not cut a send
// short; it is bounded by 2 s.
func (s *Store) Publish(ctx context.Context, n repo.Notification) error {
	if !s.SupportsListener() {
		return errNoDSN
	}
	b, err := json.Marshal(bodyMessage{ID: n.ID, Status: n.Status, Body: n.Body})
	if err != nil || len(b) > maxNotifyPayload {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), publishTimeout)
	defer cancel()
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	if s.pub == nil {
		s.pub = &publisher{dsn: s.dsn}
	}
	return s.pub.send(ctx, string(b))
}

// publisher holds the connection Publish sends on, one send at a time (under Store.pubMu).
type publisher struct {
	dsn  string
	conn *pgx.Conn
}

func (p *publisher) send(ctx context.Context, payload string) error {
	if p.conn == nil {
		c, err := pgx.Connect(ctx, p.dsn)
		if err != nil {
			return fmt.Errorf("postgres: publish: connect: %w", err)
		}
		p.conn = c
	}
	if _, err := p.conn.Exec(ctx, "SELECT pg_notify($1, $2)", BodyChannel, payload); err != nil {
		_ = p.conn.Close(ctx)
		p.conn = nil
		return fmt.Errorf("postgres: publish: %w", err)
	}
	return nil
}

func (p *publisher) close() {
	if p.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = p.conn.Close(ctx)
		cancel()
		p.conn = nil
	}
}
