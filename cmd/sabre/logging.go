package main

import (
	"fmt"
	"io"
	"log/slog"
)

// newLogger is the daemon's logger: -log-format text (slog's key=value
// lines) or json (one object per line, for journald or a log shipper),
// at debug level with -v.
func newLogger(format string, verbose bool, w io.Writer) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if verbose {
		opts.Level = slog.LevelDebug
	}
	switch format {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("run: -log-format %q: want text or json", format)
}
