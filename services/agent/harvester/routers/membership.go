package routers

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"time"

	membershipv1 "github.com/hindsight-dev/hindsight/proto/hindsight/membership/v1"
)

// FollowMembership keeps l equal to the healthy members of service, as told by
// the membership service: a full list first, then its Watch stream. While
// there are no healthy members l holds fallback; while the membership service
// is unreachable l keeps what it last knew (routers do not vanish because the
// registry did). It returns when ctx is done.
func FollowMembership(ctx context.Context, client membershipv1.MembershipServiceClient, service string, fallback []string, l *List, log *slog.Logger) {
	delay := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := follow(ctx, client, service, fallback, l)
		if ctx.Err() != nil {
			return
		}
		log.Warn("membership watch failed; keeping the last known routers", "err", err, "routers", l.Addrs())
		select {
		case <-ctx.Done():
		case <-time.After(delay/2 + rand.N(delay/2+1)):
		}
		delay = min(delay*2, 10*time.Second)
	}
}

func follow(ctx context.Context, client membershipv1.MembershipServiceClient, service string, fallback []string, l *List) error {
	list, err := client.ListMembers(ctx, &membershipv1.ListMembersRequest{Service: service, HealthyOnly: true})
	if err != nil {
		return err
	}
	healthy := map[string]string{} // member id → address
	for _, m := range list.GetMembers() {
		healthy[m.GetId()] = addr(m)
	}
	publish := func() {
		addrs := make([]string, 0, len(healthy))
		for _, a := range healthy {
			addrs = append(addrs, a)
		}
		if len(addrs) == 0 {
			addrs = fallback
		}
		l.Set(addrs)
	}
	publish()
	stream, err := client.Watch(ctx, &membershipv1.WatchRequest{Service: service, AfterRevision: list.GetRevision()})
	if err != nil {
		return err
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		for _, ev := range resp.GetEvents() {
			m := ev.GetMember()
			switch {
			case ev.GetType() == membershipv1.MemberEvent_TYPE_LEAVE, m.GetHealth() == membershipv1.Health_HEALTH_UNHEALTHY:
				delete(healthy, m.GetId())
			default:
				healthy[m.GetId()] = addr(m)
			}
		}
		publish()
	}
}

func addr(m *membershipv1.Member) string {
	return net.JoinHostPort(m.GetAddress(), strconv.Itoa(int(m.GetPort())))
}
