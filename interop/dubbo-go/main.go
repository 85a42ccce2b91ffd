// dubbo-interop: the dubbo-go (v3.3.2) side of Trident's Triple interop tests.
//
//	dubbo-interop serve --mode hl|raw
//	dubbo-interop call --addr 127.0.0.1:PORT --mode hl|triple [--codec proto|json] [--http 1|2] [--scenario LIST]
//
// Results go to stdout (`LISTENING <port>`, or one JSON line per scenario); logs go to stderr. See
// README.md.
package main

import (
	"fmt"
	"os"
	"strings"
	"sync"

	gostlogger "github.com/dubbogo/gost/log/logger"
)

// out is the real stdout; os.Stdout itself is pointed at stderr so that nothing else (dubbo-go logs
// in particular) can interleave with the result lines.
var (
	out   = os.Stdout
	outMu sync.Mutex
)

// emit writes one result line to stdout.
func emit(line string) {
	outMu.Lock()
	defer outMu.Unlock()
	fmt.Fprintln(out, line)
}

// logf writes one of our own log lines to stderr.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "dubbo-interop: "+format+"\n", args...)
}

func usage() {
	fmt.Fprint(os.Stderr, `usage:
  dubbo-interop serve --mode hl|raw
  dubbo-interop call --addr 127.0.0.1:PORT --mode hl|triple [--codec proto|json] [--http 1|2] [--scenario all|LIST]

environment: DUBBO_INTEROP_LOG=debug|info|warn|error shows dubbo-go's own logs (on stderr); off by default.
`)
}

func main() {
	os.Stdout = os.Stderr
	gostlogger.SetLogger(newStderrLogger(os.Getenv("DUBBO_INTEROP_LOG")))
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	switch os.Args[1] {
	case "serve":
		os.Exit(serve(os.Args[2:]))
	case "call":
		os.Exit(call(os.Args[2:]))
	case "-h", "--help", "help":
		usage()
	default:
		usage()
		os.Exit(2)
	}
}

// ---------------------------------------------------------------------------------------------------
// dubbo-go's logger (gost), sent to stderr at a chosen level, silent by default. dubbo-go's default
// logger writes to stdout.

type stderrLogger struct {
	level int // messages below this level are dropped
}

const (
	levelDebug = iota
	levelInfo
	levelWarn
	levelError
	levelOff
)

func newStderrLogger(level string) *stderrLogger {
	switch strings.ToLower(level) {
	case "debug":
		return &stderrLogger{levelDebug}
	case "info":
		return &stderrLogger{levelInfo}
	case "warn":
		return &stderrLogger{levelWarn}
	case "error":
		return &stderrLogger{levelError}
	default:
		return &stderrLogger{levelOff}
	}
}

func (l *stderrLogger) write(level int, tag, msg string) {
	if level < l.level {
		return
	}
	fmt.Fprintf(os.Stderr, "dubbo-go %s: %s\n", tag, strings.TrimRight(msg, "\n"))
}

func (l *stderrLogger) Debug(args ...any) { l.write(levelDebug, "DEBUG", fmt.Sprint(args...)) }
func (l *stderrLogger) Info(args ...any)  { l.write(levelInfo, "INFO", fmt.Sprint(args...)) }
func (l *stderrLogger) Warn(args ...any)  { l.write(levelWarn, "WARN", fmt.Sprint(args...)) }
func (l *stderrLogger) Error(args ...any) { l.write(levelError, "ERROR", fmt.Sprint(args...)) }
func (l *stderrLogger) Fatal(args ...any) {
	l.write(levelOff, "FATAL", fmt.Sprint(args...))
	os.Exit(1)
}

func (l *stderrLogger) Debugf(f string, args ...any) {
	l.write(levelDebug, "DEBUG", fmt.Sprintf(f, args...))
}
func (l *stderrLogger) Infof(f string, args ...any) {
	l.write(levelInfo, "INFO", fmt.Sprintf(f, args...))
}
func (l *stderrLogger) Warnf(f string, args ...any) {
	l.write(levelWarn, "WARN", fmt.Sprintf(f, args...))
}
func (l *stderrLogger) Errorf(f string, args ...any) {
	l.write(levelError, "ERROR", fmt.Sprintf(f, args...))
}
func (l *stderrLogger) Fatalf(f string, args ...any) {
	l.write(levelOff, "FATAL", fmt.Sprintf(f, args...))
	os.Exit(1)
}
