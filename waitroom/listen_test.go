package waitroom

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
)

// pushStore is an in-memory store with a scripted push path: the test delivers notifications
// and live reports through it, and sees what the Room publishes.
type pushStore struct {
	*spyStore
	supports bool

	mu        sync.Mutex
	notify    func(repo.Notification)
	live      func(bool, error)
	published []repo.Notification
	listening chan struct{} // closed when Listen is called
}

func newPushStore(supports bool) *pushStore {
	return &pushStore{spyStore: &spyStore{Store: newMemStore()}, supports: supports, listening: make(chan struct{})}
}

func (p *pushStore) SupportsListener() bool { return p.supports }

func (p *pushStore) Listen(ctx context.Context, notify func(repo.Notification), live func(bool, error)) {
	p.mu.Lock()
	p.notify, p.live = notify, live
	p.mu.Unlock()
	close(p.listening)
	<-ctx.Done()
	live(false, nil)
}

func (p *pushStore) Publish(_ context.Context, n repo.Notification) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.published = append(p.published, n)
	return nil
}

// deliver calls the Room's callbacks as the listener goroutine would.
func (p *pushStore) deliver(t *testing.T, f func(notify func(repo.Notification), live func(bool, error))) {
	t.Helper()
	select {
	case <-p.listening:
	case <-time.After(5 * time.Second):
		t.Fatal("the Room never called Listen")
	}
	p.mu.Lock()
	notify, live := p.notify, p.live
	p.mu.Unlock()
	f(notify, live)
}

// TestRoomUsesTheStoresListener: the Room finds the push path on its store; a notification
// with a body wakes waiters without a read, an id alone makes the Room read that id, the
// live reports switch the poll interval (Listening), and local completions are published.
func TestRoomUsesTheStoresListener(t *testing.T) {
	t.Parallel()
	p := newPushStore(true)
	cfg := fastCfg()
	cfg.PollInterval, cfg.NotifyPollInterval = time.Hour, time.Hour // only pushes can wake
	r := newTestRoom(t, p, cfg, WithNotifyGrace(0))
	ctx := context.Background()

	p.deliver(t, func(_ func(repo.Notification), live func(bool, error)) { live(true, nil) })
	eventually(t, 5*time.Second, "listening", r.Listening)

	id, err := r.Register(ctx, "pushed-body")
	require.NoError(t, err)
	ch := goWait(ctx, r, id)
	eventually(t, 5*time.Second, "waiter registered", func() bool { return r.Waiters() == 1 })
	before := p.statuses.Load()
	p.deliver(t, func(notify func(repo.Notification), _ func(bool, error)) {
		notify(repo.Notification{ID: id, Status: repo.StatusDone, Body: json.RawMessage(`"from elsewhere"`)})
	})
	res := recv(t, ch, 5*time.Second)
	require.NoError(t, res.err)
	assert.Equal(t, `"from elsewhere"`, string(res.payload))
	assert.Equal(t, before, p.statuses.Load(), "a notification with a body needs no read")

	id, err = r.Register(ctx, "pushed-id")
	require.NoError(t, err)
	ch = goWait(ctx, r, id)
	eventually(t, 5*time.Second, "waiter registered", func() bool { return r.Waiters() == 1 })
	_, err = p.Store.Complete(ctx, id, json.RawMessage(`"read"`)) // another process, bare store
	require.NoError(t, err)
	p.deliver(t, func(notify func(repo.Notification), _ func(bool, error)) { notify(repo.Notification{ID: id}) })
	res = recv(t, ch, 5*time.Second)
	require.NoError(t, res.err)
	assert.Equal(t, `"read"`, string(res.payload))

	_, err = r.Register(ctx, "local")
	require.NoError(t, err)
	_, err = r.Fail(ctx, "local", json.RawMessage(`{"e":1}`))
	require.NoError(t, err)
	p.mu.Lock()
	assert.Equal(t, []repo.Notification{{ID: "local", Status: repo.StatusError, Body: json.RawMessage(`{"e":1}`)}}, p.published)
	p.mu.Unlock()

	p.deliver(t, func(_ func(repo.Notification), live func(bool, error)) { live(false, errors.New("connection lost")) })
	eventually(t, 5*time.Second, "not listening", func() bool { return !r.Listening() })
}

// TestNoListenerWithoutSupportOrNotify: a store whose push path is not supported, or a Room
// with Options.PollOnly set, neither listens nor publishes.
func TestNoListenerWithoutSupportOrNotify(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		supports bool
		notify   bool
	}{{"unsupported", false, true}, {"notify off", true, false}} {
		p := newPushStore(tc.supports)
		cfg := fastCfg()
		cfg.PollOnly = !tc.notify
		r := newTestRoom(t, p, cfg)
		_, err := r.Register(context.Background(), "x")
		require.NoError(t, err)
		_, err = r.Complete(context.Background(), "x", json.RawMessage(`1`))
		require.NoError(t, err)
		require.NoError(t, r.Stop(context.Background()))
		select {
		case <-p.listening:
			t.Errorf("%s: the Room listened", tc.name)
		default:
		}
		assert.Empty(t, p.published, tc.name)
	}
}
