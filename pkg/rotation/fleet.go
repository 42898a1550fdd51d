package rotation

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/proxy/admin"
	"github.com/meshctl/meshctl/pkg/proxyadmin"
)

// maxListed bounds the proxies a timeout names.
const maxListed = 10

// proxyStatus is what a rotation reads of a proxy: the issuer of its
// certificate and the anchors it trusts, by fingerprint.
type proxyStatus struct {
	issuer  string
	anchors []string
}

func (s proxyStatus) trusts(fp string) bool { return slices.Contains(s.anchors, fp) }

func (s proxyStatus) String() string {
	anchors := make([]string, len(s.anchors))
	for i, a := range s.anchors {
		anchors[i] = short(a)
	}
	return fmt.Sprintf("issuer %s, anchors [%s]", orDash(short(s.issuer)), strings.Join(anchors, " "))
}

func statusOf(st admin.Status) (proxyStatus, bool) {
	if st.Identity == nil || st.Identity.Certificate == nil {
		return proxyStatus{}, false
	}
	ps := proxyStatus{issuer: st.Identity.Certificate.Issuer}
	for _, a := range st.Identity.Anchors {
		ps.anchors = append(ps.anchors, a.Fingerprint)
	}
	return ps, true
}

// fleet waits for the mesh's proxies.
type fleet struct {
	// controller is the mesh's controller: proxies of other meshes in the
	// cluster are not waited for.
	controller identity.ID
	kube       kubernetes.Interface
	read       proxyadmin.StatusReader
	poll       time.Duration
	timeout    time.Duration
	progress   io.Writer
}

// wait returns once every ready proxy with identity satisfies done, with
// their number; or, after the timeout, an error naming those that do not.
// A proxy found done is not asked again. Pods that appear meanwhile are
// waited for too: they started from the state the wait expects, or are
// about to reach it.
func (f *fleet) wait(ctx context.Context, what string, done func(proxyStatus) bool) (int, error) {
	// The timeout bounds the waiting, not a round: every round asks
	// every proxy, so a timeout names those that lag, not a slow List.
	deadline := time.Now().Add(f.timeout)
	finished := map[types.UID]bool{}
	lastSaid := ""
	for {
		list, err := f.kube.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
		if err != nil {
			return 0, fmt.Errorf("listing pods to find the proxies: %w", err)
		}
		var all, todo []*corev1.Pod
		for i := range list.Items {
			p := &list.Items[i]
			if !proxyadmin.OfMesh(p, f.controller) {
				continue
			}
			all = append(all, p)
			if !finished[p.UID] {
				todo = append(todo, p)
			}
		}
		var lagging []string
		for _, r := range proxyadmin.ReadAll(ctx, todo, f.read) {
			name := r.Pod.Namespace + "/" + r.Pod.Name
			st, ok := statusOf(r.Status)
			switch {
			case r.Err != nil:
				lagging = append(lagging, fmt.Sprintf("%s (status unreadable: %v)", name, r.Err))
			case !ok:
				lagging = append(lagging, name+" (no certificate)")
			case done(st):
				finished[r.Pod.UID] = true
			default:
				lagging = append(lagging, fmt.Sprintf("%s (%s)", name, st))
			}
		}
		if said := fmt.Sprintf("  %s: %d/%d proxies", what, len(all)-len(lagging), len(all)); said != lastSaid {
			fmt.Fprintln(f.progress, said)
			lastSaid = said
		}
		if len(lagging) == 0 {
			return len(all), nil
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if !time.Now().Before(deadline) {
			return 0, fmt.Errorf("%s: %d of %d proxies not there after %s: %s", what, len(lagging), len(all), f.timeout, listed(lagging))
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(f.poll):
		}
	}
}

func listed(names []string) string {
	if len(names) <= maxListed {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:maxListed], ", "), len(names)-maxListed)
}
