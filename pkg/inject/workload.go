package inject

import (
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// WorkloadOf is the workload a target's proxy names in its metrics, the
// same for `meshctl inject` and the webhook:
//
//   - A workload object (a Deployment, StatefulSet, DaemonSet, ReplicaSet,
//     ReplicationController, Job or CronJob of a manifest) is itself.
//   - A Pod (the webhook's, or one in a manifest) is named by its
//     controller, its ownerReference with controller: true. A ReplicaSet
//     named "<name>-<hash>" whose pod carries the label
//     pod-template-hash=<hash> is a Deployment's, as the Deployment
//     controller makes them: the pod names the Deployment <name>, as
//     `meshctl inject` of that Deployment does. Any other controller
//     names itself, its kind in lower case.
//   - A Pod that no controller owns is its own workload: kind pod, and no
//     name, which the proxy takes from its pod's (the webhook sees a pod
//     before a generateName has become its name).
//
// A Job made by a CronJob cannot be told from the pod: its pod is owned by
// the Job, which alone knows its CronJob, and nothing on the pod says so.
// Its proxy names the Job (kind job, named "<cronjob>-<scheduled time>"),
// which is true, rather than guess the CronJob from the Job's name; a
// CronJob injected by `meshctl inject` names the CronJob, which its
// manifest says, until the webhook of an enrolled namespace injects its
// pods again.
//
// ok is false when the target does not say (a workload without a name, a
// name Kubernetes would refuse): the proxy then names no workload.
func WorkloadOf(t Target) (w wire.Workload, ok bool) {
	if t.Kind == wire.KindPod {
		w = podWorkload(t)
		if w.Check() != nil {
			w = wire.Workload{Kind: wire.KindPod}
		}
		return w, true
	}
	w = wire.Workload{Kind: t.Kind, Name: t.Name}
	if w.Check() != nil {
		return wire.Workload{}, false
	}
	return w, true
}

// podWorkload names a pod's controller, or the pod itself.
func podWorkload(t Target) wire.Workload {
	if t.Template == nil {
		return wire.Workload{Kind: wire.KindPod}
	}
	owner := metav1.GetControllerOfNoCopy(&t.Template.ObjectMeta)
	if owner == nil {
		return wire.Workload{Kind: wire.KindPod}
	}
	group := "" // the core group's apiVersion is "v1"
	if g, _, found := strings.Cut(owner.APIVersion, "/"); found {
		group = g
	}
	if owner.Kind == "ReplicaSet" && group == appsv1.GroupName {
		h := t.Template.Labels[appsv1.DefaultDeploymentUniqueLabelKey]
		if name, found := strings.CutSuffix(owner.Name, "-"+h); found && h != "" && name != "" {
			return wire.Workload{Kind: wire.KindDeployment, Name: name}
		}
	}
	return wire.Workload{Kind: strings.ToLower(owner.Kind), Name: owner.Name}
}
