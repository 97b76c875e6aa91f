package reconnect

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestForeverRetriesWithGrowingWaitsUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs bytes.Buffer
	var calls []time.Time
	err := Forever(ctx, slog.New(slog.NewTextHandler(&logs, nil)), "stream ended", func(context.Context) error {
		calls = append(calls, time.Now())
		if len(calls) == 3 {
			cancel()
		}
		return errors.New("engine down")
	})
	if err != nil {
		t.Fatalf("Forever returned %v after ctx ended; want nil", err)
	}
	if len(calls) != 3 {
		t.Fatalf("follow called %d times, want 3", len(calls))
	}
	if first, second := calls[1].Sub(calls[0]), calls[2].Sub(calls[1]); first < Min || second < 2*Min {
		t.Errorf("waits %v then %v; want at least %v then %v", first, second, Min, 2*Min)
	}
	if got := strings.Count(logs.String(), "stream ended"); got != 2 {
		t.Errorf("%d failures logged, want 2 (the third ended with ctx):\n%s", got, logs.String())
	}
	if !strings.Contains(logs.String(), "engine down") {
		t.Errorf("log lacks the error:\n%s", logs.String())
	}
}
