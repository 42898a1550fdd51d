package tapcli

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/proxy/tap"
)

// Intervals of top: the table is redrawn every RedrawInterval on a
// terminal, and a snapshot printed every SnapshotInterval elsewhere.
const (
	RedrawInterval   = time.Second
	SnapshotInterval = 5 * time.Second
	// TopRows is how many of the busiest rows the table shows.
	TopRows = 20
	// MaxTopKeys bounds the rows top keeps: paths come from callers, so
	// past it new ones are counted together as Other.
	MaxTopKeys = 10000
)

// Screen control: home and clear, written only to a terminal that takes
// decoration (not with NO_COLOR or --no-color).
const clearScreen = "\x1b[H\x1b[2J"

// TopOptions are the inputs of `meshctl top TARGET`.
type TopOptions struct {
	genericiooptions.IOStreams
	Listen
	// Max, when not 0, ends the command after that many requests, with
	// a last snapshot.
	Max int
	// Output is table or json.
	Output cli.Format
	// Redraw says to redraw the table in place, on a terminal; set by
	// Complete from the Factory.
	Redraw bool
	// Ticker returns a channel that ticks every d and what stops it;
	// time.NewTicker's when nil. Tests tick themselves.
	Ticker func(d time.Duration) (<-chan time.Time, func())
	// Now is the clock of the snapshots' time; time.Now when nil.
	Now func() time.Time
}

// Complete takes the target from args, the namespace and clients from f,
// and whether to redraw from the terminal.
func (o *TopOptions) Complete(f cli.Factory, args []string) error {
	if err := o.complete(f, args); err != nil {
		return err
	}
	o.Redraw = o.Output == cli.FormatTable && f.Decorated(o.Out)
	return nil
}

// Validate checks the bounds and the filter as the proxies will.
func (o *TopOptions) Validate() error {
	if o.Max < 0 {
		return cli.UsageErrorf("--max %d: 0 (until interrupted) or more", o.Max)
	}
	_, err := o.request(0)
	return err
}

// Run aggregates the target's requests into a table of the busiest paths,
// shown every interval, until ctx ends (Ctrl-C), Max requests have been
// counted, or every stream has ended.
func (o *TopOptions) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	items, _, err := o.start(ctx, func(int) tap.Request {
		r, _ := o.request(0)
		return r
	}, o.ErrOut)
	if err != nil {
		return err
	}
	defer func() {
		cancel()
		for range items {
		}
	}()
	interval := SnapshotInterval
	if o.Redraw {
		interval = RedrawInterval
	}
	ticker := o.Ticker
	if ticker == nil {
		ticker = func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		}
	}
	tick, stop := ticker(interval)
	defer stop()
	t := &Table{}
	for {
		select {
		case it, ok := <-items:
			if !ok {
				if err := o.show(t); err != nil {
					return err
				}
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("%s: every proxy's stream has ended", o.Target)
			}
			if it.err != nil {
				fmt.Fprintln(o.ErrOut, ended(it.pod, it.err))
				continue
			}
			switch it.line.Kind {
			case tap.KindMissed:
				t.Dropped += it.line.Dropped + it.line.Limited
			case tap.KindRequest:
				t.Add(&it.line.Event)
				if o.Max > 0 && t.Requests >= uint64(o.Max) {
					return o.show(t)
				}
			}
		case <-tick:
			if err := o.show(t); err != nil {
				return err
			}
		case <-ctx.Done():
			// The last counts, once more: on a terminal the screen
			// already shows them.
			if !o.Redraw {
				return o.show(t)
			}
			return nil
		}
	}
}

func (o *TopOptions) show(t *Table) error {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	s := t.Snapshot(now(), TopRows)
	if o.Output == cli.FormatJSON {
		return cli.EncodeJSON(o.Out, s)
	}
	if o.Redraw {
		if _, err := io.WriteString(o.Out, clearScreen); err != nil {
			return err
		}
	}
	return s.WriteTable(o.Out)
}

// Key is what a row of top counts: one direction of one path between two
// ends.
type Key struct {
	Direction, Source, Destination, Method, Path string
}

// Row is one key's counts.
type Row struct {
	Key
	// Count is the requests; Successes those answered with a status
	// below 500.
	Count, Successes uint64
	// Best, Worst and Last are latencies.
	Best, Worst, Last time.Duration
}

// Table aggregates requests by Key. The zero value is empty.
type Table struct {
	rows map[Key]*Row
	// other counts the requests of keys past MaxTopKeys.
	other Row
	// Requests is every request added; Dropped those the proxies did not
	// send (their stream fell behind).
	Requests, Dropped uint64
}

// Add counts e.
func (t *Table) Add(e *tap.Event) {
	k := Key{Direction: e.Direction, Source: Short(e.Source), Destination: Short(e.Destination), Method: e.Method, Path: e.Path}
	if t.rows == nil {
		t.rows = map[Key]*Row{}
	}
	r := t.rows[k]
	if r == nil {
		if len(t.rows) >= MaxTopKeys {
			r = &t.other
			r.Key = Key{Path: "(other paths)"}
		} else {
			r = &Row{Key: k}
			t.rows[k] = r
		}
	}
	t.Requests++
	r.Count++
	if e.Status > 0 && e.Status < 500 {
		r.Successes++
	}
	if r.Count == 1 || e.Latency < r.Best {
		r.Best = e.Latency
	}
	r.Worst = max(r.Worst, e.Latency)
	r.Last = e.Latency
}

// Snapshot is the n busiest rows at time at: by count, then by key.
func (t *Table) Snapshot(at time.Time, n int) *Snapshot {
	rows := make([]Row, 0, len(t.rows)+1)
	for _, r := range t.rows {
		rows = append(rows, *r)
	}
	if t.other.Count > 0 {
		rows = append(rows, t.other)
	}
	slices.SortFunc(rows, func(a, b Row) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Direction, b.Direction), cmp.Compare(a.Source, b.Source),
			cmp.Compare(a.Destination, b.Destination), cmp.Compare(a.Method, b.Method), cmp.Compare(a.Path, b.Path))
	})
	s := &Snapshot{Time: at.UTC(), Requests: t.Requests, Dropped: t.Dropped, Rows: []SnapshotRow{}}
	for _, r := range rows[:min(n, len(rows))] {
		s.Rows = append(s.Rows, SnapshotRow{
			Direction: r.Direction, Source: r.Source, Destination: r.Destination, Method: r.Method, Path: r.Path,
			Count: r.Count, SuccessRate: float64(r.Successes) / float64(r.Count),
			BestMs: ms(r.Best), WorstMs: ms(r.Worst), LastMs: ms(r.Last),
		})
	}
	return s
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Snapshot is top's table at one time, as -o json prints it.
type Snapshot struct {
	Time time.Time `json:"time"`
	// Requests is every request counted since the start; Dropped those
	// the proxies did not send.
	Requests uint64        `json:"requests"`
	Dropped  uint64        `json:"dropped"`
	Rows     []SnapshotRow `json:"rows"`
}

// SnapshotRow is one row: a key and its counts since the start.
type SnapshotRow struct {
	Direction   string  `json:"direction"`
	Source      string  `json:"source,omitempty"`
	Destination string  `json:"destination,omitempty"`
	Method      string  `json:"method"`
	Path        string  `json:"path"`
	Count       uint64  `json:"count"`
	SuccessRate float64 `json:"successRate"`
	BestMs      float64 `json:"bestMs"`
	WorstMs     float64 `json:"worstMs"`
	LastMs      float64 `json:"lastMs"`
}

// WriteTable writes the snapshot as a table, with a line of totals.
func (s *Snapshot) WriteTable(out io.Writer) error {
	rows := make([][]string, 0, len(s.Rows))
	for _, r := range s.Rows {
		rows = append(rows, []string{
			Field(r.Direction), Field(r.Source), Field(r.Destination), Field(r.Method), Field(r.Path),
			strconv.FormatUint(r.Count, 10), strconv.FormatFloat(100*r.SuccessRate, 'f', 1, 64) + "%",
			latency(r.BestMs), latency(r.WorstMs), latency(r.LastMs),
		})
	}
	fmt.Fprintf(out, "%s  %d requests", s.Time.Format(time.TimeOnly), s.Requests)
	if s.Dropped > 0 {
		fmt.Fprintf(out, ", %d more not sent by the proxies", s.Dropped)
	}
	fmt.Fprintln(out)
	return cli.WriteTable(out, []string{"DIR", "SOURCE", "DESTINATION", "METHOD", "PATH", "COUNT", "SUCCESS", "BEST", "WORST", "LAST"}, rows)
}

func latency(ms float64) string { return strconv.FormatFloat(ms, 'f', 3, 64) + "ms" }
