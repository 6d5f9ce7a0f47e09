package waitroom

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestOptionsDefaultsAndValidation: zero fields take the exported defaults, set fields are
// kept, and a field that cannot work fails New with its name.
func TestOptionsDefaultsAndValidation(t *testing.T) {
	t.Parallel()
	require.Equal(t, Options{MaxWaiters: MaxWaitersDefault, NotifyPollInterval: NotifyPollIntervalDefault,
		PollInterval: PollIntervalDefault, QueryTimeout: QueryTimeoutDefault, StopTimeout: StopTimeoutDefault,
		Timeout: TimeoutDefault}, Options{}.WithDefaults())
	set := Options{ClearOnShutdown: true, MaxWaiters: 3, NotifyPollInterval: time.Minute, PollInterval: time.Second,
		PollOnly: true, QueryTimeout: time.Hour, StopTimeout: time.Millisecond, Timeout: 2 * time.Second}
	require.Equal(t, set, set.WithDefaults())

	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{MaxWaiters: -1}, "Options.MaxWaiters"},
		{Options{NotifyPollInterval: -time.Second}, "Options.NotifyPollInterval"},
		{Options{PollInterval: -time.Millisecond}, "Options.PollInterval"},
		{Options{QueryTimeout: -time.Second}, "Options.QueryTimeout"},
		{Options{StopTimeout: -time.Second}, "Options.StopTimeout"},
		{Options{Timeout: -time.Second}, "Options.Timeout"},
	} {
		_, err := New(newMemStore(), tc.opts)
		require.ErrorContains(t, err, tc.want)
	}
}
