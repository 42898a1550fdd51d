//go:build tools

// Package runc pins the OCI runtime the local cluster's containerd runs pods
// with; hack/cluster/build.sh builds it with -tags seccomp. Debian's runc is
// too old to start pod sandboxes on the test machine's kernel.
package runc

import _ "github.com/opencontainers/runc"
