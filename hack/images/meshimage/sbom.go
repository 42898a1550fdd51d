package meshimage

import (
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"strings"
)

// SPDX writes an SPDX 2.3 JSON document describing the Go program in bin
// (a binary's bytes), as ko describes its images: the main module and every
// module linked, with the versions the binary records. The document has no
// timestamp, so that the same binary gives the same SBOM.
func SPDX(w io.Writer, docName string, bin []byte) error {
	bi, err := buildinfo.Read(bytes.NewReader(bin))
	if err != nil {
		return fmt.Errorf("%s: not a Go binary with build information: %w", docName, err)
	}
	type pkg struct {
		SPDXID           string `json:"SPDXID"`
		Name             string `json:"name"`
		VersionInfo      string `json:"versionInfo,omitempty"`
		DownloadLocation string `json:"downloadLocation"`
		FilesAnalyzed    bool   `json:"filesAnalyzed"`
		ExternalRefs     []any  `json:"externalRefs,omitempty"`
	}
	type rel struct {
		Element string `json:"spdxElementId"`
		Type    string `json:"relationshipType"`
		Related string `json:"relatedSpdxElement"`
	}
	purl := func(path, version string) []any {
		return []any{map[string]string{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": "pkg:golang/" + path + "@" + version}}
	}
	id := func(path string) string {
		return "SPDXRef-Package-" + strings.NewReplacer("/", "-", ".", "-", "~", "-").Replace(path)
	}
	main := pkg{SPDXID: id(bi.Main.Path), Name: bi.Main.Path, VersionInfo: bi.Main.Version, DownloadLocation: "NOASSERTION", ExternalRefs: purl(bi.Main.Path, bi.Main.Version)}
	pkgs := []pkg{main}
	rels := []rel{{Element: "SPDXRef-DOCUMENT", Type: "DESCRIBES", Related: main.SPDXID}}
	deps := slices.Clone(bi.Deps)
	slices.SortFunc(deps, func(a, b *debug.Module) int { return strings.Compare(a.Path, b.Path) })
	for _, d := range deps {
		m := d
		if d.Replace != nil {
			m = d.Replace
		}
		p := pkg{SPDXID: id(d.Path), Name: m.Path, VersionInfo: m.Version, DownloadLocation: "NOASSERTION", ExternalRefs: purl(m.Path, m.Version)}
		pkgs = append(pkgs, p)
		rels = append(rels, rel{Element: main.SPDXID, Type: "DEPENDS_ON", Related: p.SPDXID})
	}
	sum := sha256.Sum256(bin)
	doc := map[string]any{
		"spdxVersion":       "SPDX-2.3",
		"dataLicense":       "CC0-1.0",
		"SPDXID":            "SPDXRef-DOCUMENT",
		"name":              docName,
		"documentNamespace": fmt.Sprintf("https://meshctl.io/spdx/%s-%x", docName, sum[:8]),
		"creationInfo":      map[string]any{"creators": []string{"Tool: meshctl hack/images", "Tool: " + bi.GoVersion}, "created": "1970-01-01T00:00:00Z"},
		"packages":          pkgs,
		"relationships":     rels,
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}
