// Module images builds the container images the local cluster runs (pause,
// the end-to-end test app, and any Go command of the project) as static
// binaries on an empty base, written as tarballs for containerd to import.
// Nothing is ever pulled from a registry.
module github.com/meshctl/meshctl/hack/images

go 1.25.0

require github.com/google/go-containerregistry v0.22.1

require (
	github.com/klauspost/compress v1.19.2 // indirect
	github.com/opencontainers/go-digest v1.0.0 // indirect
	github.com/opencontainers/image-spec v1.1.1 // indirect
)
