package health

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"syscall"
	"time"

	"google.golang.org/protobuf/proto"

	membershipv1 "github.com/hindsight-dev/hindsight/proto/hindsight/membership/v1"
)

// Defaults of a HealthCheck's optional fields (the registry validates them
// and documents the same values in the proto).
const (
	DefaultInterval  = 2 * time.Second
	DefaultTimeout   = time.Second
	DefaultThreshold = 2
)

// check is one member's probe with its defaults filled in.
type check struct {
	addr      string // host:port
	http      *membershipv1.HTTPProbe
	interval  time.Duration
	timeout   time.Duration
	threshold int
}

func newCheck(m *membershipv1.Member) check {
	hc := m.GetHealthCheck()
	c := check{
		addr:      net.JoinHostPort(m.GetAddress(), strconv.Itoa(int(m.GetPort()))),
		http:      hc.GetHttp(),
		interval:  DefaultInterval,
		timeout:   DefaultTimeout,
		threshold: DefaultThreshold,
	}
	if d := hc.GetInterval(); d != nil && d.AsDuration() > 0 {
		c.interval = d.AsDuration()
	}
	if d := hc.GetTimeout(); d != nil && d.AsDuration() > 0 {
		c.timeout = d.AsDuration()
	}
	c.timeout = min(c.timeout, c.interval)
	if hc.GetThreshold() > 0 {
		c.threshold = int(hc.GetThreshold())
	}
	return c
}

// specOf says what a member's probe depends on: when it changes, the probe
// restarts. Health and lease are not part of it, so the prober's own writes
// (and keep-alives) leave a running probe alone.
func specOf(m *membershipv1.Member) string {
	hc, _ := proto.MarshalOptions{Deterministic: true}.Marshal(m.GetHealthCheck())
	return fmt.Sprintf("%s|%d|%x", m.GetAddress(), m.GetPort(), hc)
}

// probeDialer refuses link-local, unspecified and multicast addresses at
// connect time, after name resolution: the registry refuses such member
// addresses, but a host name can resolve to 169.254.169.254 (a cloud
// metadata service) later.
var probeDialer = &net.Dialer{Control: func(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return err
	}
	if a = a.Unmap(); a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsUnspecified() || a.IsMulticast() {
		return fmt.Errorf("probe refused: %s is a link-local, unspecified or multicast address", a)
	}
	return nil
}}

// probeClient opens a new connection per probe: a reused keep-alive connection
// would hide a member that stopped accepting connections.
var probeClient = &http.Client{
	Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil, DialContext: probeDialer.DialContext},
	// A redirect is an answer: judge the member by it, do not follow it.
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// probe runs the check once and returns nil when the member is healthy.
func (c check) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if c.http == nil {
		conn, err := probeDialer.DialContext(ctx, "tcp", c.addr)
		if err != nil {
			return err
		}
		return conn.Close()
	}
	path := c.http.GetPath()
	if path == "" {
		path = "/"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.addr+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "hindsight-membership-probe")
	resp, err := probeClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	want := int(c.http.GetExpectedStatus())
	switch {
	case want == 0 && resp.StatusCode/100 == 2, resp.StatusCode == want:
		return nil
	case want == 0:
		return fmt.Errorf("status %d, want 2xx", resp.StatusCode)
	default:
		return fmt.Errorf("status %d, want %d", resp.StatusCode, want)
	}
}

// damper turns probe results into a health state that changes only after
// threshold consecutive results disagree with it, so one lost packet does not
// take a member out and one lucky answer does not put it back. A member of
// unknown health (just registered) takes its first result at once: there is
// no earlier state to protect from flapping, and a new member should be
// usable (or excluded) as soon as possible.
type damper struct {
	state     membershipv1.Health
	streak    int
	threshold int
}

func (d *damper) observe(ok bool) membershipv1.Health {
	want := membershipv1.Health_HEALTH_UNHEALTHY
	if ok {
		want = membershipv1.Health_HEALTH_HEALTHY
	}
	switch {
	case d.state == want:
		d.streak = 0
	case d.state == membershipv1.Health_HEALTH_UNSPECIFIED:
		d.state, d.streak = want, 0
	default:
		d.streak++
		if d.streak >= d.threshold {
			d.state, d.streak = want, 0
		}
	}
	return d.state
}

// reset makes the damper start from a state someone else stored.
func (d *damper) reset(h membershipv1.Health) { d.state, d.streak = h, 0 }
