package kubelet

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	vklog "github.com/virtual-kubelet/virtual-kubelet/log"
)

// slogLogger carries virtual-kubelet's logs to the provider's slog
// logger.
type slogLogger struct{ l *slog.Logger }

var _ vklog.Logger = slogLogger{}

func (s slogLogger) log(level slog.Level, args ...any) {
	s.l.Log(context.Background(), level, fmt.Sprint(args...))
}

func (s slogLogger) logf(level slog.Level, format string, args ...any) {
	s.l.Log(context.Background(), level, fmt.Sprintf(format, args...))
}

// Debug logs at debug level.
func (s slogLogger) Debug(args ...any) { s.log(slog.LevelDebug, args...) }

// Debugf logs at debug level.
func (s slogLogger) Debugf(f string, args ...any) { s.logf(slog.LevelDebug, f, args...) }

// Info logs at info level.
func (s slogLogger) Info(args ...any) { s.log(slog.LevelInfo, args...) }

// Infof logs at info level.
func (s slogLogger) Infof(f string, args ...any) { s.logf(slog.LevelInfo, f, args...) }

// Warn logs at warn level.
func (s slogLogger) Warn(args ...any) { s.log(slog.LevelWarn, args...) }

// Warnf logs at warn level.
func (s slogLogger) Warnf(f string, args ...any) { s.logf(slog.LevelWarn, f, args...) }

// Error logs at error level.
func (s slogLogger) Error(args ...any) { s.log(slog.LevelError, args...) }

// Errorf logs at error level.
func (s slogLogger) Errorf(f string, args ...any) { s.logf(slog.LevelError, f, args...) }

// Fatal logs at error level and exits.
func (s slogLogger) Fatal(args ...any) { s.log(slog.LevelError, args...); os.Exit(1) }

// Fatalf logs at error level and exits.
func (s slogLogger) Fatalf(f string, args ...any) { s.logf(slog.LevelError, f, args...); os.Exit(1) }

// WithField adds a field.
func (s slogLogger) WithField(k string, v any) vklog.Logger { return slogLogger{s.l.With(k, v)} }

// WithFields adds fields.
func (s slogLogger) WithFields(f vklog.Fields) vklog.Logger {
	l := s.l
	for k, v := range f {
		l = l.With(k, v)
	}
	return slogLogger{l}
}

// WithError adds an error.
func (s slogLogger) WithError(err error) vklog.Logger { return slogLogger{s.l.With("err", err)} }
