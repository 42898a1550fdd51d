//go:build tools

// Package cni pins the CNI plugins the local cluster's pods are wired with
// (bridge, host-local, loopback, portmap); hack/cluster/build.sh builds them.
package cni

import (
	_ "github.com/containernetworking/plugins/plugins/ipam/host-local"
	_ "github.com/containernetworking/plugins/plugins/main/bridge"
	_ "github.com/containernetworking/plugins/plugins/main/loopback"
	_ "github.com/containernetworking/plugins/plugins/meta/portmap"
)
