package install

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"

	"github.com/meshctl/meshctl/pkg/cli"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meshctl/meshctl/pkg/meshconfig"
)

// maxHistory bounds the release revisions kept, as each is a Secret.
const maxHistory = 10

// UpgradeOptions are the inputs of `meshctl upgrade`. Both dry runs read the
// installed release.
type UpgradeOptions struct {
	ReleaseOptions
	// Force upgrades to an older chart than the installed one.
	Force bool
	// Proxies says what to do about the proxies the upgrade makes
	// outdated.
	Proxies ProxyOptions
}

// Validate checks the release flags and the rollout timeout.
func (o *UpgradeOptions) Validate() error {
	if err := o.ReleaseOptions.Validate(); err != nil {
		return err
	}
	if o.Proxies.RestartProxies && o.Proxies.RolloutTimeout <= 0 {
		return cli.UsageErrorf("--rollout-timeout must be positive, such as 10m")
	}
	return nil
}

// Run upgrades the mesh and prints the result, then reports the workloads
// whose proxies are older than the new MeshConfig names, and with
// --restart-proxies restarts them.
func (o *UpgradeOptions) Run(ctx context.Context) error {
	d, err := o.NewDeps(false)
	if err != nil {
		return err
	}
	res, err := d.Upgrade(ctx, o)
	if err != nil {
		return err
	}
	if err := res.Write(o.Out, o.ErrOut, o.Output); err != nil {
		return err
	}
	if o.DryRun != DryRunNone {
		return nil
	}
	_, err = d.proxies(ctx, o.Proxies, o.ErrOut)
	return err
}

// Upgrade upgrades the mesh to this meshctl's chart. Values merge as
// new chart defaults < the previous release's user-supplied values < live
// MeshConfig edits < the new flags (see mergeValues).
//
// Live MeshConfig edits survive because they are carried into the values:
// Helm's three-way merge would otherwise put back every field the chart
// renders (kubectl apply semantics), undoing `meshctl permissive`. Rendering
// the MeshConfig only at install time would keep the edits but freeze the
// object, so new defaults and upgrade-time --set would never reach it.
func (d *Deps) Upgrade(ctx context.Context, o *UpgradeOptions) (*Result, error) {
	if err := validateMeshName(d.MeshName); err != nil {
		return nil, err
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	current, err := d.Helm.Releases.Last(d.MeshName)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, fmt.Errorf("mesh %q is not installed in namespace %q: use `meshctl install`", d.MeshName, d.Namespace)
	}
	if err != nil {
		return nil, fmt.Errorf("reading release %q in namespace %q: %w", d.MeshName, d.Namespace, err)
	}
	if current.Info.Status.IsPending() {
		return nil, fmt.Errorf("release %q in namespace %q is %s: another operation is in progress", d.MeshName, d.Namespace, current.Info.Status)
	}
	if err := refuseDowngrade(current, d.Chart.Metadata.Version, o.Force); err != nil {
		return nil, err
	}
	edits, err := d.liveMeshConfigEdits(ctx, current.Manifest)
	if err != nil {
		return nil, err
	}
	user, err := d.values(valueLayers{chartDefaults: d.Chart.Values, previous: current.Config, liveEdits: edits, flags: o.Values})
	if err != nil {
		return nil, err
	}
	manifest, err := Render(d.Chart, d.MeshName, d.Namespace, user, false)
	if err != nil {
		return nil, err
	}
	// An existing CA is kept as it is (an upgrade never rotates it); a
	// mesh installed before it had one gets one.
	now := d.Clock.Now()
	files, err := d.readIssuerFiles(o.Identity, now)
	if err != nil {
		return nil, err
	}
	plan, err := d.planCA(ctx, o.Identity, files, trustDomain(overlay(d.Chart.Values, user)), now, true)
	if err != nil {
		return nil, err
	}
	res := &Result{Release: d.MeshName, Namespace: d.Namespace, DryRun: o.DryRun, Manifest: Manifest(manifest)}
	if o.DryRun != DryRunNone {
		if err := res.diff(Manifest(current.Manifest)); err != nil {
			return nil, err
		}
		plan.report(res)
		if o.DryRun == DryRunServer {
			check := &Result{DryRun: DryRunServer, Manifest: res.Manifest}
			if err := d.validateOnServer(ctx, check); err != nil {
				return nil, err
			}
			res.Warnings = append(res.Warnings, check.Warnings...)
		}
		return res, nil
	}

	crds, err := d.applyCRDs(ctx, false)
	if err != nil {
		return nil, err
	}
	for _, n := range crds {
		res.add("customresourcedefinition", n, "applied")
	}
	created, err := d.applyCA(ctx, plan)
	if err != nil {
		return nil, err
	}
	up := action.NewUpgrade(d.Helm)
	up.Namespace = d.Namespace
	// mergeValues already laid the previous values under the new ones.
	up.ResetValues = true
	up.SkipCRDs, up.Wait, up.Atomic = true, false, false
	up.Timeout, up.MaxHistory = o.Timeout, maxHistory
	up.Description = "Upgraded by meshctl"
	up.Labels = releaseLabels(d.MeshName)
	rel, err := up.RunWithContext(ctx, d.MeshName, d.Chart, user)
	if err == nil && o.Wait {
		err = d.waitRelease(ctx, rel, o.Timeout, o.Decorated, o.ErrOut)
	}
	if err != nil {
		return nil, d.failUpgrade(ctx, d.explain(ctx, err, manifest), current, rel, o, created)
	}
	if err := res.diff(Manifest(current.Manifest)); err != nil {
		return nil, err
	}
	plan.report(res)
	res.Revision = rel.Version
	res.add("release", d.MeshName, fmt.Sprintf("upgraded (revision %d)", rel.Version))
	res.Notes = nextSteps(d.MeshName, d.Namespace, "upgraded")
	return res, nil
}

// failUpgrade rolls back to the revision that was deployed, with atomic,
// and removes the mesh CA objects the upgrade created.
func (d *Deps) failUpgrade(ctx context.Context, cause error, previous, rel *release.Release, o *UpgradeOptions, created []createdObject) error {
	if !o.Atomic {
		d.markFailed(rel, cause)
		return fmt.Errorf("upgrading mesh %q: %w\nthe release is left as it is (--atomic=false); fix the cause and upgrade again", d.MeshName, cause)
	}
	if err := d.deleteCreated(ctx, created); err != nil {
		cause = fmt.Errorf("%w\nremoving the mesh CA the upgrade created failed too: %w", cause, err)
	}
	rb := action.NewRollback(d.Helm)
	rb.Version = previous.Version
	rb.Timeout = o.Timeout
	rb.MaxHistory = maxHistory
	if err := rb.Run(d.MeshName); err != nil {
		return fmt.Errorf("upgrading mesh %q: %w\nrolling back to revision %d failed too: %v", d.MeshName, cause, previous.Version, err)
	}
	return fmt.Errorf("upgrading mesh %q: %w\nrolled back: release %q is at revision %d again (its objects as before the upgrade; the CRDs stay upgraded)", d.MeshName, cause, d.MeshName, previous.Version)
}

// diff records, per object, what applying the manifest over old changes.
func (r *Result) diff(old Manifest) error {
	before, err := old.Objects()
	if err != nil {
		return err
	}
	after, err := r.Manifest.Objects()
	if err != nil {
		return err
	}
	key := func(o *unstructured.Unstructured) string {
		return o.GetKind() + "/" + o.GetNamespace() + "/" + o.GetName()
	}
	prev := map[string]*unstructured.Unstructured{}
	for _, o := range before {
		prev[key(o)] = o
	}
	for _, o := range after {
		p, ok := prev[key(o)]
		switch {
		case !ok:
			r.add(o.GetKind(), o.GetName(), "created")
		case reflect.DeepEqual(p.Object, o.Object):
			r.add(o.GetKind(), o.GetName(), "unchanged")
		default:
			r.add(o.GetKind(), o.GetName(), "configured")
		}
		delete(prev, key(o))
	}
	for _, o := range before {
		if _, gone := prev[key(o)]; gone {
			r.add(o.GetKind(), o.GetName(), "deleted")
		}
	}
	return nil
}

func meshConfigResource() schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: meshconfig.GroupName, Version: meshconfig.Version, Resource: meshconfig.Resource}
}

// liveMeshConfigEdits returns, as values under "meshConfig", the spec fields
// of the live MeshConfig that differ from what the previous release
// rendered: the edits made in the cluster since. Only fields the chart has
// values for are carried; a field deleted live falls back to the values.
func (d *Deps) liveMeshConfigEdits(ctx context.Context, previousManifest string) (map[string]any, error) {
	objs, err := Manifest(previousManifest).Objects()
	if err != nil {
		return nil, err
	}
	var rendered map[string]any
	for _, o := range objs {
		if o.GetKind() == meshconfig.Kind && o.GetName() == meshconfig.ObjectName {
			rendered, _, _ = unstructured.NestedMap(o.Object, "spec")
		}
	}
	live, err := d.Clients.Dynamic.Resource(meshConfigResource()).Namespace(d.Namespace).Get(ctx, meshconfig.ObjectName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) || rendered == nil {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("meshconfig %s/%s: %w", d.Namespace, meshconfig.ObjectName, err)
	}
	liveSpec, _, _ := unstructured.NestedMap(live.Object, "spec")
	schemaValues, _ := d.Chart.Values["meshConfig"].(map[string]any)
	edits := changedLeaves(normalize(rendered), normalize(liveSpec), schemaValues)
	if len(edits) == 0 {
		return nil, nil
	}
	return map[string]any{"meshConfig": edits}, nil
}

// changedLeaves returns the values of live that differ from rendered, for
// keys that values (the chart defaults at this level) knows. An empty map in
// values is free-form (resources), so its whole subtree is compared as one.
func changedLeaves(rendered, live, values map[string]any) map[string]any {
	out := map[string]any{}
	for k, lv := range live {
		dv, known := values[k]
		if !known {
			continue
		}
		rv := rendered[k]
		lm, lok := lv.(map[string]any)
		dm, dok := dv.(map[string]any)
		if lok && dok && len(dm) > 0 {
			rm, _ := rv.(map[string]any)
			if sub := changedLeaves(rm, lm, dm); len(sub) > 0 {
				out[k] = sub
			}
			continue
		}
		if !reflect.DeepEqual(rv, lv) {
			out[k] = lv
		}
	}
	return out
}

// normalize gives numbers from YAML and from the API server one type, so
// equal values compare equal: integral numbers become int64.
func normalize(m map[string]any) map[string]any {
	b, err := json.Marshal(m)
	if err != nil {
		return m
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return m
	}
	return intify(out).(map[string]any)
}

func intify(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = intify(e)
		}
		return v
	case []any:
		for i, e := range v {
			v[i] = intify(e)
		}
		return v
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			return int64(v)
		}
	}
	return v
}
