package zapslog

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"testing"
	"time"

	"go.uber.org/zap"
)

func TestForwardsAtLevelWithFields(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var min slog.LevelVar
	min.Set(slog.LevelWarn)
	z := New(log, "etcd", &min).With(zap.String("member", "m1"))

	z.Info("dropped")
	z.Warn("kept", zap.Int("n", 3), zap.Duration("took", 2*time.Second), zap.Error(errors.New("boom")))
	min.Set(slog.Level(100)) // mute
	z.Error("muted")

	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != 1 {
		t.Fatalf("got %d entries, want 1:\n%s", len(lines), buf.String())
	}
	var got map[string]any
	if err := json.Unmarshal(lines[0], &got); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{
		"msg": "kept", "level": "WARN", "component": "etcd", "member": "m1",
		"n": float64(3), "took": float64(2 * time.Second), "error": "boom",
	} {
		if got[k] != want {
			t.Errorf("%s = %v (%T), want %v", k, got[k], got[k], want)
		}
	}
}

func TestNilLoggerDropsEverything(t *testing.T) {
	z := New(nil, "etcd", slog.LevelDebug)
	if z.Core().Enabled(zap.ErrorLevel) {
		t.Fatal("nil logger: core enabled")
	}
}
