package proxyadmin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/proxy/admin"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// LogLevelOptions are the inputs of `meshctl proxy log-level POD [LEVEL]`.
type LogLevelOptions struct {
	genericiooptions.IOStreams
	Target
	// Level, when set, is the level to change to; when empty, the command
	// shows the level in force.
	Level wire.LogLevel
	// For is how long the level holds before the proxy goes back to its
	// configured level by itself.
	For time.Duration
	// Output is table, json or yaml.
	Output cli.Format
}

// Complete takes the pod and the level from args, and the namespace and
// clients from f.
func (o *LogLevelOptions) Complete(f cli.Factory, args []string) error {
	if len(args) > 1 {
		o.Level = wire.LogLevel(args[1])
	}
	return o.complete(f, args)
}

// Validate checks the pod's name, the level and the duration against the
// bounds the proxy enforces, so that a mistake exits 2 before any request.
func (o *LogLevelOptions) Validate() error {
	if err := o.validate(); err != nil {
		return err
	}
	if o.Level != "" {
		if _, err := wire.ParseLogLevel(string(o.Level)); err != nil {
			return cli.UsageErrorf("%w", err)
		}
	}
	if o.For <= 0 || o.For > admin.MaxLogLevelFor {
		return cli.UsageErrorf("--for %s: the level holds for more than 0s and at most %s", ShortDuration(o.For), ShortDuration(admin.MaxLogLevelFor))
	}
	return nil
}

// Run changes the proxy's level, or reads it, through a port-forward.
func (o *LogLevelOptions) Run(ctx context.Context) error {
	c, err := o.client(ctx)
	if err != nil {
		return err
	}
	var body []byte
	if o.Level == "" {
		body, err = c.Get(ctx, o.Namespace, o.Pod, admin.LogLevelPath)
	} else {
		change, _ := json.Marshal(admin.LogLevelChange{Level: o.Level, For: o.For.String()})
		body, err = c.Do(ctx, o.Namespace, o.Pod, http.MethodPut, admin.LogLevelPath, change)
	}
	if err != nil {
		if a := (*AnswerError)(nil); errors.As(err, &a) && a.Code == http.StatusNotFound {
			return fmt.Errorf("%w; the proxy predates run-time log levels: set the pod's %s annotation and restart it instead", err, proxyconfig.AnnotationProxyLogLevel)
		}
		return err
	}
	l := &LogLevel{Pod: o.Pod, Namespace: o.Namespace, changed: o.Level != ""}
	if err := json.Unmarshal(body, &l.LogLevelState); err != nil {
		return fmt.Errorf("pod %q in namespace %q: the proxy's %s is not what this meshctl reads: %w", o.Pod, o.Namespace, admin.LogLevelPath, err)
	}
	return cli.Write(o.Out, o.Output, l)
}

// LogLevel is what `meshctl proxy log-level` prints: the pod and its
// proxy's log level. Its JSON form is part of the CLI's contract.
type LogLevel struct {
	Pod       string `json:"pod"`
	Namespace string `json:"namespace"`
	admin.LogLevelState
	changed bool
}

// WriteJSON writes the level as one JSON document.
func (l *LogLevel) WriteJSON(out io.Writer) error { return cli.EncodeJSON(out, l) }

// WriteYAML writes the level as one YAML document.
func (l *LogLevel) WriteYAML(out io.Writer) error { return cli.EncodeYAML(out, l) }

// WriteTable says what was done, or what holds, in one line.
func (l *LogLevel) WriteTable(out io.Writer) error {
	verb := "logs at"
	if l.changed {
		verb = "log level set to"
	}
	line := fmt.Sprintf("pod/%s %s %s", l.Pod, verb, l.Level)
	if l.RevertAt != nil {
		in := l.RevertIn
		if d, err := time.ParseDuration(in); err == nil {
			in = ShortDuration(d)
		}
		line += fmt.Sprintf(" until %s (in %s), then %s", l.RevertAt.Format(time.RFC3339), in, l.Configured)
	} else {
		line += " (its configured level)"
	}
	_, err := fmt.Fprintln(out, line)
	return err
}

// ShortDuration writes d as people do: 10m, 1h, 1h30m, 4m59s.
func ShortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
