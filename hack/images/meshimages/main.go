// Command meshimages builds the mesh's two images (package meshimage) from
// binaries already built, and pushes them to a registry through a registry
// client, or writes them for a local cluster, or as an OCI layout. It is
// `make images`, the e2e cluster's image step (hack/cluster/mesh-images.sh)
// and the release's.
//
//	meshimages -bin DIR -registry REG -tag TAG [-push] [-o DIR] [-layout DIR] [-sbom DIR] [-insecure]
//
// DIR holds NAME_linux_ARCH binaries (mesh-proxy_linux_amd64, ...); every
// arch found goes into the image's index. -push pushes REG/NAME:TAG;
// -o writes DIR/NAME.tar (one arch, for `ctr images import` or `kind load
// image-archive`); -layout writes an OCI image layout; -sbom writes
// DIR/NAME_linux_ARCH.spdx.json. -push also attaches each platform image's
// SBOM in the registry, as cosign does (meshimage.SBOMTag). -base-digests
// prints the base's digests.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/meshctl/meshctl/hack/images/meshimage"
)

type options struct {
	bin, registry, tag string
	push, insecure     bool
	out, layout, sbom  string
	baseDigests        bool
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "", "directory of NAME_linux_ARCH binaries")
	flag.StringVar(&o.registry, "registry", "", "registry and path of the images, such as ghcr.io/meshctl")
	flag.StringVar(&o.tag, "tag", "", "the images' tag: meshctl's version")
	flag.BoolVar(&o.push, "push", false, "push REGISTRY/NAME:TAG")
	flag.BoolVar(&o.insecure, "insecure", false, "reach the registry over plain HTTP (a registry on loopback)")
	flag.StringVar(&o.out, "o", "", "write DIR/NAME.tar for a local cluster (one arch)")
	flag.StringVar(&o.layout, "layout", "", "write an OCI image layout to DIR")
	flag.StringVar(&o.sbom, "sbom", "", "write an SPDX SBOM of each image's binary to DIR")
	flag.BoolVar(&o.baseDigests, "base-digests", false, "print the base image's digest for each arch and exit")
	flag.Parse()
	if err := run(context.Background(), o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "meshimages:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, stdout *os.File) error {
	if o.baseDigests {
		for _, arch := range meshimage.Arches {
			img, err := meshimage.Base(arch)
			if err != nil {
				return err
			}
			d, err := img.Digest()
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s %s\n", arch, d)
		}
		return nil
	}
	if o.bin == "" || o.registry == "" || o.tag == "" || (!o.push && o.out == "" && o.layout == "" && o.sbom == "") {
		return fmt.Errorf("-bin, -registry, -tag and one of -push, -o, -layout, -sbom are required")
	}
	var nameOpts []name.Option
	if o.insecure {
		nameOpts = append(nameOpts, name.Insecure)
	}
	for _, s := range meshimage.Specs {
		bins := map[string]string{}
		for _, arch := range meshimage.Arches {
			p := filepath.Join(o.bin, s.Name+"_linux_"+arch)
			if _, err := os.Stat(p); err == nil {
				bins[arch] = p
			}
		}
		ref, err := name.NewTag(strings.TrimSuffix(o.registry, "/")+"/"+s.Name+":"+o.tag, nameOpts...)
		if err != nil {
			return fmt.Errorf("image %s: %w", s.Name, err)
		}
		idx, err := meshimage.Index(s, bins)
		if err != nil {
			return err
		}
		docs, err := sboms(s, bins)
		if err != nil {
			return err
		}
		if o.sbom != "" {
			if err := writeSBOMs(o.sbom, s, docs); err != nil {
				return err
			}
		}
		if o.layout != "" {
			p, err := layout.FromPath(o.layout)
			if err != nil {
				if p, err = layout.Write(o.layout, emptyIndex()); err != nil {
					return err
				}
			}
			if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref.String()})); err != nil {
				return err
			}
		}
		if o.out != "" {
			if len(bins) != 1 {
				return fmt.Errorf("-o writes one arch; -bin has %d for %s", len(bins), s.Name)
			}
			for arch, bin := range bins {
				img, err := meshimage.Image(s, arch, bin)
				if err != nil {
					return err
				}
				if err := os.MkdirAll(o.out, 0o755); err != nil {
					return err
				}
				if err := tarball.WriteToFile(filepath.Join(o.out, s.Name+".tar"), ref, img); err != nil {
					return err
				}
			}
		}
		if o.push {
			if err := meshimage.Push(ctx, ref, idx, remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
				return err
			}
			d, err := idx.Digest()
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "pushed %s@%s\n", ref, d)
			tags, err := meshimage.AttachSBOMs(ctx, ref.Repository, idx, docs, remote.WithAuthFromKeychain(authn.DefaultKeychain))
			if err != nil {
				return err
			}
			for _, t := range tags {
				fmt.Fprintf(stdout, "attached the SBOM %s\n", t)
			}
		}
	}
	return nil
}

// sboms are the SPDX documents of s's binary for each arch of bins.
func sboms(s meshimage.Spec, bins map[string]string) (map[string][]byte, error) {
	docs := map[string][]byte{}
	for arch, bin := range bins {
		data, err := os.ReadFile(bin)
		if err != nil {
			return nil, err
		}
		var b bytes.Buffer
		if err := meshimage.SPDX(&b, s.Name+"_linux_"+arch, data); err != nil {
			return nil, err
		}
		docs[arch] = b.Bytes()
	}
	return docs, nil
}

func writeSBOMs(dir string, s meshimage.Spec, docs map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for arch, doc := range docs {
		if err := os.WriteFile(filepath.Join(dir, s.Name+"_linux_"+arch+".spdx.json"), doc, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func emptyIndex() v1.ImageIndex { return empty.Index }
