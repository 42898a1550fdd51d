package telemetry

import (
	"io"
	"sync"
	"time"
)

// DefaultLogFlushInterval is how long an access-log line may wait in the
// buffer, as Envoy's file access log does by default: one write per second
// instead of one per request takes a syscall off every request.
const DefaultLogFlushInterval = time.Second

// Sizes of LogBuffer: past flushSize the flusher is woken early; past
// maxBuffered (the output is not keeping up) a writer waits for the write
// itself, so memory stays bounded.
const (
	flushSize   = 16 << 10
	maxBuffered = 1 << 20
)

// LogBuffer is an io.Writer that batches writes to w and flushes them every
// interval, when enough is buffered, and on Close. Each Write lands whole,
// so lines from concurrent requests never interleave. The writing to w is
// done by a goroutine of its own, outside the lock that requests take: a
// request only copies its line, and never waits on a slow log (a full
// pipe to the container runtime) unless a megabyte is already waiting.
type LogBuffer struct {
	w io.Writer

	mu    sync.Mutex // guards buf
	buf   []byte
	spare []byte

	writeMu sync.Mutex // serialises writes to w
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
}

// NewLogBuffer starts the flusher; Close stops it and flushes.
func NewLogBuffer(w io.Writer, interval time.Duration) *LogBuffer {
	if interval <= 0 {
		interval = DefaultLogFlushInterval
	}
	b := &LogBuffer{
		w: w, buf: make([]byte, 0, flushSize), spare: make([]byte, 0, flushSize),
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	go func() {
		defer close(b.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
			case <-b.wake:
			case <-b.stop:
				return
			}
			b.Flush()
		}
	}()
	return b
}

// Write buffers p.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	if len(b.buf)+len(p) > maxBuffered {
		b.mu.Unlock()
		// The output is not keeping up: wait for it rather than grow.
		if err := b.Flush(); err != nil {
			return 0, err
		}
		b.mu.Lock()
	}
	b.buf = append(b.buf, p...)
	full := len(b.buf) >= flushSize
	b.mu.Unlock()
	if full {
		select {
		case b.wake <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

// Flush writes out what is buffered.
func (b *LogBuffer) Flush() error {
	b.writeMu.Lock()
	defer b.writeMu.Unlock()
	b.mu.Lock()
	out := b.buf
	b.buf = b.spare[:0]
	b.mu.Unlock()
	var err error
	if len(out) > 0 {
		_, err = b.w.Write(out)
	}
	// The flushed buffer becomes the spare; one grown past its usual size
	// by a burst is let go.
	if cap(out) > 4*flushSize {
		out = make([]byte, 0, flushSize)
	}
	b.spare = out[:0]
	return err
}

// Close stops the flusher and flushes.
func (b *LogBuffer) Close() error {
	close(b.stop)
	<-b.done
	return b.Flush()
}
