package proxyadmin

import (
	"bytes"
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/pkg/channel"
	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/proxy/admin"
	proxychannel "github.com/meshctl/meshctl/pkg/proxy/channel"
	"github.com/meshctl/meshctl/pkg/proxy/credentials"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// fleetPod is a pod whose proxy runs image, injected for controller
// (without identity when controller is zero).
func fleetPod(t *testing.T, ns, name, image, version string, controller identity.ID, ready bool) *corev1.Pod {
	t.Helper()
	pc, err := proxyconfig.New(meshconfig.DefaultSpec())
	if err != nil {
		t.Fatal(err)
	}
	pc.Image = image
	proxy := pc.NativeSidecarContainer()
	if !controller.IsZero() {
		run := pc.Run()
		run.Identity = &wire.Identity{ControllerAddress: "mesh-controller.mesh-system.svc:9444", ControllerID: controller}
		proxy.Args = run.Args()
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{meshconfig.LabelProxyVersion: version}},
		Spec:       corev1.PodSpec{InitContainers: []corev1.Container{proxy}, Containers: []corev1.Container{{Name: "app", Image: "app"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, InitContainerStatuses: []corev1.ContainerStatus{
			{Name: proxyconfig.ProxyContainerName, Ready: ready}}},
	}
}

// TestFleetRows: each proxy's row from its pod and its /status, compared
// with the MeshConfig's image, and a proxy that cannot be read or a pod
// that is not running is a row saying why.
func TestFleetRows(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	ctrl, err := meshconfig.ControllerID(identity.DefaultTrustDomain, "mesh-system")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := meshconfig.ControllerID(identity.DefaultTrustDomain, "other-mesh")
	const current, old = "ghcr.io/meshctl/mesh-proxy:v0.4.0", "ghcr.io/meshctl/mesh-proxy:v0.3.0"
	const settingsNow, settingsBefore = "sha256:aa11", "sha256:bb22"
	want := Expected{Image: current, Controller: ctrl, Settings: settingsNow}
	status := func(ns string, connected bool, lastErr string) admin.Status {
		return admin.Status{
			Identity: &credentials.Status{ID: "spiffe://cluster.local/ns/" + ns + "/sa/" + ns,
				Certificate: &credentials.CertificateStatus{Serial: "5f", NotBefore: now.Add(-time.Hour), NotAfter: now.Add(23 * time.Hour)}},
			Channel: &proxychannel.Status{Connected: connected, LastError: lastErr, Version: channel.Version{Hash: "sha256:4e07408562bedb8b60ce05c1decfe3ad16b72230967de01f640b7e4729b49fce"}},
		}
	}
	pending := fleetPod(t, "bookstore", "bookstore-pending", current, "v0.4.0", ctrl, false)
	pending.Status.Phase = corev1.PodPending
	pods := []*corev1.Pod{
		fleetPod(t, "bookstore", "bookstore-1", current, "v0.4.0", ctrl, true),
		fleetPod(t, "bookstore", "bookstore-2", old, "v0.3.0", ctrl, true),
		fleetPod(t, "bookstore", "bookstore-3", "mesh-proxy:dev", "", ctrl, false),
		fleetPod(t, "bookbuyer", "bookbuyer-1", current, "v0.4.0", ctrl, true),
		pending,
		fleetPod(t, "legacy", "old-1", old, "v0.2.0", identity.ID{}, true),
		fleetPod(t, "elsewhere", "theirs", current, "v0.4.0", other, true),
		{ObjectMeta: metav1.ObjectMeta{Namespace: "bookstore", Name: "plain"}},
		fleetPod(t, "bookstore", "bookstore-evil", current, "v0.4.0", ctrl, true),
	}
	items := make([]corev1.Pod, len(pods))
	for i, p := range pods {
		items[i] = *p
	}
	mine, others := meshedPods(items, ctrl)
	if len(mine) != 7 || others != 1 {
		t.Fatalf("meshedPods: %d of this mesh, %d of others; want 7 (the plain pod and another mesh's left out) and 1", len(mine), others)
	}
	if all, others := meshedPods(items, identity.ID{}); len(all) != 8 || others != 0 {
		t.Errorf("without the MeshConfig: %d shown, %d left out; want every meshed pod", len(all), others)
	}
	withSettings := func(st admin.Status, digest, refused string) admin.Status {
		st.Settings = &admin.SettingsStatus{Digest: digest, Error: refused}
		return st
	}
	reports := map[string]Report{
		"bookstore-1": {Status: withSettings(status("bookstore", true, ""), settingsNow, "")},
		"bookstore-2": {Status: withSettings(status("bookstore", false, "dial tcp 10.96.0.9:9444: connection refused"), settingsBefore, "")},
		"bookstore-3": {Err: errors.New(`pod "bookstore-3" in namespace "bookstore": GET /status: 503 Service Unavailable: not ready`)},
		"bookbuyer-1": {Status: withSettings(status("bookbuyer", true, ""), settingsNow, "jwt: jwks: no keys")},
		// A proxy that is not ours writes to the terminal, and a row of
		// its own, if it can.
		"bookstore-evil": {Status: admin.Status{
			Identity: &credentials.Status{ID: "spiffe://cluster.local/ns/x/sa/y\x1b]0;pwned\x07", LastError: "\x1b[2J\x1b[H"},
			Channel:  &proxychannel.Status{Connected: false, LastError: "x\nbookstore   forged   true", Version: channel.Version{Hash: "sha256:\u202eevil"}},
		}},
	}
	f := &Fleet{now: now, namespaces: true}
	for _, p := range mine {
		r, ok := reports[p.Name]
		if err := unaskable(p); err != nil {
			r, ok = Report{Err: err}, true
		}
		if !ok {
			t.Fatalf("no report for %s", p.Name)
		}
		r.Pod = p
		f.Proxies = append(f.Proxies, newFleetRow(r, want))
	}
	byName := map[string]FleetRow{}
	for _, r := range f.Proxies {
		byName[r.Pod] = r
	}
	for name, state := range map[string]ImageState{"bookstore-1": ImageCurrent, "bookstore-2": ImageOutdated, "bookstore-3": ImageOutdated, "old-1": ImageOutdated} {
		if got := byName[name].ImageState; got != state {
			t.Errorf("%s: image %s, want %s", name, got, state)
		}
	}
	for name, state := range map[string]SettingsState{"bookstore-1": SettingsCurrent, "bookstore-2": SettingsLagging, "bookbuyer-1": SettingsLagging, "bookstore-3": SettingsUnknown} {
		if got := byName[name].Settings; got != state {
			t.Errorf("%s: settings %s, want %s", name, got, state)
		}
	}
	if r := byName["bookbuyer-1"]; !bytes.Contains([]byte(r.Error), []byte("settings: jwt: jwks: no keys")) {
		t.Errorf("refused settings not named: %q", r.Error)
	}
	if r := byName["bookstore-1"]; r.Error != "" || r.Identity == "" || r.Channel == nil || !r.Channel.Connected || r.CertificateNotAfter == nil {
		t.Errorf("a healthy proxy: %+v", r)
	}
	for _, c := range []struct{ name, why string }{
		{"bookstore-pending", "the pod is Pending, not Running"},
		{"old-1", "injected without identity (by an older meshctl): restart the pod"},
		{"bookstore-3", "503 Service Unavailable"},
		{"bookstore-2", "channel: dial tcp"},
	} {
		if r := byName[c.name]; !bytes.Contains([]byte(r.Error), []byte(c.why)) {
			t.Errorf("%s: error %q, want it to say %q", c.name, r.Error, c.why)
		}
	}
	// Without the MeshConfig the image is not judged.
	if r := newFleetRow(Report{Pod: pods[0], Status: status("bookstore", true, "")}, Expected{}); r.ImageState != ImageUnknown || r.ExpectedImage != "" {
		t.Errorf("without the MeshConfig: image %s, expected %q", r.ImageState, r.ExpectedImage)
	}

	for _, c := range []struct {
		name  string
		write func(*bytes.Buffer) error
	}{
		{"fleet.table", func(b *bytes.Buffer) error { return f.WriteTable(b) }},
		{"fleet.json", func(b *bytes.Buffer) error { return f.WriteJSON(b) }},
	} {
		var b bytes.Buffer
		if err := c.write(&b); err != nil {
			t.Fatal(err)
		}
		golden.Assert(t, "testdata/"+c.name+".golden", b.Bytes())
		if c.name == "fleet.table" {
			if bytes.ContainsAny(b.Bytes(), "\x1b\x07\u202e") || bytes.Count(b.Bytes(), []byte("\n")) != len(f.Proxies)+1 {
				t.Errorf("a proxy's text reaches the terminal, or forges a row:\n%q", b.String())
			}
		}
	}
	var b bytes.Buffer
	if err := (&Fleet{}).WriteTable(&b); err != nil || b.String() != "No meshed pods found.\n" {
		t.Errorf("an empty fleet: %q %v", b.String(), err)
	}
}
