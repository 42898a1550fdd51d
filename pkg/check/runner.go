package check

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// maxParallel bounds how many checks run at once, so a long list does not
// flood the API server (or client-go's rate limiter) in one burst.
const maxParallel = 8

// Progress receives the state of checks being retried under --wait.
// *cli.Progress implements it.
type Progress interface {
	Update(task, status string)
	Done(task, status string)
	Failed(task, status string)
}

// Runner runs a list of checks.
type Runner struct {
	// Wait is how long failing checks are retried; zero means each check runs
	// once.
	Wait time.Duration
	// RetryInterval is the pause between attempts; zero means
	// DefaultRetryInterval.
	RetryInterval time.Duration
	// Clock times attempts and retries; nil means the real clock.
	Clock clock.WithTicker
	// Progress, when set, shows checks being retried.
	Progress Progress
}

// Run runs checks against env and calls observe with each result, in the
// order of checks, and returns the summary. Checks run in parallel unless one
// needs another: a check waits for every Fatal check before it in its own
// category and for every Fatal check of the categories in its Needs, and is
// skipped if one of those did not pass.
func (r *Runner) Run(ctx context.Context, env *Env, checks []Check, observe Observer) Summary {
	clk := r.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	deadline := clk.Now().Add(r.Wait)
	// The first attempts of this run's checks share one cache of what they
	// read; a run never sees what an earlier run read.
	env = env.fresh()
	n := len(checks)
	results := make([]Result, n)
	done := make([]chan struct{}, n)
	for i := range done {
		done[i] = make(chan struct{})
	}
	sem := make(chan struct{}, maxParallel)
	var wg sync.WaitGroup
	for i := range checks {
		wg.Go(func() {
			defer close(done[i])
			c := &checks[i]
			for _, b := range blockers(checks, i) {
				<-done[b]
				if results[b].Status != StatusOK {
					results[i] = skipped(c, &checks[b])
					return
				}
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				results[i] = failed(c, ctx.Err(), 0, 0)
				return
			}
			defer func() { <-sem }()
			results[i] = r.runCheck(ctx, env, c, clk, deadline)
		})
	}
	var sum Summary
	for i := range checks {
		<-done[i]
		sum.Add(results[i])
		if observe != nil {
			observe(results[i])
		}
	}
	wg.Wait()
	return sum
}

// blockers returns the indexes of the checks that checks[i] waits for. Only
// earlier checks can block, so the order of the list rules out cycles.
func blockers(checks []Check, i int) []int {
	c := &checks[i]
	var out []int
	for j := range i {
		b := &checks[j]
		if b.Severity != Fatal {
			continue
		}
		if b.Category == c.Category || slices.Contains(c.Needs, b.Category) {
			out = append(out, j)
		}
	}
	return out
}

// runCheck runs c until it passes, or once more is pointless: it may not be
// retried, the --wait deadline has passed, or ctx is done.
func (r *Runner) runCheck(ctx context.Context, env *Env, c *Check, clk clock.WithTicker, deadline time.Time) Result {
	interval := r.RetryInterval
	if interval <= 0 {
		interval = DefaultRetryInterval
	}
	start := clk.Now()
	for attempt := 1; ; attempt++ {
		e := env
		if attempt > 1 {
			e = env.fresh()
		}
		err := runOnce(ctx, e, c)
		if err == nil {
			if attempt > 1 && r.Progress != nil {
				r.Progress.Done(c.Description, "ok")
			}
			return Result{Category: c.Category, Check: c.Description, Status: StatusOK, Severity: c.Severity, Attempts: attempt, Duration: clk.Since(start)}
		}
		if c.Retry == NoRetry || ctx.Err() != nil || !clk.Now().Add(interval).Before(deadline) {
			if attempt > 1 && r.Progress != nil {
				r.Progress.Failed(c.Description, firstLine(err))
			}
			return failed(c, err, attempt, clk.Since(start))
		}
		if r.Progress != nil {
			r.Progress.Update(c.Description, fmt.Sprintf("waiting (attempt %d): %s", attempt, firstLine(err)))
		}
		select {
		case <-ctx.Done():
			return failed(c, err, attempt, clk.Since(start))
		case <-clk.After(interval):
		}
	}
}

// runOnce runs one attempt of c under its timeout. A panic in a check is
// reported as its failure rather than taking the whole report down.
func runOnce(ctx context.Context, env *Env, c *Check) (err error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("internal error in check: %v", p)
		}
	}()
	err = c.Run(ctx, env)
	if err != nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
		err = fmt.Errorf("no answer within %s: %w", c.timeout(), err)
	}
	return err
}

func failed(c *Check, err error, attempts int, d time.Duration) Result {
	st := StatusFail
	if c.Severity == Warning {
		st = StatusWarn
	}
	return Result{Category: c.Category, Check: c.Description, Status: st, Err: err, Hint: c.HintURL(), Severity: c.Severity, Attempts: attempts, Duration: d}
}

func skipped(c, blocker *Check) Result {
	return Result{Category: c.Category, Check: c.Description, Status: StatusSkip, Severity: c.Severity,
		Err: fmt.Errorf("skipped: needs %q (%s)", blocker.Description, blocker.Category)}
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
