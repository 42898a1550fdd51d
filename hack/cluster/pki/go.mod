// Module pki writes the local cluster's certificates, keys and kubeconfigs
// (hack/cluster). It uses only the standard library.
module github.com/meshctl/meshctl/hack/cluster/pki

go 1.24.0
