// Package polltest waits, in tests, for something that happens in the
// background: a file offset saved, a record consumed, a member listed. It
// polls instead of sleeping a fixed time, so a test is as quick as the system
// and fails with what it waited for and what it last saw.
package polltest

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// Polls start this soon after each other and back off to maxInterval, so a
// quick condition is seen within milliseconds and a slow one (an HTTP call
// to a container) is not hammered.
const (
	minInterval = 5 * time.Millisecond
	maxInterval = 250 * time.Millisecond
)

// Until calls ok until it reports true and returns how long that took; if
// within passes first, the test fails naming what, with ok's last remark.
func Until(t testing.TB, what string, within time.Duration, ok func() (bool, string)) time.Duration {
	t.Helper()
	began := time.Now()
	last := ""
	for wait := minInterval; ; wait = min(2*wait, maxInterval) {
		var done bool
		if done, last = ok(); done {
			return time.Since(began)
		}
		if time.Since(began) > within {
			break
		}
		time.Sleep(wait)
	}
	if last != "" {
		t.Fatalf("timed out after %v waiting for %s; last: %.500s", within, what, last)
	} else {
		t.Fatalf("timed out after %v waiting for %s", within, what)
	}
	return 0
}

// True is Until for a condition with nothing to remark.
func True(t testing.TB, what string, within time.Duration, ok func() bool) time.Duration {
	t.Helper()
	return Until(t, what, within, func() (bool, string) { return ok(), "" })
}

// Wait calls cond until it reports true or ctx ends; then it returns ctx's
// error with cond's last error. It is for helpers that return an error
// instead of failing the test.
func Wait(ctx context.Context, cond func() (bool, error)) error {
	var last error
	for wait := minInterval; ; wait = min(2*wait, maxInterval) {
		ok, err := cond()
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("%w (last error: %v)", ctx.Err(), last)
			}
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}
