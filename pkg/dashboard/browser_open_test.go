package dashboard

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/meshctl/meshctl/internal/syncbuf"
)

func TestBrowserCommand(t *testing.T) {
	const url = "http://127.0.0.1:50750/"
	for _, tc := range []struct {
		name string
		env  map[string]string
		goos string
		want []string
	}{
		{"BROWSER", map[string]string{"BROWSER": "firefox", "DISPLAY": ":0"}, "linux", []string{"firefox", url}},
		{"BROWSER with arguments and %s", map[string]string{"BROWSER": "chromium --new-window %s:lynx"}, "linux", []string{"chromium", "--new-window", url}},
		{"BROWSER on Windows", map[string]string{"BROWSER": `C:\b.exe;other`}, "windows", []string{`C:\b.exe`, url}},
		{"blank BROWSER, no desktop", map[string]string{"BROWSER": " "}, "linux", nil},
		{"X11", map[string]string{"DISPLAY": ":0"}, "linux", []string{"xdg-open", url}},
		{"Wayland", map[string]string{"WAYLAND_DISPLAY": "wayland-0"}, "freebsd", []string{"xdg-open", url}},
		{"no desktop", map[string]string{"DISPLAY": ""}, "linux", nil},
		{"macOS", nil, "darwin", []string{"open", url}},
		{"Windows", nil, "windows", []string{"rundll32", "url.dll,FileProtocolHandler", url}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lookup := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
			if got := BrowserCommand(lookup, tc.goos, url); !slices.Equal(got, tc.want) {
				t.Errorf("%q, want %q", got, tc.want)
			}
		})
	}
}

// TestOpensBrowser: Run starts the browser command with the page's URL,
// and --browser=false does not.
func TestOpensBrowser(t *testing.T) {
	for _, open := range []bool{true, false} {
		opened := filepath.Join(t.TempDir(), "opened")
		ctx, cancel := context.WithCancel(context.Background())
		var stderr syncbuf.Buffer
		served := make(chan string, 1)
		o := &Options{
			IOStreams: genericiooptions.IOStreams{Out: &stderr, ErrOut: &stderr},
			Namespace: "bookstore", Address: "localhost", Interval: DefaultInterval, Browser: open,
			Source: loadFixture(t, "bookstore"), Clock: clocktesting.NewFakeClock(fixtureStart),
			BrowserCommand: func(url string) []string {
				return []string{"/bin/sh", "-c", `printf %s "$1" > "$2.tmp" && mv "$2.tmp" "$2"`, "sh", url, opened}
			},
			Serving: func(u string) { served <- u },
		}
		done := make(chan error, 1)
		go func() { done <- o.Run(ctx) }()
		url := <-served
		if open {
			for {
				if b, err := os.ReadFile(opened); err == nil {
					if string(b) != url {
						t.Errorf("the browser was given %q, want %q", b, url)
					}
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(opened); !open && err == nil {
			t.Errorf("--browser=false opened a browser")
		}
	}
}
