package ca

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshctl/meshctl/pkg/meshconfig"
)

// CopyLabels are the labels of the bundle's copies, by which `meshctl
// uninstall` and `meshctl check` find them: the chart's ownership labels
// and ComponentTrustBundle.
func CopyLabels(mesh string) map[string]string {
	return map[string]string{
		meshconfig.LabelPartOf:    meshconfig.PartOfValue,
		meshconfig.LabelMeshName:  mesh,
		meshconfig.LabelComponent: ComponentTrustBundle,
	}
}

// syncCopy makes the bundle's copy in namespace ns what the State says:
// it creates the copy in every namespace that is enrolled in this mesh or
// in none, except Kubernetes' own (meshconfig.SystemNamespaces), and keeps
// every copy it made up to date. Not only enrolled ones: `meshctl inject`
// meshes workloads of namespaces that are not enrolled, and their pods
// mount the bundle as any other (Istio keeps its root certificate in every
// namespace for the same reason). A namespace that leaves the mesh keeps
// its copy, still updated: its pods may still run sidecars that read it,
// and they need a rotated anchor as much as any. A ConfigMap of that name
// that the mesh did not create is left alone, and reported in an enrolled
// namespace.
func (a *Authority) syncCopy(ctx context.Context, ns string) error {
	st := a.state.Load()
	if st == nil || st.BundlePEM == nil || ns == a.MeshNamespace || (a.Leading != nil && !a.Leading()) {
		return nil
	}
	a.mu.Lock()
	nsLister, cmLister := a.namespaces, a.configMaps
	a.mu.Unlock()
	n, err := nsLister.Get(ns)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if n.DeletionTimestamp != nil {
		return nil
	}
	owner := n.Labels[meshconfig.LabelMonitoredBy]
	enrolled := owner == a.MeshName
	wanted := enrolled || (owner == "" && !slices.Contains(meshconfig.SystemNamespaces(), ns))
	want := string(st.BundlePEM)
	ref := "configmap " + ns + "/" + meshconfig.TrustBundleName
	api := a.Client.CoreV1().ConfigMaps(ns)
	cur, err := cmLister.ConfigMaps(ns).Get(meshconfig.TrustBundleName)
	switch {
	case apierrors.IsNotFound(err) && !wanted:
		return nil
	case apierrors.IsNotFound(err):
		_, err = api.Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: meshconfig.TrustBundleName, Namespace: ns, Labels: CopyLabels(a.MeshName)},
			Data:       map[string]string{meshconfig.TrustBundleKey: want},
		}, metav1.CreateOptions{})
		if err != nil {
			return a.copyFailed(ref, "creating", err)
		}
		a.log().Info("trust bundle copied", "configmap", ns+"/"+meshconfig.TrustBundleName, "source", st.BundleSource)
		return nil
	case err != nil:
		return a.copyFailed(ref, "reading", err)
	}
	if !isCopy(cur, a.MeshName) {
		if !enrolled {
			return nil
		}
		a.mu.Lock()
		reported := a.foreign[ns] == cur.ResourceVersion
		a.foreign[ns] = cur.ResourceVersion
		a.mu.Unlock()
		if !reported {
			if a.Metrics != nil {
				a.Metrics.copyErrors.Inc()
			}
			a.log().Error("a ConfigMap the mesh did not create holds the trust bundle's name; left alone, so pods of this namespace do not get the mesh's bundle",
				"configmap", ns+"/"+meshconfig.TrustBundleName, "labels", cur.Labels)
		}
		return nil
	}
	if len(cur.Data) == 1 && cur.Data[meshconfig.TrustBundleKey] == want && len(cur.BinaryData) == 0 {
		return nil
	}
	c := cur.DeepCopy()
	c.Data = map[string]string{meshconfig.TrustBundleKey: want}
	c.BinaryData = nil
	if _, err := api.Update(ctx, c, metav1.UpdateOptions{}); err != nil {
		// A conflict is another replica, or an edit: the next try reads
		// the informer's newer copy.
		return a.copyFailed(ref, "updating", err)
	}
	a.log().Info("trust bundle copy updated", "configmap", ns+"/"+meshconfig.TrustBundleName, "source", st.BundleSource)
	return nil
}

// copyFailed reports err and returns it, for a retry. A conflict or an
// object already there is a race with another replica or an edit, not a
// failure: it is retried without a word.
// isCopy reports whether cm is a copy this mesh made.
func isCopy(cm *corev1.ConfigMap, mesh string) bool {
	return cm.Labels[meshconfig.LabelPartOf] == meshconfig.PartOfValue && cm.Labels[meshconfig.LabelMeshName] == mesh &&
		cm.Labels[meshconfig.LabelComponent] == ComponentTrustBundle
}

func (a *Authority) copyFailed(ref, verb string, err error) error {
	race := apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)
	err = fmt.Errorf("%s: %s the trust bundle's copy: %w", ref, verb, err)
	if !race {
		if a.Metrics != nil {
			a.Metrics.copyErrors.Inc()
		}
		a.log().Error("trust bundle copy failed; retrying", "error", err)
	}
	return err
}
