package inject

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshctl/meshctl/pkg/proxyconfig"
)

// diff is the patch from cur to desired. They differ only in the fields the
// injector owns: labels, annotations, init containers and containers. raw
// holds the JSON of containers by name, for values that need no marshalling.
// keepMetadata says cur's metadata field exists even if its ObjectMeta is
// zero: labels and annotations are added into it and removed from it,
// rather than the field being added or removed whole, which would drop
// what else it holds ("creationTimestamp: null", say).
func diff(cur, desired *corev1.PodTemplateSpec, raw map[string]json.RawMessage, keepMetadata bool) (Patch, []string) {
	var p Patch
	curZero := isZeroMeta(&cur.ObjectMeta)
	desZero := isZeroMeta(&desired.ObjectMeta)
	switch {
	case curZero && !desZero && !keepMetadata:
		meta := map[string]any{}
		if desired.Labels != nil {
			meta["labels"] = desired.Labels
		}
		if desired.Annotations != nil {
			meta["annotations"] = desired.Annotations
		}
		p = append(p, Operation{Op: OpAdd, Path: "/metadata", Value: meta})
	case !curZero && desZero && !keepMetadata:
		p = append(p, Operation{Op: OpRemove, Path: "/metadata"})
	case curZero:
		// Into a metadata field that holds nothing the engine decodes, in
		// the order adding the field whole gives them (sorted).
		p = mapOps(p, "/metadata/annotations", cur.Annotations, desired.Annotations)
		p = mapOps(p, "/metadata/labels", cur.Labels, desired.Labels)
	default:
		p = mapOps(p, "/metadata/labels", cur.Labels, desired.Labels)
		p = mapOps(p, "/metadata/annotations", cur.Annotations, desired.Annotations)
	}
	p, inits := listOps(p, "/spec/initContainers", cur.Spec.InitContainers, desired.Spec.InitContainers, raw)
	p, _ = listOps(p, "/spec/containers", cur.Spec.Containers, desired.Spec.Containers, raw)
	p, _ = volumeOps(p, cur.Spec.Volumes, desired.Spec.Volumes, raw)
	return p, inits
}

func mapOps(p Patch, path string, cur, desired map[string]string) Patch {
	switch {
	case cur == nil && desired == nil:
		return p
	case cur == nil:
		return append(p, Operation{Op: OpAdd, Path: path, Value: desired})
	case desired == nil:
		return append(p, Operation{Op: OpRemove, Path: path})
	}
	var gone []string
	for k := range cur {
		if _, ok := desired[k]; !ok {
			gone = append(gone, k)
		}
	}
	sort.Strings(gone)
	for _, k := range gone {
		p = append(p, Operation{Op: OpRemove, Path: path + "/" + PointerToken(k)})
	}
	keys := make([]string, 0, len(desired))
	for k := range desired {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, had := cur[k]
		switch {
		case !had:
			p = append(p, Operation{Op: OpAdd, Path: path + "/" + PointerToken(k), Value: desired[k]})
		case v != desired[k]:
			p = append(p, Operation{Op: OpReplace, Path: path + "/" + PointerToken(k), Value: desired[k]})
		}
	}
	return p
}

// listOps matches containers by name: names that are gone are removed
// (from the end, so earlier indexes stay valid), changed ones are replaced
// where they are, and new ones are inserted right after the container that
// precedes them in desired (appended when that is the last one), so that
// the proxy lands right after the rules' init container even where an init
// container was added after them since an older injection.
func listOps(p Patch, path string, cur, desired []corev1.Container, raw map[string]json.RawMessage) (Patch, []string) {
	return namedListOps(p, path, cur, desired, raw, func(c corev1.Container) string { return c.Name },
		func(name string) bool {
			return name == proxyconfig.InitContainerName || name == proxyconfig.ProxyContainerName
		})
}

// volumeOps is listOps for the pod's volumes, of which the mesh owns one.
func volumeOps(p Patch, cur, desired []corev1.Volume, raw map[string]json.RawMessage) (Patch, []string) {
	return namedListOps(p, "/spec/volumes", cur, desired, raw, func(v corev1.Volume) string { return v.Name },
		func(name string) bool { return name == proxyconfig.IdentityVolumeName })
}

// namedListOps is the diff of a list of named items, of which the mesh
// owns those for which ours is true: the others are the app's, which
// desired holds as they are.
func namedListOps[T any](p Patch, path string, cur, desired []T, raw map[string]json.RawMessage, name func(T) string, ours func(string) bool) (Patch, []string) {
	value := func(c T) any {
		if r, ok := raw[name(c)]; ok {
			return r
		}
		return c
	}
	desiredNames := func() []string {
		out := make([]string, len(desired))
		for i, c := range desired {
			out[i] = name(c)
		}
		return out
	}
	switch {
	case cur == nil && desired == nil:
		return p, nil
	case cur == nil && !slices.ContainsFunc(desired, func(c T) bool { _, ok := raw[name(c)]; return !ok }):
		items := make([]any, len(desired))
		for i, c := range desired {
			items[i] = value(c)
		}
		return append(p, Operation{Op: OpAdd, Path: path, Value: items}), desiredNames()
	case cur == nil:
		return append(p, Operation{Op: OpAdd, Path: path, Value: desired}), desiredNames()
	case desired == nil:
		return append(p, Operation{Op: OpRemove, Path: path}), nil
	}
	names := make([]string, 0, len(cur))
	for _, c := range cur {
		names = append(names, name(c))
	}
	for i := len(cur) - 1; i >= 0; i-- {
		if !slices.ContainsFunc(desired, func(c T) bool { return name(c) == name(cur[i]) }) {
			p = append(p, Operation{Op: OpRemove, Path: fmt.Sprintf("%s/%d", path, i)})
			names = slices.Delete(names, i, i+1)
		}
	}
	for k, d := range desired {
		i := slices.Index(names, name(d))
		if i < 0 {
			at := len(names)
			if k > 0 {
				if j := slices.Index(names, name(desired[k-1])); j >= 0 {
					at = j + 1
				}
			}
			if at == len(names) {
				p = append(p, Operation{Op: OpAdd, Path: path + "/-", Value: value(d)})
			} else {
				p = append(p, Operation{Op: OpAdd, Path: fmt.Sprintf("%s/%d", path, at), Value: value(d)})
			}
			names = slices.Insert(names, at, name(d))
			continue
		}
		if !ours(name(d)) {
			continue // the app's: desired holds them as they are
		}
		c := cur[slices.IndexFunc(cur, func(c T) bool { return name(c) == name(d) })]
		if !sameJSON(c, d) {
			p = append(p, Operation{Op: OpReplace, Path: fmt.Sprintf("%s/%d", path, i), Value: value(d)})
		}
	}
	return p, names
}

func sameJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}
