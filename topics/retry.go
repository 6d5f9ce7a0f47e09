package topics

import (
	"errors"
	"strings"
	"time"
	"unicode/utf8"
)

// maxErrorMessage is the engine's errorMessage column width; longer messages are cut by the
// engine mid-character, so we cut first.
const maxErrorMessage = 666

// failureFor builds the failure report for err on t under topic settings cfg.
func failureFor(cfg Topic, t *Task, err error) failureRequest {
	retries := nextRetries(cfg.Retries, t.Retries)
	msg := err.Error()
	details := msg
	fr := failureRequest{}
	var f *Failure
	if errors.As(err, &f) {
		if f.Retries != nil {
			retries = max(*f.Retries, 0)
		}
		if f.Details != "" {
			details = f.Details
		}
		fr.Variables, fr.LocalVariables = f.Variables, f.LocalVariables
	}
	fr.Retries = retries
	fr.ErrorMessage = cutMessage(msg, maxErrorMessage)
	fr.ErrorDetails = details
	timeout := retryTimeout(cfg.RetryBackoff, cfg.Retries, t.Retries)
	if f != nil && f.RetryTimeout != nil {
		timeout = max(*f.RetryTimeout, 0)
	}
	if retries == 0 {
		timeout = 0
	}
	fr.RetryTimeout = timeout.Milliseconds()
	return fr
}

// nextRetries is the retries count to send with a failure. The engine does not decrement:
// task.retries is nil before the first failure, so the first failure sends configured-1, later
// ones current-1; never below 0 (0 raises an incident).
func nextRetries(configured int, current *int) int {
	n := configured - 1
	if current != nil {
		n = *current - 1
	}
	return max(n, 0)
}

// retryTimeout is the delay before the engine offers a failed task again: b.Initial on the
// first failure, doubling with each further failure, capped at b.Max.
func retryTimeout(b Backoff, configured int, current *int) time.Duration {
	failuresBefore := 0
	if current != nil {
		failuresBefore = max(configured-*current, 0)
	}
	d := b.Initial
	for i := 0; i < failuresBefore; i++ {
		d *= 2
		if b.Max > 0 && d >= b.Max {
			return b.Max
		}
	}
	if b.Max > 0 && d > b.Max {
		d = b.Max
	}
	return d
}

// cutMessage cuts s to at most n UTF-16 code units (the engine counts Java chars) on a rune
// boundary, marking the cut with "…".
func cutMessage(s string, n int) string {
	units := func(r rune) int {
		if r >= 0x10000 {
			return 2
		}
		return 1
	}
	total := 0
	for _, r := range s {
		total += units(r)
	}
	if total <= n {
		return s
	}
	limit := n - 1 // room for the ellipsis
	var b strings.Builder
	used := 0
	for _, r := range s {
		if r == utf8.RuneError {
			r = '?'
		}
		u := units(r)
		if used+u > limit {
			break
		}
		b.WriteRune(r)
		used += u
	}
	return strings.TrimRight(b.String(), " \t\r\n") + "…"
}
