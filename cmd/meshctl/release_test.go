package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
)

// goreleaserConfig is the part of .goreleaser.yaml that must agree with the
// Go constants.
type goreleaserConfig struct {
	Builds     []goreleaserBuild `yaml:"builds"`
	Publishers []struct {
		Name     string   `yaml:"name"`
		IDs      []string `yaml:"ids"`
		Checksum bool     `yaml:"checksum"`
		Cmd      string   `yaml:"cmd"`
		Env      []string `yaml:"env"`
	} `yaml:"publishers"`
	Checksum struct {
		NameTemplate string `yaml:"name_template"`
	} `yaml:"checksum"`
}

// goreleaserBuild is one entry of builds.
type goreleaserBuild struct {
	ID      string   `yaml:"id"`
	Main    string   `yaml:"main"`
	Ldflags []string `yaml:"ldflags"`
	Env     []string `yaml:"env"`
}

// TestGoreleaserMatchesImageConstants fails when a release would publish
// images under other names or tags than the ones meshctl installs and
// injects: the repositories of pkg/proxyconfig and pkg/meshconfig, tagged
// with pkg/version.ImageTag(), which is the version stamped by the ldflags.
func TestGoreleaserMatchesImageConstants(t *testing.T) {
	b, err := os.ReadFile("../../.goreleaser.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg goreleaserConfig
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatalf(".goreleaser.yaml: %v", err)
	}

	makefile, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	// The -X targets of the Makefile's LDFLAGS, such as
	// $(MODULE)/pkg/version.version.
	makeX := map[string]bool{}
	for _, m := range regexp.MustCompile(`-X \$\(MODULE\)(/pkg/version\.\w+)=`).FindAllStringSubmatch(string(makefile), -1) {
		makeX["github.com/meshctl/meshctl"+m[1]] = true
	}
	if len(makeX) == 0 {
		t.Fatal("found no -X flags in the Makefile's LDFLAGS")
	}

	const versionFlag = "-X github.com/meshctl/meshctl/pkg/version.version="
	builds := map[string]string{} // id -> version template
	for _, bd := range cfg.Builds {
		flags := strings.Join(bd.Ldflags, " ")
		for x := range makeX {
			if !strings.Contains(flags, "-X "+x+"=") {
				t.Errorf("build %q: ldflags lack -X %s, which the Makefile sets", bd.ID, x)
			}
		}
		i := slices.IndexFunc(bd.Ldflags, func(f string) bool { return strings.HasPrefix(f, versionFlag) })
		if i < 0 {
			t.Errorf("build %q: no ldflags item %q", bd.ID, versionFlag+"...")
			continue
		}
		builds[bd.ID] = strings.TrimPrefix(bd.Ldflags[i], versionFlag)
		if !slices.Contains(bd.Env, "CGO_ENABLED=0") {
			t.Errorf("build %q: CGO_ENABLED=0 is not set", bd.ID)
		}
	}

	// Every command in cmd/ is released.
	dirs, err := filepath.Glob("../../cmd/*")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		main := "./cmd/" + filepath.Base(d)
		if !slices.ContainsFunc(cfg.Builds, func(bd goreleaserBuild) bool { return bd.Main == main }) {
			t.Errorf(".goreleaser.yaml has no build of %s", main)
		}
	}

	// The images are published by hack/release-publish.sh DIST VERSION
	// REGISTRY, once: for REGISTRY/NAME:VERSION to be what meshctl
	// installs and injects, REGISTRY must be the default registry of
	// both image constants, and VERSION the version the builds stamp
	// (ImageTag() is that version, character for character).
	for _, repo := range []string{proxyconfig.ImageRepository, meshconfig.ControllerImageRepository} {
		if !strings.HasPrefix(repo, meshconfig.DefaultImageRegistry+"/") {
			t.Errorf("image %s is not under the default registry %s", repo, meshconfig.DefaultImageRegistry)
		}
	}
	var publish string
	for _, p := range cfg.Publishers {
		if !strings.HasPrefix(p.Cmd, "hack/release-publish.sh ") {
			continue
		}
		publish = p.Cmd
		// It runs once per artifact it matches: the script publishes in
		// the checksums file's run alone (TestReleasePublishRunsOnce).
		if !p.Checksum || len(p.IDs) != 1 || slices.ContainsFunc(cfg.Builds, func(bd goreleaserBuild) bool { return bd.ID == p.IDs[0] }) {
			t.Errorf("publisher %q must match the checksums file (checksum: true) and no build (ids naming none)", p.Name)
		}
		if !slices.Contains(p.Env, "PUBLISH_ARTIFACT={{ .ArtifactName }}") || cfg.Checksum.NameTemplate != "checksums.txt" {
			t.Errorf("publisher %q must pass PUBLISH_ARTIFACT={{ .ArtifactName }}, and the checksums file be checksums.txt (got %q): hack/release-publish.sh publishes only in that run", p.Name, cfg.Checksum.NameTemplate)
		}
	}
	if publish == "" {
		t.Fatal(".goreleaser.yaml has no publisher running hack/release-publish.sh: the release would publish no image")
	}
	for id, v := range builds {
		if want := "hack/release-publish.sh dist " + v + " " + meshconfig.DefaultImageRegistry; publish != want {
			t.Errorf("publisher: %q, want %q: the tag build %q stamps (pkg/version.ImageTag) and meshconfig.DefaultImageRegistry", publish, want, id)
		}
	}
}

// TestReleasePublishRunsOnce: goreleaser runs the publisher once for each
// artifact it matches, concurrently, and the release's extra files match
// any filter; the script must publish in the checksums file's run alone.
// The other runs exit 0 without touching anything (here a DIST that does
// not exist), and the checksums file's run gets to work (and fails on it).
func TestReleasePublishRunsOnce(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-dist")
	run := func(artifact string) (int, string) {
		cmd := exec.Command("bash", "../../hack/release-publish.sh", missing, "v1.2.3", "registry.invalid/meshctl")
		cmd.Env = append(os.Environ(), "PUBLISH_ARTIFACT="+artifact)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode(), string(out)
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	for _, other := range []string{"mesh-1.2.3.tgz", "meshctl_v1.2.3_linux_amd64.tar.gz"} {
		if code, out := run(other); code != 0 || out != "" {
			t.Errorf("the run for %s: exit %d, %q; want it to do nothing", other, code, out)
		}
	}
	if code, _ := run("checksums.txt"); code == 0 {
		t.Errorf("the run for checksums.txt did nothing with a DIST that does not exist; want it to publish (and fail)")
	}
}
