package polltest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestTrueReturnsOnceTheConditionHolds(t *testing.T) {
	var n atomic.Int32
	took := True(t, "three calls", 5*time.Second, func() bool { return n.Add(1) == 3 })
	if n.Load() != 3 || took > 2*time.Second {
		t.Fatalf("calls %d, took %v", n.Load(), took)
	}
}

// recorder is a testing.TB that records a failure instead of ending the test.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper()                           {}
func (r *recorder) Fatalf(format string, args ...any) { r.failed = fmt.Sprintf(format, args...) }

func TestUntilFailsNamingWhatAndTheLastRemark(t *testing.T) {
	r := &recorder{TB: t}
	Until(r, "the moon", 20*time.Millisecond, func() (bool, string) { return false, "still night" })
	if !strings.Contains(r.failed, "the moon") || !strings.Contains(r.failed, "still night") {
		t.Fatalf("failure %q should name what was awaited and the last remark", r.failed)
	}
}

func TestWaitReturnsTheLastErrorWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	err := Wait(ctx, func() (bool, error) { return false, errors.New("not yet") })
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "not yet") {
		t.Fatalf("err = %v", err)
	}
	if err := Wait(context.Background(), func() (bool, error) { return true, nil }); err != nil {
		t.Fatal(err)
	}
}
