package faultsuite_test

// The front service as the suite plays it: a start that retries with the same correlation id
// until it gets a final answer, and loops of such starts.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// outcome is what one logical request (with its retries) got.
type outcome struct {
	id       string
	valid    bool // built to succeed (200); invalid ones are built to fail (422)
	code     int  // the final answer's status, 0 if none came
	payload  json.RawMessage
	first    time.Time // first attempt sent
	done     time.Time // final answer received
	attempts int
	connErrs int  // attempts that ended in a connection error (a dead replica)
	got202   bool // some attempt ended in 202: the wait ran out before the result
	codes    []int
	err      string // why no final answer came
}

// requestDeadline bounds one logical request, retries included.
const requestDeadline = 120 * time.Second

// request starts the onboard-user process for id, first on replica prefer, and retries as a
// front service would: on a connection error at once on the next replica; after a 503 or 502
// (the row stays PENDING) once Retry-After has passed; after a 202 (the wait ran out) at once.
// Every retry sends the same correlation id and variables.
func (h *harness) request(ctx context.Context, id string, valid bool, prefer int) outcome {
	o := outcome{id: id, valid: valid, first: time.Now()}
	email := id + "@example.com"
	if !valid {
		email = "not-an-email" // create-account throws INVALID_INPUT: the row ends ERROR (422)
	}
	body := fmt.Sprintf(`{"correlationId": %q, "variables": {"email": %q, "name": "Fault Suite"}}`, id, email)
	deadline := o.first.Add(requestDeadline)
	idx := prefer
	for time.Now().Before(deadline) && ctx.Err() == nil {
		r := h.replicas[idx%len(h.replicas)]
		o.attempts++
		code, hdr, payload, err := h.post(ctx, r.base()+"/process/onboard-user/start", body)
		if err != nil {
			o.connErrs++
			o.codes = append(o.codes, -1)
			idx++
			pause(ctx, 50*time.Millisecond)
			continue
		}
		o.codes = append(o.codes, code)
		switch code {
		case http.StatusOK, http.StatusUnprocessableEntity:
			o.code, o.payload, o.done = code, payload, time.Now()
			return o
		case http.StatusAccepted:
			o.got202 = true
		case http.StatusServiceUnavailable, http.StatusBadGateway:
			wait := time.Second
			if s, err := strconv.Atoi(hdr.Get("Retry-After")); err == nil {
				wait = time.Duration(s) * time.Second
			}
			pause(ctx, wait)
		default:
			o.err = fmt.Sprintf("attempt %d on %s: %d %s", o.attempts, r.id, code, payload)
			return o
		}
	}
	o.err = fmt.Sprintf("no final answer within %s (codes %v)", requestDeadline, o.codes)
	return o
}

// post sends one start; a transport error is a connection error.
func (h *harness) post(ctx context.Context, url, body string) (int, http.Header, json.RawMessage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.client.Do(req)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("%w: %v", errConn, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("%w: %v", errConn, err)
	}
	return resp.StatusCode, resp.Header, b, nil
}

// pause is a client's back-off (not synchronisation): it waits d or until ctx ends.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// load runs n client loops, each starting requests one after the other (ids prefix-<loop>-<n>,
// every tenth built to fail), spread over the replicas, until stop is closed; it returns
// every outcome once the requests in flight have their answers.
func (h *harness) load(ctx context.Context, prefix string, n int, stop <-chan struct{}) func() []outcome {
	var (
		mu  sync.Mutex
		all []outcome
		wg  sync.WaitGroup
	)
	for loop := range n {
		wg.Go(func() {
			for seq := 0; ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("%s-%d-%d", prefix, loop, seq)
				o := h.request(ctx, id, (loop+seq)%10 != 9, loop+seq)
				mu.Lock()
				all = append(all, o)
				mu.Unlock()
			}
		})
	}
	return func() []outcome {
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(all)
	}
}

// percentile returns the p-th percentile (0..100) of ds, nearest rank.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}
