package dataplane

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/meshctl/meshctl/pkg/proxy/tap"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// benchPathMTLSTap is the mTLS row's path, on the same proxies, with a
// tap listener on each of them during its turns: what a listener costs
// the proxy (the bound: 5% more CPU at 1000 requests/s).
const benchPathMTLSTap = benchPathMTLS + " + tap listener"

// tapCounts is what a path's tap listeners got over its turns: request
// events, and those the proxies counted as missed.
type tapCounts struct{ events, dropped, limited uint64 }

func (c tapCounts) add(d tapCounts) tapCounts {
	return tapCounts{c.events + d.events, c.dropped + d.dropped, c.limited + d.limited}
}

// tapListeners returns what listens to the tap of each proxy whose admin
// port the clients reach (from the pod's loopback, as a port-forward
// arrives) for one turn: it opens the streams, reads and decodes every
// line as meshctl tap would, and its result stops them and counts.
func tapListeners(b *testing.B, admins ...*http.Client) func() func() tapCounts {
	return func() func() tapCounts {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		counts := make([]tapCounts, len(admins))
		for i, c := range admins {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", wire.AdminPort, wire.TapPath), nil)
			if err != nil {
				b.Fatal(err)
			}
			resp, err := c.Do(req)
			if err != nil {
				b.Fatalf("tap listener: %v", err)
			}
			if resp.StatusCode != http.StatusOK {
				resp.Body.Close()
				b.Fatalf("tap listener: %s", resp.Status)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer resp.Body.Close()
				d := tap.NewDecoder(resp.Body)
				for {
					l, err := d.Next()
					if err != nil {
						return
					}
					switch l.Kind {
					case tap.KindRequest:
						counts[i].events++
					case tap.KindMissed:
						counts[i].dropped += l.Dropped
						counts[i].limited += l.Limited
					}
				}
			}()
		}
		return func() tapCounts {
			cancel()
			wg.Wait()
			var sum tapCounts
			for _, c := range counts {
				sum = sum.add(c)
			}
			return sum
		}
	}
}

// tapDiff compares the tap row with the mTLS row at each rate: the
// proxies' CPU per request and the added latency, and what the listeners
// got of the requests (each seen by both proxies).
func tapDiff(b *testing.B, rows []benchRow) string {
	var out strings.Builder
	byRate := map[int]map[string]benchRow{}
	var rates []int
	for _, r := range rows {
		if byRate[r.rate] == nil {
			byRate[r.rate] = map[string]benchRow{}
			rates = append(rates, r.rate)
		}
		byRate[r.rate][r.path] = r
	}
	for _, rate := range rates {
		with, ok1 := byRate[rate][benchPathMTLSTap]
		without, ok2 := byRate[rate][benchPathMTLS]
		if !ok1 || !ok2 || with.tap == nil {
			continue
		}
		if with.tap.events == 0 {
			b.Errorf("%s at %d/s: the listeners got no event", benchPathMTLSTap, rate)
		}
		cpu := 100 * (with.cpuPer1000 - without.cpuPer1000) / without.cpuPer1000
		fmt.Fprintf(&out, "  at %d/s: CPU %+.1f%% (%.3f vs %.3f s/1000 req), added p50 %+.0fµs, added p99 %+.0fµs; the listeners got %d events of %d requests through 2 proxies, %d dropped\n",
			rate, cpu, with.cpuPer1000, without.cpuPer1000, float64((with.a50-without.a50).Nanoseconds())/1000, float64((with.a99-without.a99).Nanoseconds())/1000,
			with.tap.events, 2*with.res.sent, with.tap.dropped)
	}
	return out.String()
}
