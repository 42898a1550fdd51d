package dashboard

import (
	"fmt"
	"os/exec"
	"strings"
)

// BrowserCommand is the command that opens url in the user's browser, or
// nil when there is none to open: $BROWSER (its first command, with %s
// replaced by the URL or the URL appended), or the system's opener where
// there is a desktop (xdg-open with DISPLAY or WAYLAND_DISPLAY set, open
// on macOS, the URL handler on Windows). lookupEnv and goos are the
// process's.
func BrowserCommand(lookupEnv func(string) (string, bool), goos, url string) []string {
	if b, ok := lookupEnv("BROWSER"); ok && strings.TrimSpace(b) != "" {
		first, _, _ := strings.Cut(b, string(listSeparator(goos)))
		args := strings.Fields(first)
		if len(args) == 0 {
			return nil
		}
		replaced := false
		for i, a := range args {
			if strings.Contains(a, "%s") {
				args[i] = strings.ReplaceAll(a, "%s", url)
				replaced = true
			}
		}
		if !replaced {
			args = append(args, url)
		}
		return args
	}
	switch goos {
	case "darwin":
		return []string{"open", url}
	case "windows":
		return []string{"rundll32", "url.dll,FileProtocolHandler", url}
	}
	for _, v := range []string{"DISPLAY", "WAYLAND_DISPLAY"} {
		if d, ok := lookupEnv(v); ok && d != "" {
			return []string{"xdg-open", url}
		}
	}
	return nil
}

// listSeparator separates the commands of $BROWSER, as it separates PATH.
func listSeparator(goos string) rune {
	if goos == "windows" {
		return ';'
	}
	return ':'
}

// StartBrowser starts argv and does not wait for the browser, which may
// outlive meshctl; the process is reaped when it ends.
func StartBrowser(argv []string) error {
	// Not tied to a context: a browser started now keeps running after
	// meshctl ends; it is not ours to stop.
	cmd := exec.Command(argv[0], argv[1:]...)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", argv[0], err)
	}
	go cmd.Wait()
	return nil
}
