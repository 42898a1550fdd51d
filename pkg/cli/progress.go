package cli

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// spinnerInterval is how often the spinner moves; fast enough to look alive,
// slow enough not to flood a slow terminal.
const spinnerInterval = 100 * time.Millisecond

const spinnerFrames = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"

// Progress reports the state of named tasks during a long wait (components
// becoming ready, checks retrying). On a terminal it draws one spinner line
// that shows every task still running; elsewhere (CI logs, pipes) it writes a
// plain timestamped line each time a task's status changes, and never a
// control character. It is safe for concurrent use.
type Progress struct {
	out       io.Writer
	decorated bool
	clock     clock.WithTicker

	mu      sync.Mutex
	order   []string
	status  map[string]string
	running map[string]bool
	frame   int
	drawn   bool
	stop    chan struct{}
	stopped chan struct{}
}

// NewProgress reports to out. With decorated (see Settings.Decorated) it draws
// a spinner; clk drives the spinner and stamps the plain lines.
func NewProgress(out io.Writer, decorated bool, clk clock.WithTicker) *Progress {
	return &Progress{out: out, decorated: decorated, clock: clk, status: map[string]string{}, running: map[string]bool{}}
}

// Update sets the status of a running task, adding the task if it is new.
func (p *Progress) Update(task, status string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.status[task]; !ok {
		p.order = append(p.order, task)
	}
	changed := p.status[task] != status || !p.running[task]
	p.status[task], p.running[task] = status, true
	if p.decorated {
		p.startSpinnerLocked()
		p.drawLocked()
		return
	}
	if changed {
		p.lineLocked(task + ": " + status)
	}
}

// Done marks a task finished successfully.
func (p *Progress) Done(task, status string) { p.finish(task, "✓", status) }

// Failed marks a task finished unsuccessfully.
func (p *Progress) Failed(task, status string) { p.finish(task, "✗", status) }

func (p *Progress) finish(task, symbol, status string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.status[task]; !ok {
		p.order = append(p.order, task)
	}
	p.status[task], p.running[task] = status, false
	if p.decorated {
		p.clearLocked()
		fmt.Fprintf(p.out, "%s %s: %s\n", symbol, task, status)
		p.drawLocked()
		return
	}
	p.lineLocked(task + ": " + status)
}

// Stop ends the spinner and clears its line. A Progress may be stopped more
// than once; nothing is written after Stop.
func (p *Progress) Stop() {
	p.mu.Lock()
	stop, stopped := p.stop, p.stopped
	p.stop = nil
	p.mu.Unlock()
	if stop != nil {
		close(stop)
		<-stopped
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearLocked()
	p.decorated = false
	p.out = io.Discard
}

func (p *Progress) lineLocked(msg string) {
	fmt.Fprintf(p.out, "%s %s\n", p.clock.Now().UTC().Format(time.RFC3339), msg)
}

func (p *Progress) startSpinnerLocked() {
	if p.stop != nil {
		return
	}
	p.stop, p.stopped = make(chan struct{}), make(chan struct{})
	t := p.clock.NewTicker(spinnerInterval)
	go func(stop, stopped chan struct{}) {
		defer close(stopped)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C():
				p.mu.Lock()
				p.frame++
				p.drawLocked()
				p.mu.Unlock()
			}
		}
	}(p.stop, p.stopped)
}

// drawLocked repaints the spinner line with every running task.
func (p *Progress) drawLocked() {
	if !p.decorated {
		return
	}
	var parts []string
	for _, t := range p.order {
		if p.running[t] {
			parts = append(parts, t+": "+p.status[t])
		}
	}
	p.clearLocked()
	if len(parts) == 0 {
		return
	}
	frames := []rune(spinnerFrames)
	fmt.Fprintf(p.out, "%c %s", frames[p.frame%len(frames)], strings.Join(parts, ", "))
	p.drawn = true
}

func (p *Progress) clearLocked() {
	if p.drawn {
		// Carriage return, then erase to the end of the line.
		io.WriteString(p.out, "\r\x1b[K")
		p.drawn = false
	}
}
