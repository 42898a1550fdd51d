package telemetry

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// DefaultLogFlushInterval is how long an access-log line may wait in the
// buffer, as Envoy's file access log does by default: one write per second
// instead of one per request takes a syscall off every request.
const DefaultLogFlushInterval = time.Second

// LogBuffer is an io.Writer that batches writes to w and flushes them every
// interval, when the buffer fills, and on Close. Each Write lands whole, so
// lines from concurrent requests never interleave.
type LogBuffer struct {
	mu   sync.Mutex
	w    *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

// NewLogBuffer starts the flusher; Close stops it and flushes.
func NewLogBuffer(w io.Writer, interval time.Duration) *LogBuffer {
	if interval <= 0 {
		interval = DefaultLogFlushInterval
	}
	b := &LogBuffer{w: bufio.NewWriterSize(w, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(b.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				b.Flush()
			case <-b.stop:
				return
			}
		}
	}()
	return b
}

// Write buffers p.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.w.Write(p)
}

// Flush writes out what is buffered.
func (b *LogBuffer) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.w.Flush()
}

// Close stops the flusher and flushes.
func (b *LogBuffer) Close() error {
	close(b.stop)
	<-b.done
	return b.Flush()
}
