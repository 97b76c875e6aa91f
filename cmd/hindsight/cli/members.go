package cli

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	membershipv1 "github.com/hindsight-dev/hindsight/proto/hindsight/membership/v1"
)

func (a *app) membersCommand() *cobra.Command {
	c := &cobra.Command{
		Use:     "members",
		Aliases: []string{"member"},
		Short:   "List registered service instances, or watch them join and leave",
		Example: `  hindsight members list --service web --healthy
  hindsight members watch
  hindsight members watch --service router -o ndjson`,
	}
	var (
		service string
		healthy bool
		out     format
	)
	list := &cobra.Command{
		Use: "list", Aliases: []string{"ls"}, Short: "List members, by service", Args: exactArgs(),
		Example: `  hindsight members list --service web --healthy -o json`,
		RunE: func(c *cobra.Command, _ []string) error {
			mc, err := a.membership()
			if err != nil {
				return err
			}
			ctx, cancel := a.call(c.Context())
			defer cancel()
			resp, err := mc.ListMembers(ctx, &membershipv1.ListMembersRequest{Service: service, HealthyOnly: healthy})
			if err != nil {
				return err
			}
			ms := resp.GetMembers()
			sort.Slice(ms, func(i, j int) bool {
				if ms[i].GetService() != ms[j].GetService() {
					return ms[i].GetService() < ms[j].GetService()
				}
				return ms[i].GetId() < ms[j].GetId()
			})
			switch out {
			case formatJSON:
				return writeJSON(a.out, resp)
			case formatNDJSON:
				return writeNDJSON(a.out, ms)
			}
			t := newTable(a.out, "SERVICE", "ID", "ADDRESS", "HEALTH", "TTL", "LABELS")
			for _, m := range ms {
				t.row(m.GetService(), m.GetId(), memberAddr(m), health(m.GetHealth()), short(m.GetTtl().AsDuration()), labels(m.GetLabels()))
			}
			return t.flush()
		},
	}
	list.Flags().StringVarP(&service, "service", "s", "", "only members of this service")
	list.Flags().BoolVar(&healthy, "healthy", false, "only healthy members")
	bindFormat(list, &out)

	var (
		wService string
		wOut     format
	)
	watch := &cobra.Command{
		Use:   "watch",
		Short: "Print members as they join, change and leave (the current ones first), until interrupted",
		Args:  exactArgs(),
		Example: `  hindsight members watch --service web
  hindsight members watch -o ndjson | jq -c 'select(.type == "TYPE_LEAVE")'`,
		RunE: func(c *cobra.Command, _ []string) error {
			if wOut == formatJSON {
				return usagef("--output json: a watch is a stream, use ndjson or table")
			}
			mc, err := a.membership()
			if err != nil {
				return err
			}
			stream, err := mc.Watch(c.Context(), &membershipv1.WatchRequest{Service: wService})
			if err != nil {
				return err
			}
			for {
				resp, err := stream.Recv()
				if c.Context().Err() != nil {
					return nil // interrupted: the normal end of a watch
				}
				if err != nil {
					return err
				}
				if wOut == formatNDJSON {
					if err := writeNDJSON(a.out, resp.GetEvents()); err != nil {
						return err
					}
					continue
				}
				for _, e := range resp.GetEvents() {
					m := e.GetMember()
					line := fmt.Sprintf("%-6s %s/%s", strings.TrimPrefix(e.GetType().String(), "TYPE_"), m.GetService(), m.GetId())
					if e.GetType() != membershipv1.MemberEvent_TYPE_LEAVE {
						line += fmt.Sprintf(" %s %s", memberAddr(m), health(m.GetHealth()))
					}
					fmt.Fprintln(a.out, line)
				}
			}
		},
	}
	watch.Flags().StringVarP(&wService, "service", "s", "", "only members of this service")
	bindFormat(watch, &wOut)
	c.AddCommand(list, watch)
	return c
}

func memberAddr(m *membershipv1.Member) string {
	return net.JoinHostPort(m.GetAddress(), strconv.Itoa(int(m.GetPort())))
}

func health(h membershipv1.Health) string {
	if h == membershipv1.Health_HEALTH_UNSPECIFIED {
		return "unknown"
	}
	return strings.ToLower(strings.TrimPrefix(h.String(), "HEALTH_"))
}

func labels(l map[string]string) string {
	var kv []string
	for k, v := range l {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return strings.Join(kv, ",")
}
