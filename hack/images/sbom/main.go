// Command sbom writes an SPDX SBOM of a release artifact: a Go binary, or
// the Go binary inside a .tar.gz or .zip archive (meshctl's archives hold
// one, beside its docs). It is the `sboms` command of .goreleaser.yaml, in
// place of syft, which the project cannot fetch: what the archives ship
// that has dependencies is the Go program, and its build information lists
// them exactly (meshimage.SPDX, as for the images).
//
//	sbom -o DOCUMENT ARTIFACT
package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"debug/buildinfo"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/meshctl/meshctl/hack/images/meshimage"
)

func main() {
	out := flag.String("o", "", "the SPDX JSON document to write")
	flag.Parse()
	if *out == "" || flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: sbom -o DOCUMENT ARTIFACT")
		os.Exit(2)
	}
	if err := run(*out, flag.Arg(0)); err != nil {
		fmt.Fprintln(os.Stderr, "sbom:", err)
		os.Exit(1)
	}
}

func run(out, artifact string) error {
	bin, err := goBinary(artifact)
	if err != nil {
		return err
	}
	var doc bytes.Buffer
	name := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(artifact), ".tar.gz"), ".zip")
	if err := meshimage.SPDX(&doc, name, bin); err != nil {
		return err
	}
	return os.WriteFile(out, doc.Bytes(), 0o644)
}

// goBinary returns the artifact itself, or the one Go binary in it.
func goBinary(artifact string) ([]byte, error) {
	data, err := os.ReadFile(artifact)
	if err != nil {
		return nil, err
	}
	var found [][]byte
	keep := func(b []byte) {
		if _, err := buildinfo.Read(bytes.NewReader(b)); err == nil {
			found = append(found, b)
		}
	}
	switch {
	case strings.HasSuffix(artifact, ".tar.gz"):
		gz, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", artifact, err)
		}
		tr := tar.NewReader(gz)
		for {
			hdr, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", artifact, err)
			}
			if hdr.Typeflag == tar.TypeReg {
				b, err := io.ReadAll(tr)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", artifact, err)
				}
				keep(b)
			}
		}
	case strings.HasSuffix(artifact, ".zip"):
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", artifact, err)
		}
		for _, f := range zr.File {
			if f.FileInfo().IsDir() {
				continue
			}
			rc, err := f.Open()
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", artifact, f.Name, err)
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", artifact, f.Name, err)
			}
			keep(b)
		}
	default:
		keep(data)
	}
	if len(found) != 1 {
		return nil, fmt.Errorf("%s: holds %d Go binaries, want one", artifact, len(found))
	}
	return found[0], nil
}
