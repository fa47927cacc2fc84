package testutil

import (
	"bytes"
	"strings"
	"sync"
)

// Log collects output (a process's, a command's); it may be read while it is written.
type Log struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Tail is the log's last lines, those a reader of a failure looks at first.
func (l *Log) Tail() string {
	lines := strings.Split(l.String(), "\n")
	return strings.Join(lines[max(0, len(lines)-80):], "\n")
}
