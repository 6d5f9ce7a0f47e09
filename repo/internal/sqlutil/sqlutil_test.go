package sqlutil

import (
	"testing"
	"time"
)

func TestCeilUTC(t *testing.T) {
	t.Parallel()
	zone := time.FixedZone("X", 3600)
	tests := []struct{ in, want time.Time }{
		{time.Date(2025, 1, 1, 1, 0, 0, 0, zone), time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)},
		{time.Date(2025, 1, 1, 0, 0, 0, 1, time.UTC), time.Date(2025, 1, 1, 0, 0, 0, 1000000, time.UTC)},
		{time.Date(2025, 1, 1, 0, 0, 0, 999999999, time.UTC), time.Date(2025, 1, 1, 0, 0, 1, 0, time.UTC)},
		{time.Date(2025, 1, 1, 0, 0, 0, 5000000, time.UTC), time.Date(2025, 1, 1, 0, 0, 0, 5000000, time.UTC)},
	}
	for _, tt := range tests {
		got := CeilUTC(tt.in, time.Millisecond)
		if !got.Equal(tt.want) || got.Location() != time.UTC {
			t.Errorf("CeilUTC(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
