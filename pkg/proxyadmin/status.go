package proxyadmin

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/proxy/admin"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
)

// StatusOptions are the inputs of `meshctl proxy status [POD]`.
type StatusOptions struct {
	genericiooptions.IOStreams
	// Pod and Namespace name the pod. Without Pod, every meshed pod of
	// Namespace is shown, one row each (the fleet view).
	Pod, Namespace string
	// AllNamespaces shows the meshed pods of every namespace (no Pod).
	AllNamespaces bool
	// MeshName and MeshNamespace find the MeshConfig the fleet view
	// compares images with.
	MeshName, MeshNamespace string
	// Output is table, json or yaml.
	Output cli.Format
	// Clients reaches the cluster.
	Clients func() (*kube.Clients, error)
	// Now is the clock expiries are shown against; time.Now when nil.
	Now func() time.Time
}

// Complete takes the pod from args and the namespace and clients from f.
func (o *StatusOptions) Complete(f cli.Factory, args []string) error {
	if len(args) == 1 {
		o.Pod = args[0]
	}
	ns, err := cli.ContextNamespace(f)
	if err != nil {
		return err
	}
	o.Namespace = ns
	o.Clients = f.Clients
	s := f.Settings()
	o.MeshName, o.MeshNamespace = s.MeshName, s.MeshNamespace
	return nil
}

// Validate checks that a pod is not asked for in every namespace.
func (o *StatusOptions) Validate() error {
	if o.Pod != "" && o.AllNamespaces {
		return cli.UsageErrorf("a pod is named in one namespace: drop POD or --all-namespaces")
	}
	return nil
}

func (o *StatusOptions) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// ProxyStatus is what `meshctl proxy status` prints: the pod and what its
// proxy reports on /status. Its JSON form is part of the CLI's contract.
type ProxyStatus struct {
	Pod       string `json:"pod"`
	Namespace string `json:"namespace"`
	admin.Status
	now time.Time
}

// Run reads the proxy's /status through a port-forward and prints it;
// without a pod, the fleet view.
func (o *StatusOptions) Run(ctx context.Context) error {
	if o.Pod == "" {
		return o.runFleet(ctx)
	}
	c, err := o.Clients()
	if err != nil {
		return err
	}
	pod, err := getPod(ctx, c.Kube, o.Namespace, o.Pod)
	if err != nil {
		return err
	}
	if err := meshed(pod); err != nil {
		return err
	}
	st, err := (&Client{Config: c.Config, Kube: c.Kube}).Status(ctx, o.Namespace, o.Pod)
	if err != nil {
		return err
	}
	s := ProxyStatus{Pod: o.Pod, Namespace: o.Namespace, Status: st, now: o.now()}
	return cli.Write(o.Out, o.Output, &s)
}

// meshed says why pod has no proxy to ask, or nil.
func meshed(pod *corev1.Pod) error {
	if err := runsProxy(pod); err != nil {
		return err
	}
	if proxyconfig.IdentityOf(&pod.Spec) != nil {
		return nil
	}
	return fmt.Errorf("pod %q in namespace %q: its proxy was injected without identity (by an older meshctl); restart it to get one", pod.Name, pod.Namespace)
}

// WriteJSON writes the status as one JSON document.
func (s *ProxyStatus) WriteJSON(out io.Writer) error { return cli.EncodeJSON(out, s) }

// WriteYAML writes the status as one YAML document.
func (s *ProxyStatus) WriteYAML(out io.Writer) error { return cli.EncodeYAML(out, s) }

// WriteTable writes the human form: one line per fact.
func (s *ProxyStatus) WriteTable(out io.Writer) error {
	var b strings.Builder
	line := func(k, format string, args ...any) {
		// The values are the proxy's: Printable keeps them from writing
		// to the terminal.
		fmt.Fprintf(&b, "%-14s %s\n", k+":", cli.Printable(fmt.Sprintf(format, args...)))
	}
	line("Pod", "%s/%s", s.Namespace, s.Pod)
	if id := s.Identity; id != nil {
		line("Identity", "%s", id.ID)
		if c := id.Certificate; c != nil {
			line("Certificate", "serial %s, valid until %s (%s)", c.Serial, c.NotAfter.Format(time.RFC3339), until(s.now, c.NotAfter))
			if id.RenewAt != nil {
				line("Renewal", "%s (%s)", id.RenewAt.Format(time.RFC3339), until(s.now, *id.RenewAt))
			}
			line("Issuer", "sha256:%s", short(c.Issuer))
		} else {
			line("Certificate", "none yet")
		}
		for i, a := range id.Anchors {
			k := ""
			if i == 0 {
				k = "Trust anchors"
			}
			line(k, "sha256:%s %s, valid until %s", short(a.Fingerprint), a.Subject, a.NotAfter.Format(time.RFC3339))
		}
		if id.LastError != "" {
			line("Last error", "%s", id.LastError)
		}
		if id.BundleError != "" {
			line("Bundle error", "%s", id.BundleError)
		}
	}
	if ch := s.Channel; ch != nil {
		state := "disconnected"
		if ch.Connected {
			state = "connected"
		}
		line("Channel", "%s to %s, %d connection(s)", state, ch.Controller, ch.Connects)
		if ch.Version.Hash != "" {
			line("Snapshot", "%s, received %s", short(ch.Version.Hash), ch.Received.Format(time.RFC3339))
		}
		if ch.LastError != "" {
			line("Channel error", "%s", ch.LastError)
		}
	}
	if st := s.Settings; st != nil {
		level := string(st.LogLevel)
		if st.Pinned {
			level += " (the workload's own)"
		}
		line("Settings", "egress %s, log level %s, tracing %s, JWT %s", onOff(st.Egress), level, onOff(st.Tracing), onOff(st.JWT))
		if st.Digest != "" {
			line("Settings from", "%s", short(st.Digest))
		}
		if st.Error != "" {
			line("Not applied", "%s", st.Error)
		}
	}
	_, err := io.WriteString(out, b.String())
	return err
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// short keeps the start of a fingerprint or hash, as git does.
func short(s string) string {
	if len(s) > 19 {
		return s[:19]
	}
	return s
}

// until says how far t is from now, in whole minutes, hours or days.
func until(now, t time.Time) string {
	d := t.Sub(now)
	suffix := "from now"
	if d < 0 {
		d, suffix = -d, "ago"
	}
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd %s", int(d.Hours()/24), suffix)
	case d >= time.Hour:
		return fmt.Sprintf("%dh %s", int(d.Hours()), suffix)
	default:
		return fmt.Sprintf("%dm %s", int(d.Minutes()), suffix)
	}
}
