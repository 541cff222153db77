package main

import (
	"io"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// newLogger builds the process logger: JSON in production, console on a
// terminal (format "auto"), on w (stderr: stdout carries detections).
func newLogger(level, format string, w io.Writer) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, usageErr("ROOTWATCH_LOG_LEVEL: %v", err)
	}
	switch format {
	case "auto":
		format = "json"
		if isTerminal(w) {
			format = "console"
		}
	case "json", "console":
	default:
		return nil, usageErr("ROOTWATCH_LOG_FORMAT: invalid value %q (want json, console or auto)", format)
	}
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.TimeKey = "ts"
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	if format == "console" {
		encCfg.EncodeLevel = zapcore.CapitalColorLevelEncoder
		enc = zapcore.NewConsoleEncoder(encCfg)
	} else {
		enc = zapcore.NewJSONEncoder(encCfg)
	}
	// Lock: loggers on many goroutines write to w, and an io.Writer is not
	// safe for concurrent use unless it says so.
	ws := zapcore.Lock(zapcore.AddSync(w))
	core := zapcore.NewCore(enc, ws, lvl)
	return zap.New(core, zap.AddCaller(), zap.ErrorOutput(ws)), nil
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	return fi.Mode()&os.ModeCharDevice != 0
}
