package channel

import (
	"encoding/json"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"
)

var testTime = time.Date(2026, 12, 5, 13, 0, 0, 0, time.UTC)

// testContent is a small mesh: two meshed pods, one Service in front of
// them and a third, unmeshed endpoint.
func testContent() Content {
	return Content{
		Pods: []Pod{
			{IPs: []netip.Addr{netip.MustParseAddr("198.18.0.10")}, Identity: "spiffe://cluster.local/ns/shop/sa/web", BypassPorts: []uint16{9090, 15000}},
			{IPs: []netip.Addr{netip.MustParseAddr("198.18.0.11"), netip.MustParseAddr("fd00::11")}, Identity: "spiffe://cluster.local/ns/shop/sa/api"},
		},
		Services: []Service{{
			Name: "shop/web",
			IPs:  []netip.Addr{netip.MustParseAddr("198.19.0.1")},
			Ports: []ServicePort{
				{Port: 80, Endpoints: []netip.AddrPort{netip.MustParseAddrPort("198.18.0.10:8080"), netip.MustParseAddrPort("198.18.0.11:8080"), netip.MustParseAddrPort("198.18.0.99:8080")}},
				{Port: 443},
				{Port: 9090, Endpoints: []netip.AddrPort{netip.MustParseAddrPort("198.18.0.10:9090")}},
			},
		}},
		Issuer: strings.Repeat("0f", 32),
	}
}

// line encodes c as a snapshot line.
func line(t testing.TB, c Content) string {
	t.Helper()
	b, err := EncodeContent(&c)
	if err != nil {
		t.Fatal(err)
	}
	l, _, err := SnapshotLine(b, testTime)
	if err != nil {
		t.Fatal(err)
	}
	return string(l)
}

// rawSnapshotLine is a snapshot line whose content is exactly content,
// with a matching hash, so content can be anything.
func rawSnapshotLine(content string) string {
	m := Message{Type: TypeSnapshot, Version: Version{Hash: HashContent([]byte(content)), Generated: testTime}, Content: json.RawMessage(content)}
	b, err := json.Marshal(m)
	if err != nil {
		// Content that is not JSON: splice it in by hand.
		return `{"type":"snapshot","version":{"hash":"` + HashContent([]byte(content)) + `","generated":"2026-12-05T13:00:00Z"},"content":` + content + "}\n"
	}
	return string(b) + "\n"
}

func TestDecodeRoundTrip(t *testing.T) {
	c := testContent()
	l := line(t, c)
	hb := HeartbeatLine(Version{Hash: HashContent([]byte("x")), Generated: testTime})
	d := NewDecoder(strings.NewReader(l+"\n"+string(hb)+`{"type":"delta","future":true}`+"\n"), 0)
	m, err := d.Next()
	if err != nil {
		t.Fatal(err)
	}
	s, err := DecodeSnapshot(m)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(s.Content.Pods), 2; got != want {
		t.Errorf("pods: %d, want %d", got, want)
	}
	if s.ID(1).String() != "spiffe://cluster.local/ns/shop/sa/api" {
		t.Errorf("pod 1's ID: %s", s.ID(1))
	}
	if s.Version.Generated != testTime || !strings.HasPrefix(s.Version.Hash, "sha256:") {
		t.Errorf("version %+v", s.Version)
	}
	if m, err = d.Next(); err != nil || m.Type != TypeHeartbeat {
		t.Fatalf("second message: %+v, %v; want a heartbeat", m, err)
	}
	if m, err = d.Next(); err != nil || m.Type != "delta" {
		t.Fatalf("third message: %+v, %v; want an unknown type returned as it is", m, err)
	}
	if _, err = d.Next(); err != io.EOF {
		t.Fatalf("end: %v, want io.EOF", err)
	}
}

// TestEncodingIsCanonical: the same content encodes to the same bytes and
// hash, whoever encodes it (two replicas).
func TestEncodingIsCanonical(t *testing.T) {
	a, b := testContent(), testContent()
	ea, _ := EncodeContent(&a)
	eb, _ := EncodeContent(&b)
	if HashContent(ea) != HashContent(eb) {
		t.Fatal("equal contents hash differently")
	}
	b.Pods[0].BypassPorts = []uint16{9090}
	eb, _ = EncodeContent(&b)
	if HashContent(ea) == HashContent(eb) {
		t.Fatal("different contents hash the same")
	}
}

func TestDecodeRefuses(t *testing.T) {
	good := testContent()
	withPods := func(f func(c *Content)) string {
		c := testContent()
		f(&c)
		return line(t, c)
	}
	goodLine := line(t, good)
	for name, tc := range map[string]struct {
		input string
		max   int
		want  string
	}{
		"not JSON":             {"hello\n", 0, "channel message"},
		"no type":              {`{"version":{}}` + "\n", 0, "no type"},
		"bad hash form":        {`{"type":"heartbeat","version":{"hash":"md5:00","generated":"2026-12-05T13:00:00Z"}}` + "\n", 0, "version hash"},
		"upper-case hash":      {`{"type":"heartbeat","version":{"hash":"sha256:` + strings.Repeat("A", 64) + `","generated":"2026-12-05T13:00:00Z"}}` + "\n", 0, "lowercase"},
		"no generation time":   {`{"type":"heartbeat","version":{"hash":"` + HashContent(nil) + `"}}` + "\n", 0, "no generation time"},
		"snapshot no content":  {`{"type":"snapshot","version":{"hash":"` + HashContent(nil) + `","generated":"2026-12-05T13:00:00Z"}}` + "\n", 0, "no content"},
		"hash mismatch":        {strings.Replace(goodLine, `"shop/web"`, `"shop/wex"`, 1), 0, "hashes to"},
		"over the bound":       {goodLine, len(goodLine) - 1, "over the size limit"},
		"cut midway":           {goodLine[:len(goodLine)/2], 0, "unexpected EOF"},
		"content not object":   {rawSnapshotLine(`[1,2]`), 0, "cannot unmarshal"},
		"bad identity":         {withPods(func(c *Content) { c.Pods[0].Identity = "spiffe://cluster.local/ns/shop/sa/WEB" }), 0, "pod 0"},
		"no identity":          {withPods(func(c *Content) { c.Pods[0].Identity = "" }), 0, "pod 0"},
		"pod without IP":       {withPods(func(c *Content) { c.Pods[0].IPs = nil }), 0, "0 IPs"},
		"pod IP twice":         {withPods(func(c *Content) { c.Pods[1].IPs[0] = c.Pods[0].IPs[0] }), 0, "listed twice"},
		"pod IP zone":          {withPods(func(c *Content) { c.Pods[0].IPs[0] = netip.MustParseAddr("fe80::1%eth0") }), 0, "zone"},
		"pod IP mapped":        {withPods(func(c *Content) { c.Pods[0].IPs[0] = netip.MustParseAddr("::ffff:198.18.0.10") }), 0, "IPv4-mapped"},
		"pod IP unspecified":   {withPods(func(c *Content) { c.Pods[0].IPs[0] = netip.IPv4Unspecified() }), 0, "unspecified"},
		"pod IP empty":         {rawSnapshotLine(`{"pods":[{"ips":[""],"identity":"spiffe://cluster.local/ns/a/sa/b"}]}`), 0, "no IP"},
		"pod IP garbage":       {rawSnapshotLine(`{"pods":[{"ips":["300.1.1.1"],"identity":"spiffe://cluster.local/ns/a/sa/b"}]}`), 0, "ParseAddr"},
		"bypass port 0":        {withPods(func(c *Content) { c.Pods[0].BypassPorts = []uint16{0} }), 0, "bypass port 0"},
		"bypass port 65536":    {rawSnapshotLine(`{"pods":[{"ips":["198.18.0.1"],"identity":"spiffe://cluster.local/ns/a/sa/b","bypassPorts":[65536]}]}`), 0, "cannot unmarshal"},
		"bypass unsorted":      {withPods(func(c *Content) { c.Pods[0].BypassPorts = []uint16{15000, 9090} }), 0, "not sorted"},
		"service no name":      {withPods(func(c *Content) { c.Services[0].Name = "" }), 0, "service 0"},
		"service IP twice":     {withPods(func(c *Content) { c.Services[0].IPs = append(c.Services[0].IPs, c.Services[0].IPs[0]) }), 0, "listed twice"},
		"service port 0":       {withPods(func(c *Content) { c.Services[0].Ports[0].Port = 0 }), 0, "port 0"},
		"service ports dup":    {withPods(func(c *Content) { c.Services[0].Ports[1].Port = 80 }), 0, "not sorted"},
		"endpoint port 0":      {withPods(func(c *Content) { c.Services[0].Ports[0].Endpoints[0] = netip.MustParseAddrPort("198.18.0.10:0") }), 0, "endpoint"},
		"endpoint no IP":       {rawSnapshotLine(`{"services":[{"name":"a/b","ips":["198.19.0.1"],"ports":[{"port":80,"endpoints":[":80"]}]}]}`), 0, "no IP"},
		"issuer short":         {withPods(func(c *Content) { c.Issuer = "abc" }), 0, "issuer"},
		"issuer upper-case":    {withPods(func(c *Content) { c.Issuer = strings.Repeat("A", 64) }), 0, "issuer"},
		"too many IPs per pod": {withPods(func(c *Content) { c.Pods[1].IPs = append(c.Pods[1].IPs, netip.MustParseAddr("fd00::12")) }), 0, "3 IPs"},
	} {
		t.Run(name, func(t *testing.T) {
			d := NewDecoder(strings.NewReader(tc.input), tc.max)
			m, err := d.Next()
			if err == nil {
				_, err = DecodeSnapshot(m)
			}
			if err == nil {
				t.Fatalf("accepted %.200q", tc.input)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

// TestDecoderBoundsBeforeBuffering: a line over the bound is refused once
// the bound is passed, without reading the rest of it.
func TestDecoderBoundsBeforeBuffering(t *testing.T) {
	r := &countingReader{}
	_, err := NewDecoder(r, 1<<20).Next()
	if !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("err %v, want ErrMessageTooLarge", err)
	}
	if r.n > 1<<20+8192 {
		t.Errorf("read %d bytes of an endless line before refusing it at %d", r.n, 1<<20)
	}
}

// countingReader is an endless line of 'a's.
type countingReader struct{ n int }

func (r *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	r.n += len(p)
	return len(p), nil
}

func TestEncodeRefusesOversize(t *testing.T) {
	big := []byte(`{"x":"` + strings.Repeat("a", MaxMessageBytes) + `"}`)
	if _, _, err := SnapshotLine(big, testTime); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("err %v, want ErrMessageTooLarge", err)
	}
}
