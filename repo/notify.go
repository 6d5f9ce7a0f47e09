package repo

import "encoding/json"

// Notification is news, pushed by a store that has a listener (repo/postgres: LISTEN/NOTIFY),
// that a row finished, so that a waiting process need not wait for its next poll. It is the
// vocabulary of a store's push path; the consumer (the waitroom) defines the interface it
// uses, in these terms.
type Notification struct {
	// ID is the row's correlation id.
	ID string
	// Status is DONE or ERROR when the notification carries the row's result (a completion
	// another process published with its body); "" when only the id came, and the row must
	// be read.
	Status Status
	// Body is the payload (DONE) or the error body (ERROR) when Status is set.
	Body json.RawMessage
}
