package pluginhost

import (
	"log/slog"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// newLogger routes go-plugin's logging (and the plugins' stderr) to slog.
func newLogger(name string) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: name, Level: hclog.Info, Output: slogWriter{name}, DisableTime: true})
}

type slogWriter struct{ plugin string }

func (w slogWriter) Write(b []byte) (int, error) {
	msg := strings.TrimSpace(string(b))
	if msg != "" {
		slog.Info(msg, "plugin", w.plugin)
	}
	return len(b), nil
}
