package check

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/kube"
)

func TestOptionsValidate(t *testing.T) {
	cases := []struct {
		o   Options
		err string
	}{
		{Options{}, ""},
		{Options{Pre: true, Proxy: true}, "--pre and --proxy cannot be combined"},
		{Options{Pre: true, Namespace: "x"}, "--pre and --namespace cannot be combined"},
		{Options{Wait: -time.Second}, "invalid --wait -1s"},
		{Options{CertExpiryWarning: -time.Hour}, "invalid --cert-expiry-warning"},
	}
	for _, tc := range cases {
		err := tc.o.Validate()
		if tc.err == "" {
			if err != nil {
				t.Errorf("%+v: %v", tc.o, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) || cli.ExitCode(err) != cli.ExitUsage {
			t.Errorf("%+v: err = %v, want usage error %q", tc.o, err, tc.err)
		}
	}
}

// With --wait, a failing check is retried, with progress on stderr, until
// the cluster catches up: here the controller becomes available a second
// into the run.
func TestWaitRetriesUntilHealthy(t *testing.T) {
	m := newMesh(t)
	m.install(t)
	m.setControllerAvailable(t, false)
	updated := make(chan error, 1)
	go func() {
		time.Sleep(time.Second)
		updated <- m.writeControllerStatus(context.Background(), true)
	}()
	defer func() {
		if err := <-updated; err != nil {
			t.Error(err)
		}
	}()
	var out, errOut bytes.Buffer
	o := &Options{
		Wait: 20 * time.Second, Output: cli.FormatTable, MeshName: m.name, MeshNamespace: m.ns,
		Clients: func() (*kube.Clients, error) { return env.Clients, nil },
	}
	o.Out, o.ErrOut = &out, &errOut
	if err := o.Run(testenv.Context(t)); err != nil {
		t.Fatalf("check --wait failed: %v\n%s\n%s", err, out.String(), errOut.String())
	}
	if !strings.Contains(errOut.String(), "the controller Deployment is available: waiting (attempt 1): deployment "+m.ns+"/mesh-controller is not available") ||
		!strings.Contains(errOut.String(), "the controller Deployment is available: ok") {
		t.Errorf("no progress on stderr:\n%s", errOut.String())
	}
	if !strings.Contains(out.String(), "[ok]   the controller Deployment is available") || strings.Contains(out.String(), "waiting") {
		t.Errorf("stdout:\n%s", out.String())
	}
}

// The exit status is the same whatever the format: a failure is a silent
// error (the report said it), warnings pass unless --fail-on-warning.
func TestRunExitStatus(t *testing.T) {
	healthy := newMesh(t)
	healthy.install(t)
	bare := newMesh(t)
	for _, f := range Formats() {
		for _, tc := range []struct {
			m             *mesh
			failOnWarning bool
			expire        bool
			ok            bool
		}{
			{healthy, false, false, true},
			{healthy, true, true, false},
			{healthy, false, true, true},
			{bare, false, false, false},
		} {
			var out bytes.Buffer
			o := &Options{
				Output: f, MeshName: tc.m.name, MeshNamespace: tc.m.ns, FailOnWarning: tc.failOnWarning,
				Clients: func() (*kube.Clients, error) { return env.Clients, nil },
			}
			if tc.expire {
				// Everything is closer to expiry than a century.
				o.CertExpiryWarning = 100 * 365 * 24 * time.Hour
			}
			o.Out, o.ErrOut = &out, &bytes.Buffer{}
			err := o.Run(testenv.Context(t))
			var silent *cli.SilentError
			switch {
			case tc.ok && err != nil:
				t.Errorf("%s, fail-on-warning=%v: %v\n%s", f, tc.failOnWarning, err, out.String())
			case !tc.ok && (!errors.As(err, &silent) || cli.ExitCode(err) != cli.ExitFailure):
				t.Errorf("%s, fail-on-warning=%v: err = %v, want a silent failure\n%s", f, tc.failOnWarning, err, out.String())
			}
			if out.Len() == 0 {
				t.Errorf("%s: no report", f)
			}
		}
	}
}

// Without a cluster the report still comes, in the format asked for: the
// first check fails with the reason, every other is skipped. A fake clock
// makes the JUnit durations stable.
func TestRunWithoutCluster(t *testing.T) {
	for _, f := range Formats() {
		var out bytes.Buffer
		o := &Options{
			Output: f, MeshName: "mesh", MeshNamespace: "mesh-system",
			Clients: func() (*kube.Clients, error) { return nil, kube.ErrNoKubeconfig },
			Clock:   clocktesting.NewFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)),
		}
		o.Out, o.ErrOut = &out, &bytes.Buffer{}
		if err := o.Run(context.Background()); !errors.Is(err, ErrChecksFailed) {
			t.Errorf("%s: err = %v", f, err)
		}
		golden.Assert(t, "testdata/no-cluster."+string(f)+".golden", out.Bytes())
	}
}
