package inject

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Marker is the value of meshconfig.AnnotationInjected: what one injection added to a
// pod template. Uninject removes exactly this; a later injection compares
// Version and Hash to decide whether the sidecar is current.
type Marker struct {
	// Version is the meshctl version that injected.
	Version string `json:"version"`
	// Hash identifies the injected content (containers and metadata) but
	// the proxy's arguments that name its workload, which Inject compares
	// apart; equal hashes and equal arguments mean an equal injection.
	Hash string `json:"hash"`
	// InitContainers and Containers name the containers added. This version
	// adds both of its containers as init containers (the proxy as a native
	// sidecar); Containers is set by older versions, which added the proxy
	// among the app's containers, and is still read so that their output is
	// upgraded and uninjected alike.
	InitContainers []string `json:"initContainers,omitempty"`
	Containers     []string `json:"containers,omitempty"`
	// Annotations and Labels are the keys added, apart from the marker.
	Annotations []string `json:"annotations,omitempty"`
	Labels      []string `json:"labels,omitempty"`
	// Volumes are the pod volumes added (the proxy's identity volume).
	Volumes []string `json:"volumes,omitempty"`
	// Created lists the fields that did not exist before and were created
	// whole, so that uninject removes them whole: any of CreatedMetadata,
	// CreatedLabels, CreatedAnnotations, CreatedInitContainers and
	// CreatedVolumes.
	Created []string `json:"created,omitempty"`
}

// Fields a Marker may list in Created.
const (
	CreatedMetadata       = "metadata"
	CreatedLabels         = "metadata.labels"
	CreatedAnnotations    = "metadata.annotations"
	CreatedInitContainers = "spec.initContainers"
	CreatedVolumes        = "spec.volumes"
)

// ParseMarker reads a marker annotation's value, strictly: the marker is
// what uninject trusts to remove containers, so a value it did not write is
// an error rather than a guess.
func ParseMarker(s string) (*Marker, error) {
	var m Marker
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("not a marker written by meshctl: %w", err)
	}
	if dec.More() {
		return nil, errors.New("not a marker written by meshctl: trailing data")
	}
	if m.Version == "" || m.Hash == "" {
		return nil, errors.New("not a marker written by meshctl: version and hash are required")
	}
	for _, c := range m.Created {
		if !slices.Contains([]string{CreatedMetadata, CreatedLabels, CreatedAnnotations, CreatedInitContainers, CreatedVolumes}, c) {
			return nil, fmt.Errorf("not a marker written by meshctl: unknown created field %q", c)
		}
	}
	return &m, nil
}

// String is the annotation value.
func (m *Marker) String() string {
	b, err := json.Marshal(m)
	if err != nil {
		panic(err) // strings and string slices always marshal
	}
	return string(b)
}
