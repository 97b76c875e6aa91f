// Package zapslog sends zap log entries (etcd's server and client log with
// zap) to a log/slog logger, so they come out in the service's own format.
package zapslog

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// New returns a zap logger writing entries at min's level and above to log,
// with component=name. A nil log gives a logger that drops everything. min is
// read on every entry, so a *slog.LevelVar can change (or mute) it later.
func New(log *slog.Logger, name string, min slog.Leveler) *zap.Logger {
	if log == nil {
		return zap.NewNop()
	}
	return zap.New(&core{log: log.With("component", name), min: min})
}

type core struct {
	log   *slog.Logger
	min   slog.Leveler
	attrs []slog.Attr
}

// Level maps a zap level to slog's (zap's panic and fatal become error).
func Level(l zapcore.Level) slog.Level {
	switch {
	case l <= zapcore.DebugLevel:
		return slog.LevelDebug
	case l == zapcore.InfoLevel:
		return slog.LevelInfo
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}

func (c *core) Enabled(l zapcore.Level) bool { return Level(l) >= c.min.Level() }

func (c *core) With(fields []zapcore.Field) zapcore.Core {
	n := *c
	n.attrs = append(append([]slog.Attr(nil), c.attrs...), attrs(fields)...)
	return &n
}

func (c *core) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *core) Write(e zapcore.Entry, fields []zapcore.Field) error {
	lvl := Level(e.Level)
	if !c.log.Enabled(context.Background(), lvl) {
		return nil
	}
	r := slog.NewRecord(e.Time, lvl, e.Message, 0)
	r.AddAttrs(c.attrs...)
	if e.LoggerName != "" {
		r.AddAttrs(slog.String("logger", e.LoggerName))
	}
	r.AddAttrs(attrs(fields)...)
	return c.log.Handler().Handle(context.Background(), r)
}

func (c *core) Sync() error { return nil }

func attrs(fields []zapcore.Field) []slog.Attr {
	if len(fields) == 0 {
		return nil
	}
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fields {
		f.AddTo(enc)
	}
	out := make([]slog.Attr, 0, len(enc.Fields))
	for _, k := range slices.Sorted(maps.Keys(enc.Fields)) {
		switch v := enc.Fields[k].(type) {
		case time.Duration:
			out = append(out, slog.Duration(k, v))
		default:
			out = append(out, slog.Any(k, v))
		}
	}
	return out
}
