package queue

import (
	"fmt"
	"log/slog"
	"os"
)

// SlogLogger adapts a *slog.Logger to asynq's Logger interface.
type SlogLogger struct{ L *slog.Logger }

func (s SlogLogger) Debug(args ...any) { s.L.Debug(fmt.Sprint(args...), "component", "asynq") }
func (s SlogLogger) Info(args ...any)  { s.L.Info(fmt.Sprint(args...), "component", "asynq") }
func (s SlogLogger) Warn(args ...any)  { s.L.Warn(fmt.Sprint(args...), "component", "asynq") }
func (s SlogLogger) Error(args ...any) { s.L.Error(fmt.Sprint(args...), "component", "asynq") }

// Fatal logs and exits, as asynq's Logger contract requires.
func (s SlogLogger) Fatal(args ...any) {
	s.L.Error(fmt.Sprint(args...), "component", "asynq", "fatal", true)
	os.Exit(1)
}
