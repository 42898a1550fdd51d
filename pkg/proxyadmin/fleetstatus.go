package proxyadmin

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// ImageState compares the image a proxy runs with the MeshConfig's.
type ImageState string

// The image states.
const (
	// ImageCurrent: the image the injector would inject today.
	ImageCurrent ImageState = "current"
	// ImageOutdated: another image; a restart of the workload injects
	// the current one.
	ImageOutdated ImageState = "outdated"
	// ImageUnknown: the MeshConfig could not be read, or an image
	// reference does not parse.
	ImageUnknown ImageState = "unknown"
)

// Expected is what the mesh's MeshConfig says a proxy should run, read
// once per invocation and compared with each proxy's.
type Expected struct {
	// Image is the MeshConfig's proxy image as the injector resolves it
	// (proxyconfig.New); empty when the MeshConfig could not be read.
	Image string
	// Controller is the identity of the mesh's controller, which a proxy
	// of this mesh talks to; zero when the MeshConfig could not be read.
	Controller identity.ID
	// Settings is the channel.Settings.Digest of the MeshConfig's live
	// settings (proxyconfig.LiveSettings); empty when it could not be
	// read.
	Settings string
}

// SettingsState compares the live settings a proxy follows with the
// MeshConfig's.
type SettingsState string

// The settings states.
const (
	// SettingsCurrent: the proxy follows the MeshConfig's live settings.
	SettingsCurrent SettingsState = "current"
	// SettingsLagging: it follows older ones (not connected to the
	// channel), or refused the latest (the row's problem says why).
	SettingsLagging SettingsState = "lagging"
	// SettingsUnknown: the MeshConfig or the proxy could not be read, or
	// the proxy is too old to say.
	SettingsUnknown SettingsState = "unknown"
)

// FleetRow is one meshed pod's proxy in `meshctl proxy status` without a
// POD: what its pod says and what the proxy reports on /status, or why it
// could not be asked. Its JSON form is part of the CLI's contract; a new
// fact is a field here, its cell in fleetColumns, and its computation in
// newFleetRow.
type FleetRow struct {
	Namespace string `json:"namespace"`
	Pod       string `json:"pod"`
	// Ready is the proxy container's readiness, as the kubelet reports it.
	Ready bool `json:"ready"`
	// Version is the pod's meshconfig.LabelProxyVersion label: the
	// version of the sidecar the injector added.
	Version string `json:"version,omitempty"`
	// Image is the proxy container's image; ExpectedImage the
	// MeshConfig's, and ImageState how they compare.
	Image         string     `json:"image"`
	ExpectedImage string     `json:"expectedImage,omitempty"`
	ImageState    ImageState `json:"imageState"`
	// Identity is the proxy's SPIFFE ID and CertificateNotAfter its
	// certificate's expiry, as the proxy reports them.
	Identity            string     `json:"identity,omitempty"`
	CertificateNotAfter *time.Time `json:"certificateNotAfter,omitempty"`
	// Channel is the proxy's channel to the controller.
	Channel *FleetChannel `json:"channel,omitempty"`
	// Settings says whether the proxy follows the MeshConfig's live
	// settings (egress, log level, tracing, JWT).
	Settings SettingsState `json:"settings"`
	// Error is why the proxy could not be asked, or what it reports as
	// wrong; empty when all is well.
	Error string `json:"error,omitempty"`
}

// FleetChannel is the state of one proxy's channel.
type FleetChannel struct {
	Connected bool `json:"connected"`
	// Snapshot is the version (a content hash) of the snapshot the proxy
	// holds; empty before the first.
	Snapshot string `json:"snapshot,omitempty"`
}

// Fleet is what `meshctl proxy status` prints without a POD: one row per
// meshed pod, by namespace and name.
type Fleet struct {
	Proxies []FleetRow `json:"proxies"`
	now     time.Time
	// namespaces shows the NAMESPACE column, as kubectl does with -A.
	namespaces bool
}

// fleetColumn is one column of the fleet table.
type fleetColumn struct {
	header string
	cell   func(r *FleetRow, now time.Time) string
}

// fleetColumns are the fleet table's columns, in order. The first,
// NAMESPACE, is shown with -A only; the last, PROBLEM, stays last: it is
// the only one whose width varies much.
var fleetColumns = []fleetColumn{
	{"NAMESPACE", func(r *FleetRow, _ time.Time) string { return r.Namespace }},
	{"POD", func(r *FleetRow, _ time.Time) string { return r.Pod }},
	{"READY", func(r *FleetRow, _ time.Time) string { return fmt.Sprint(r.Ready) }},
	{"VERSION", func(r *FleetRow, _ time.Time) string { return orDash(r.Version) }},
	{"IMAGE", func(r *FleetRow, _ time.Time) string { return string(r.ImageState) }},
	{"IDENTITY", func(r *FleetRow, _ time.Time) string { return orDash(shortID(r.Identity)) }},
	{"CERTIFICATE EXPIRES", func(r *FleetRow, now time.Time) string {
		if r.CertificateNotAfter == nil {
			return "-"
		}
		return until(now, *r.CertificateNotAfter)
	}},
	{"CHANNEL", func(r *FleetRow, _ time.Time) string {
		switch {
		case r.Channel == nil:
			return "-"
		case r.Channel.Connected:
			return "connected"
		}
		return "disconnected"
	}},
	{"SETTINGS", func(r *FleetRow, _ time.Time) string { return string(r.Settings) }},
	{"SNAPSHOT", func(r *FleetRow, _ time.Time) string {
		if r.Channel == nil {
			return "-"
		}
		return orDash(short(r.Channel.Snapshot))
	}},
	{"PROBLEM", func(r *FleetRow, _ time.Time) string { return r.Error }},
}

// WriteTable writes one line per proxy.
func (f *Fleet) WriteTable(out io.Writer) error {
	if len(f.Proxies) == 0 {
		_, err := io.WriteString(out, "No meshed pods found.\n")
		return err
	}
	columns := fleetColumns
	if !f.namespaces {
		columns = columns[1:]
	}
	header := make([]string, len(columns))
	for i, c := range columns {
		header[i] = c.header
	}
	rows := make([][]string, len(f.Proxies))
	for i := range f.Proxies {
		row := make([]string, len(columns))
		for j, c := range columns {
			// Cells hold what proxies sent: no escape sequence reaches the
			// terminal, no new line forges a row.
			row[j] = cli.Printable(c.cell(&f.Proxies[i], f.now))
		}
		rows[i] = row
	}
	return cli.WriteTable(out, header, rows)
}

// WriteJSON writes the rows as one JSON document.
func (f *Fleet) WriteJSON(out io.Writer) error { return cli.EncodeJSON(out, f) }

// WriteYAML writes the rows as one YAML document.
func (f *Fleet) WriteYAML(out io.Writer) error { return cli.EncodeYAML(out, f) }

// runFleet lists the meshed pods of the namespace (or all), reads their
// proxies' /status FleetConcurrency at a time, and prints a row for each.
func (o *StatusOptions) runFleet(ctx context.Context) error {
	c, err := o.Clients()
	if err != nil {
		return err
	}
	ns := o.Namespace
	if o.AllNamespaces {
		ns = ""
	}
	list, err := c.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing pods: %w", kube.ExplainForbidden(err, "list", "pods", ns))
	}
	want, err := ExpectedOf(ctx, c, o.MeshName, o.MeshNamespace)
	if err != nil {
		// A user who may read pods and port-forward in their own
		// namespace, and no more, still gets the rest.
		fmt.Fprintf(o.ErrOut, "Warning: images are not compared, and proxies of every mesh are shown: %v\n", err)
	}
	pods, others := meshedPods(list.Items, want.Controller)
	if others > 0 {
		fmt.Fprintf(o.ErrOut, "%d pod(s) with the proxy of another mesh than %q are left out.\n", others, o.MeshName)
	}
	var readable []*corev1.Pod
	rows := make([]FleetRow, 0, len(pods))
	why := map[*corev1.Pod]error{}
	for _, p := range pods {
		if err := unaskable(p); err != nil {
			why[p] = err
			continue
		}
		readable = append(readable, p)
	}
	client := &Client{Config: c.Config, Kube: c.Kube}
	reports := ReadAll(ctx, readable, client.Status)
	for _, p := range pods {
		if err, ok := why[p]; ok {
			rows = append(rows, newFleetRow(Report{Pod: p, Err: err}, want))
		}
	}
	for _, r := range reports {
		rows = append(rows, newFleetRow(r, want))
	}
	slices.SortFunc(rows, func(a, b FleetRow) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Pod, b.Pod))
	})
	f := &Fleet{Proxies: rows, now: o.now(), namespaces: o.AllNamespaces}
	outdated := 0
	for _, r := range rows {
		if r.ImageState == ImageOutdated {
			outdated++
		}
	}
	if outdated > 0 {
		fmt.Fprintf(o.ErrOut, "%d proxy(ies) run another image than the MeshConfig's %s: restart their workloads to inject it.\n", outdated, want.Image)
	}
	return cli.Write(o.Out, o.Output, f)
}

// ExpectedOf reads the mesh's MeshConfig: the image the injector would
// inject now and the controller's identity. It is the one rule for what
// a current proxy runs, which `proxy status` compares with.
func ExpectedOf(ctx context.Context, c *kube.Clients, mesh, meshNamespace string) (Expected, error) {
	mc, err := meshconfig.GetMesh(ctx, c.Dynamic, mesh, meshNamespace)
	if err != nil {
		return Expected{}, err
	}
	var want Expected
	var errs []error
	if pc, err := proxyconfig.New(mc.Spec); err != nil {
		errs = append(errs, fmt.Errorf("the MeshConfig of mesh %q: %w", mesh, err))
	} else {
		want.Image = pc.Image
	}
	if live, err := proxyconfig.LiveSettings(mc.Spec); err == nil {
		want.Settings = live.Digest()
	}
	td := cmp.Or(mc.Spec.Identity.TrustDomain, meshconfig.DefaultTrustDomain)
	if want.Controller, err = meshconfig.ControllerID(td, meshNamespace); err != nil {
		errs = append(errs, fmt.Errorf("the MeshConfig of mesh %q: trust domain: %w", mesh, err))
	}
	if len(errs) > 0 {
		return want, errs[0]
	}
	return want, nil
}

// meshedPods are the pods that run a proxy of the mesh whose controller is
// controller (any mesh when it is zero), and how many run another mesh's.
// A proxy injected without identity talks to no controller: it is shown,
// since no other mesh claims it.
func meshedPods(items []corev1.Pod, controller identity.ID) (mine []*corev1.Pod, others int) {
	for i := range items {
		p := &items[i]
		if proxyconfig.ProxyContainerOf(&p.Spec) == nil {
			continue
		}
		if id := proxyconfig.IdentityOf(&p.Spec); id != nil && !controller.IsZero() && id.ControllerID != controller {
			others++
			continue
		}
		mine = append(mine, p)
	}
	return mine, others
}

// unaskable says, for a row, why pod's proxy is not asked, or nil.
func unaskable(pod *corev1.Pod) error {
	if pod.Status.Phase != corev1.PodRunning {
		return fmt.Errorf("the pod is %s, not Running", cmp.Or(string(pod.Status.Phase), "in no phase yet"))
	}
	if proxyconfig.IdentityOf(&pod.Spec) == nil {
		return errors.New("injected without identity (by an older meshctl): restart the pod to get one")
	}
	return nil
}

// newFleetRow is one proxy's row: its pod's facts, compared with want,
// and its status report.
func newFleetRow(r Report, want Expected) FleetRow {
	p := r.Pod
	row := FleetRow{Namespace: p.Namespace, Pod: p.Name, Version: p.Labels[meshconfig.LabelProxyVersion], ImageState: ImageUnknown, Settings: SettingsUnknown}
	if cs := proxyconfig.ProxyStatusOf(p); cs != nil {
		row.Ready = cs.Ready
	}
	if c := proxyconfig.ProxyContainerOf(&p.Spec); c != nil {
		row.Image = c.Image
	}
	if want.Image != "" {
		row.ExpectedImage = want.Image
		if same, err := proxyconfig.SameImage(row.Image, want.Image); err == nil {
			row.ImageState = ImageOutdated
			if same {
				row.ImageState = ImageCurrent
			}
		}
	}
	var answer *AnswerError
	if errors.As(r.Err, &answer) && answer.Code == http.StatusNotFound && answer.Path == wire.StatusPath {
		row.Error = "the proxy serves no " + wire.StatusPath + " (404): it runs without identity, or predates it"
		return row
	}
	if r.Err != nil {
		// The row names the pod already.
		msg := strings.TrimPrefix(r.Err.Error(), fmt.Sprintf("pod %q in namespace %q", p.Name, p.Namespace))
		row.Error = strings.TrimPrefix(strings.TrimPrefix(msg, ":"), " ")
		return row
	}
	var problems []string
	if id := r.Status.Identity; id != nil {
		row.Identity = id.ID
		if c := id.Certificate; c != nil {
			row.CertificateNotAfter = &c.NotAfter
		}
		if id.LastError != "" {
			problems = append(problems, "certificate: "+id.LastError)
		}
	}
	if st := r.Status.Settings; st != nil && want.Settings != "" {
		row.Settings = SettingsLagging
		if st.Digest == want.Settings && st.Error == "" {
			row.Settings = SettingsCurrent
		}
		if st.Error != "" {
			problems = append(problems, "settings: "+st.Error)
		}
	}
	if ch := r.Status.Channel; ch != nil {
		row.Channel = &FleetChannel{Connected: ch.Connected, Snapshot: ch.Version.Hash}
		if !ch.Connected && ch.LastError != "" {
			problems = append(problems, "channel: "+ch.LastError)
		}
	}
	row.Error = strings.Join(problems, "; ")
	return row
}

// shortID writes a SPIFFE ID as the peer label does: ns/sa.
func shortID(s string) string {
	id, err := identity.ParseID(s)
	if err != nil {
		return s
	}
	return id.Namespace() + "/" + id.ServiceAccount()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
