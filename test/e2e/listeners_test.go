//go:build e2e

package e2e

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// listener is a socket bound for incoming traffic, and who holds it.
type listener struct {
	proto     string
	addr      netip.AddrPort
	component string
}

// listenersOnlyLocal: every socket on which a cluster component accepts
// traffic is bound to loopback or to the node network on the local interface,
// never to a wildcard or the machine's external interface. The components are
// the processes whose pid files cluster-up keeps in its run directory.
func listenersOnlyLocal(t *testing.T, e *Env) {
	owners, err := socketOwners(e.RunDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(owners) == 0 {
		t.Fatalf("no sockets of cluster components found through %s/*.pid", e.RunDir)
	}
	var found []listener
	// Reading /proc/net as this process reads the host's network namespace,
	// where the components run (pods' sockets are in their own).
	for _, f := range []struct{ file, proto, state string }{
		{"tcp", "tcp", "0A"}, {"tcp6", "tcp6", "0A"}, // LISTEN
		{"udp", "udp", "07"}, {"udp6", "udp6", "07"}, // bound, not connected
	} {
		ls, err := readListeners(filepath.Join("/proc/net", f.file), f.proto, f.state, owners)
		if err != nil {
			t.Fatal(err)
		}
		found = append(found, ls...)
	}
	if len(found) == 0 {
		t.Fatal("found no listening sockets of the cluster's components")
	}
	for _, l := range found {
		ip := l.addr.Addr().Unmap()
		if !ip.IsLoopback() && !nodeNetwork.Contains(ip) {
			t.Errorf("%s listens on %s %s: only loopback and %s are allowed", l.component, l.proto, l.addr, nodeNetwork)
		} else {
			t.Logf("%s listens on %s %s", l.component, l.proto, l.addr)
		}
	}
}

// socketOwners maps the socket inodes of the cluster's components to their
// names, from the pid files in runDir.
func socketOwners(runDir string) (map[string]string, error) {
	pidFiles, err := filepath.Glob(filepath.Join(runDir, "*.pid"))
	if err != nil {
		return nil, err
	}
	owners := map[string]string{}
	for _, pf := range pidFiles {
		b, err := os.ReadFile(pf)
		if err != nil {
			return nil, err
		}
		component := strings.TrimSuffix(filepath.Base(pf), ".pid")
		pid := strings.TrimSpace(string(b))
		fds, err := os.ReadDir(filepath.Join("/proc", pid, "fd"))
		if err != nil {
			return nil, fmt.Errorf("%s (pid %s) is not running: %w", component, pid, err)
		}
		for _, fd := range fds {
			target, err := os.Readlink(filepath.Join("/proc", pid, "fd", fd.Name()))
			if err == nil && strings.HasPrefix(target, "socket:[") {
				owners[strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")] = component
			}
		}
	}
	return owners, nil
}

// readListeners parses a /proc/net/{tcp,udp}[6] table and returns the sockets
// in the given state that belong to the components.
func readListeners(path, proto, state string, owners map[string]string) ([]listener, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []listener
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || fields[3] != state {
			continue
		}
		component, ok := owners[fields[9]]
		if !ok {
			continue
		}
		addr, err := parseProcAddr(fields[1])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, listener{proto: proto, addr: addr, component: component})
	}
	return out, sc.Err()
}

// parseProcAddr parses "0100007F:1F90": the address as 32-bit words in host
// (little-endian) byte order, then the port in hex.
func parseProcAddr(s string) (netip.AddrPort, error) {
	hexIP, hexPort, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("bad address %q", s)
	}
	raw, err := hex.DecodeString(hexIP)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, fmt.Errorf("bad address %q", s)
	}
	for i := 0; i < len(raw); i += 4 {
		binary.BigEndian.PutUint32(raw[i:], binary.LittleEndian.Uint32(raw[i:]))
	}
	port, err := strconv.ParseUint(hexPort, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("bad port in %q", s)
	}
	ip, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(ip, uint16(port)), nil
}

func TestParseProcAddr(t *testing.T) {
	tests := []struct {
		in   string
		want string
		bad  bool
	}{
		{in: "0100007F:1F90", want: "127.0.0.1:8080"},
		{in: "01FF12C6:3FFB", want: "198.18.255.1:16379"},
		{in: "00000000:0035", want: "0.0.0.0:53"},
		{in: "00000000000000000000000001000000:0050", want: "[::1]:80"},
		{in: "0000000000000000FFFF00000100007F:0050", want: "[::ffff:127.0.0.1]:80"},
		{in: "0100007F", bad: true},
		{in: "01007F:0050", bad: true},
		{in: "0100007F:XYZ", bad: true},
	}
	for _, tt := range tests {
		got, err := parseProcAddr(tt.in)
		if tt.bad {
			if err == nil {
				t.Errorf("parseProcAddr(%q) = %s, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got.String() != tt.want {
			t.Errorf("parseProcAddr(%q) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}
