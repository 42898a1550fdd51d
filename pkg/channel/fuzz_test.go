package channel

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"testing"
)

// FuzzDecode feeds the proxy's parser arbitrary streams: it must never
// panic nor hang, never accept a line over its bound, and every snapshot
// it accepts must index and resolve, with a resolved identity always one
// of the snapshot's.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(line(f, testContent())))
	f.Add([]byte(rawSnapshotLine(`{"pods":[{"ips":["198.18.0.1"],"identity":"spiffe://cluster.local/ns/a/sa/b","bypassPorts":[80]}],"services":[{"name":"a/b","ips":["198.19.0.1"],"ports":[{"port":80,"endpoints":["198.18.0.1:8080"]}]}]}`)))
	f.Add(HeartbeatLine(Version{Hash: HashContent(nil), Generated: testTime}))
	f.Add([]byte("{}\n\n{\"type\":\"x\"}\n"))
	const max = 4096
	f.Fuzz(func(t *testing.T, data []byte) {
		d := NewDecoder(bytes.NewReader(data), max)
		for range 64 {
			m, err := d.Next()
			if err != nil {
				return
			}
			if len(m.Content) > max {
				t.Fatalf("accepted %d bytes of content over a %d-byte bound", len(m.Content), max)
			}
			if m.Type != TypeSnapshot {
				continue
			}
			s, err := DecodeSnapshot(m)
			if err != nil {
				continue
			}
			ids := map[string]bool{}
			for _, p := range s.Content.Pods {
				ids[p.Identity] = true
			}
			x := NewIndex(s)
			probe := func(dst netip.AddrPort) {
				_, id, _ := x.Resolve(dst)
				if !id.IsZero() && !ids[id.String()] {
					t.Fatalf("Resolve(%s) gave %s, not an identity of the snapshot", dst, id)
				}
			}
			for _, p := range s.Content.Pods {
				for _, ip := range p.IPs {
					probe(netip.AddrPortFrom(ip, 80))
				}
			}
			for _, svc := range s.Content.Services {
				for _, ip := range svc.IPs {
					for _, sp := range svc.Ports {
						probe(netip.AddrPortFrom(ip, sp.Port))
					}
				}
			}
		}
	})
}

// FuzzDecodeSettings: whatever a controller sends as settings, the proxy
// gets either settings it can follow or an error and the defaults, never
// a panic; and what it follows encodes to the same digest again.
func FuzzDecodeSettings(f *testing.F) {
	f.Add([]byte(`{"enableEgress":false,"logLevel":"debug"}`))
	f.Add([]byte(`{"enableEgress":true,"tracing":{"enable":true,"address":"otel","port":4318,"endpoint":"/v1/traces"}}`))
	f.Add([]byte(`{"enableEgress":true,"jwt":{"enable":true,"issuer":"i","jwks":"{}","destinations":[{"namespace":"books"}]}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, err := DecodeSettings(raw)
		if err != nil {
			if s.JWT != nil || s.Tracing != nil || s.LogLevel != "" || !s.EnableEgress {
				t.Fatalf("an error came with %+v, not the defaults", s)
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("decoded settings do not validate: %v", err)
		}
		again, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		s2, err := DecodeSettings(again)
		if err != nil || s2.Digest() != s.Digest() {
			t.Fatalf("re-decoding %s: %v, digest %s != %s", again, err, s2.Digest(), s.Digest())
		}
	})
}
