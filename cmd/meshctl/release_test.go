package main

import (
	"os"
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
	Builds []goreleaserBuild `yaml:"builds"`
	Kos    []struct {
		ID           string   `yaml:"id"`
		Build        string   `yaml:"build"`
		Repositories []string `yaml:"repositories"`
		Tags         []string `yaml:"tags"`
		Bare         bool     `yaml:"bare"`
	} `yaml:"kos"`
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

	want := map[string]string{
		"mesh-proxy":      proxyconfig.ImageRepository,
		"mesh-controller": meshconfig.ControllerImageRepository,
	}
	seen := map[string]bool{}
	for _, ko := range cfg.Kos {
		repo, ok := want[ko.Build]
		if !ok {
			t.Errorf("kos %q builds %q, which has no image constant", ko.ID, ko.Build)
			continue
		}
		seen[ko.Build] = true
		if !slices.Equal(ko.Repositories, []string{repo}) {
			t.Errorf("kos %q: repositories %v, want [%s] (the Go constant)", ko.ID, ko.Repositories, repo)
		}
		if !ko.Bare {
			t.Errorf("kos %q: bare must be true, or ko appends the import path to %s", ko.ID, repo)
		}
		// ImageTag() is the stamped version, so the tag template must be
		// the ldflags' version template, character for character.
		if v := builds[ko.Build]; !slices.Equal(ko.Tags, []string{v}) {
			t.Errorf("kos %q: tags %v, want [%s], the version its build stamps (pkg/version.ImageTag)", ko.ID, ko.Tags, v)
		}
	}
	for build, repo := range want {
		if !seen[build] {
			t.Errorf(".goreleaser.yaml publishes no image %s (kos entry for build %q)", repo, build)
		}
	}
}
