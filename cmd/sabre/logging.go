package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// newLogger is the daemon's logger: -log-format text (slog's key=value
// lines) or json (one object per line, for journald or a log shipper),
// at the levels -log-level gives: a default level and per-subsystem ones,
// "info,ike=debug" (the subsystem is a record's component attribute: ike,
// tun). -v makes the default debug.
func newLogger(format, levels string, verbose bool, w io.Writer) (*slog.Logger, error) {
	lv, err := parseLogLevels(levels)
	if err != nil {
		return nil, err
	}
	if verbose {
		lv.def = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: slog.LevelDebug} // levelHandler filters
	var h slog.Handler
	switch format {
	case "text", "":
		h = slog.NewTextHandler(w, opts)
	case "json":
		h = slog.NewJSONHandler(w, opts)
	default:
		return nil, fmt.Errorf("run: -log-format %q: want text or json", format)
	}
	return slog.New(&levelHandler{h: h, lv: lv, level: lv.def}), nil
}

// logLevels is -log-level: the default level and per-component ones.
type logLevels struct {
	def  slog.Level
	comp map[string]slog.Level
}

// parseLogLevels parses "LEVEL[,COMPONENT=LEVEL...]"; an empty spec is info.
func parseLogLevels(spec string) (logLevels, error) {
	lv := logLevels{def: slog.LevelInfo, comp: map[string]slog.Level{}}
	if spec == "" {
		return lv, nil
	}
	for _, f := range strings.Split(spec, ",") {
		comp, level, found := strings.Cut(strings.TrimSpace(f), "=")
		if !found {
			comp, level = "", comp
		}
		var l slog.Level
		if err := l.UnmarshalText([]byte(level)); err != nil || level == "" {
			return lv, fmt.Errorf("run: -log-level %q: %q is not a level (debug, info, warn, error)", spec, level)
		}
		if comp == "" {
			lv.def = l
		} else {
			lv.comp[comp] = l
		}
	}
	return lv, nil
}

// levelHandler passes a record on if its level reaches that of the
// record's component (set with Logger.With("component", ...)).
type levelHandler struct {
	h     slog.Handler
	lv    logLevels
	level slog.Level
}

func (l *levelHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return level >= l.level && l.h.Enabled(ctx, level)
}

func (l *levelHandler) Handle(ctx context.Context, r slog.Record) error { return l.h.Handle(ctx, r) }

func (l *levelHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := &levelHandler{h: l.h.WithAttrs(attrs), lv: l.lv, level: l.level}
	for _, a := range attrs {
		if a.Key == "component" {
			if lvl, ok := l.lv.comp[a.Value.String()]; ok {
				n.level = lvl
			}
		}
	}
	return n
}

func (l *levelHandler) WithGroup(name string) slog.Handler {
	return &levelHandler{h: l.h.WithGroup(name), lv: l.lv, level: l.level}
}
