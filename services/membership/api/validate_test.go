package api

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"

	membershipv1 "github.com/hindsight-dev/hindsight/proto/hindsight/membership/v1"
)

func TestFmtDur(t *testing.T) {
	for d, want := range map[time.Duration]string{
		2 * time.Hour:                 "2h",
		time.Hour + 30*time.Minute:    "1h30m",
		time.Minute:                   "1m",
		time.Second:                   "1s",
		500 * time.Millisecond:        "500ms",
		time.Hour + 2*time.Second:     "1h0m2s",
		90*time.Second + time.Hour*25: "25h1m30s",
	} {
		if got := fmtDur(d); got != want {
			t.Errorf("fmtDur(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestValidation(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ok := func() *membershipv1.RegisterRequest {
		return &membershipv1.RegisterRequest{
			Member: &membershipv1.Member{
				Service: "web", Id: "web-1.a_b", Address: "10.1.2.3", Port: 8080,
				Labels: map[string]string{"zone": "a", "app.kubernetes.io/name": "web"},
				HealthCheck: &membershipv1.HealthCheck{
					Probe:    &membershipv1.HealthCheck_Http{Http: &membershipv1.HTTPProbe{Path: "/healthz", ExpectedStatus: 204}},
					Interval: durationpb.New(time.Second), Timeout: durationpb.New(time.Second), Threshold: 3,
				},
			},
			Ttl: durationpb.New(10 * time.Second),
		}
	}
	with := func(f func(r *membershipv1.RegisterRequest)) *membershipv1.RegisterRequest {
		r := ok()
		f(r)
		return r
	}
	manyLabels := map[string]string{}
	for i := range maxLabels + 1 {
		manyLabels[fmt.Sprintf("l%d", i)] = "v"
	}
	type call func(ctx context.Context) error
	reg := func(r *membershipv1.RegisterRequest) call {
		return func(ctx context.Context) error { _, err := h.api.Register(ctx, r); return err }
	}
	keepAlive := func(service, id string) call {
		return func(ctx context.Context) error {
			_, err := h.api.KeepAlive(ctx, &membershipv1.KeepAliveRequest{Service: service, Id: id})
			return err
		}
	}
	deregister := func(service, id string) call {
		return func(ctx context.Context) error {
			_, err := h.api.Deregister(ctx, &membershipv1.DeregisterRequest{Service: service, Id: id})
			return err
		}
	}
	list := func(service string) call {
		return func(ctx context.Context) error {
			_, err := h.api.ListMembers(ctx, &membershipv1.ListMembersRequest{Service: service})
			return err
		}
	}
	watch := func(service string, after int64) call {
		return func(ctx context.Context) error { return h.watchFirst(ctx, service, after) }
	}

	for _, tc := range []struct {
		name  string
		call  call
		field string // "" means the call must succeed
		want  string // in the message, after "field: "
	}{
		{"valid register", reg(ok()), "", ""},
		{"valid IPv6 and host name", reg(with(func(r *membershipv1.RegisterRequest) { r.Member.Address = "fd00::1" })), "", ""},
		{"valid host name", reg(with(func(r *membershipv1.RegisterRequest) { r.Member.Address = "web-1.internal.example" })), "", ""},
		{"fractional ttl rounds up", reg(with(func(r *membershipv1.RegisterRequest) { r.Ttl = durationpb.New(1500 * time.Millisecond) })), "", ""},
		{"member missing", reg(&membershipv1.RegisterRequest{Ttl: durationpb.New(time.Second)}), "member", "required"},
		{"service empty", reg(with(func(r *membershipv1.RegisterRequest) { r.Member.Service = "" })), "member.service", "required; must be a DNS label"},
		{"service upper case", reg(with(func(r *membershipv1.RegisterRequest) { r.Member.Service = "Web" })), "member.service", `must be a DNS label: lower case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters; got "Web"`},
		{"service underscore", reg(with(func(r *membershipv1.RegisterRequest) { r.Member.Service = "my_svc" })), "member.service", "must be a DNS label"},
		{"service leading dash", reg(with(func(r *membershipv1.RegisterRequest) { r.Member.Service = "-web" })), "member.service", "must be a DNS label"},
		{"service too long", reg(with(func(r *membershipv1.RegisterRequest) { r.Member.Service = strings.Repeat("a", 64) })), "member.service", "must be a DNS label"},
		{"service with slash", reg(with(func(r *membershipv1.RegisterRequest) { r.Member.Service = "a/b" })), "member.service", "must be a DNS label"},
		{"id empty", reg(with(func(r *membershipv1.RegisterRequest) { r.Member.Id = "" })), "member.id", "required; must be 1-128"},
		{"id with slash", reg(with(func(r *membershipv1.RegisterRequest) { r.Member.Id = "a/b" })), "member.id", `must be 1-128 characters of letters, digits, '.', '_' and '-', and not '.' or '..'; got "a/b"`},
		{"id dot dot", reg(with(func(r *membershipv1.RegisterRequest) { r.Member.Id = ".." })), "member.id", "must be 1-128"},
		{"id too long", reg(with(func(r *membershipv1.RegisterRequest) { r.Member.Id = strings.Repeat("x", 129) })), "member.id", "must be 1-128"},
		{"address empty", reg(with(func(r *membershipv1.RegisterRequest) { r.Member.Address = "" })), "member.address", "required; must be an IP address"},
		{"address junk", reg(with(func(r *membershipv1.RegisterRequest) { r.Member.Address = "not a host!" })), "member.address", `must be an IP address or host name (no port); got "not a host!"`},
		{"address with port", reg(with(func(r *membershipv1.RegisterRequest) { r.Member.Address = "10.0.0.1:80" })), "member.address", "must be an IP address or host name"},
		{"port zero", reg(with(func(r *membershipv1.RegisterRequest) { r.Member.Port = 0 })), "member.port", "0 out of range 1-65535"},
		{"port too big", reg(with(func(r *membershipv1.RegisterRequest) { r.Member.Port = 70000 })), "member.port", "70000 out of range 1-65535"},
		{"port negative", reg(with(func(r *membershipv1.RegisterRequest) { r.Member.Port = -1 })), "member.port", "-1 out of range"},
		{"label key bad", reg(with(func(r *membershipv1.RegisterRequest) { r.Member.Labels = map[string]string{"a b": "x"} })), `member.labels["a b"]`, "key must be"},
		{"label key empty", reg(with(func(r *membershipv1.RegisterRequest) { r.Member.Labels = map[string]string{"": "x"} })), `member.labels[""]`, "key must be"},
		{"label value long", reg(with(func(r *membershipv1.RegisterRequest) {
			r.Member.Labels = map[string]string{"k": strings.Repeat("v", maxLabelValueLen+1)}
		})), `member.labels["k"]`, "value is 1025 bytes"},
		{"too many labels", reg(with(func(r *membershipv1.RegisterRequest) { r.Member.Labels = manyLabels })), "member.labels", "65 labels, at most 64"},
		// The haproxy.cfg injection of issue 12: a weight that adds a program section.
		{"label value with newline", reg(with(func(r *membershipv1.RegisterRequest) {
			r.Member.Labels = map[string]string{"weight": "1\nglobal\n master-worker\nprogram x\n command /bin/sh -c \"id > /tmp/pwned\""}
		})), `member.labels["weight"]`, "value must be printable UTF-8 without control characters"},
		{"label value with CR", reg(with(func(r *membershipv1.RegisterRequest) { r.Member.Labels = map[string]string{"k": "a\rb"} })), `member.labels["k"]`, "value must be printable"},
		{"label value with tab", reg(with(func(r *membershipv1.RegisterRequest) { r.Member.Labels = map[string]string{"k": "a\tb"} })), `member.labels["k"]`, "value must be printable"},
		{"label value with NUL", reg(with(func(r *membershipv1.RegisterRequest) { r.Member.Labels = map[string]string{"k": "a\x00"} })), `member.labels["k"]`, "value must be printable"},
		{"label value line separator", reg(with(func(r *membershipv1.RegisterRequest) { r.Member.Labels = map[string]string{"k": "a\u2028b"} })), `member.labels["k"]`, "value must be printable"},
		{"label key with newline", reg(with(func(r *membershipv1.RegisterRequest) { r.Member.Labels = map[string]string{"a\nb": "x"} })), `member.labels["a\nb"]`, "key must be"},
		{"label value printable", reg(with(func(r *membershipv1.RegisterRequest) {
			r.Member.Labels = map[string]string{"desc": "café #1 'x' \"y\" $HOME"}
		})), "", ""},
		{"labels over total bytes", reg(with(func(r *membershipv1.RegisterRequest) {
			r.Member.Labels = map[string]string{}
			for i := range 5 {
				r.Member.Labels[fmt.Sprintf("k%d", i)] = strings.Repeat("v", maxLabelValueLen)
			}
		})), "member.labels", "labels are 5130 bytes (keys and values), at most 4096"},
		{"probe missing", reg(with(func(r *membershipv1.RegisterRequest) { r.Member.HealthCheck.Probe = nil })), "member.health_check.probe", "set tcp or http"},
		{"http path", reg(with(func(r *membershipv1.RegisterRequest) {
			r.Member.HealthCheck.Probe = &membershipv1.HealthCheck_Http{Http: &membershipv1.HTTPProbe{Path: "healthz"}}
		})), "member.health_check.http.path", `must start with '/'; got "healthz"`},
		{"http status", reg(with(func(r *membershipv1.RegisterRequest) {
			r.Member.HealthCheck.Probe = &membershipv1.HealthCheck_Http{Http: &membershipv1.HTTPProbe{ExpectedStatus: 700}}
		})), "member.health_check.http.expected_status", "700 out of range 100-599"},
		{"interval small", reg(with(func(r *membershipv1.RegisterRequest) {
			r.Member.HealthCheck.Interval = durationpb.New(100 * time.Millisecond)
			r.Member.HealthCheck.Timeout = nil
		})), "member.health_check.interval", "100ms below minimum 200ms"},
		{"interval invalid", reg(with(func(r *membershipv1.RegisterRequest) {
			r.Member.HealthCheck.Interval = &durationpb.Duration{Seconds: 1, Nanos: -1}
		})), "member.health_check.interval", "invalid duration"},
		{"timeout above interval", reg(with(func(r *membershipv1.RegisterRequest) {
			r.Member.HealthCheck.Timeout = durationpb.New(3 * time.Second)
		})), "member.health_check.timeout", "3s exceeds interval 1s"},
		{"timeout above default interval", reg(with(func(r *membershipv1.RegisterRequest) {
			r.Member.HealthCheck.Interval = nil
			r.Member.HealthCheck.Timeout = durationpb.New(3 * time.Second)
		})), "member.health_check.timeout", "3s exceeds interval 2s"},
		{"timeout zero", reg(with(func(r *membershipv1.RegisterRequest) { r.Member.HealthCheck.Timeout = durationpb.New(0) })), "member.health_check.timeout", "0s must be positive"},
		{"threshold negative", reg(with(func(r *membershipv1.RegisterRequest) { r.Member.HealthCheck.Threshold = -1 })), "member.health_check.threshold", "-1 out of range 0-100"},
		{"ttl missing", reg(with(func(r *membershipv1.RegisterRequest) { r.Ttl = nil })), "ttl", "required, between 1s and 1h"},
		{"ttl small", reg(with(func(r *membershipv1.RegisterRequest) { r.Ttl = durationpb.New(500 * time.Millisecond) })), "ttl", "500ms below minimum 1s"},
		{"ttl large", reg(with(func(r *membershipv1.RegisterRequest) { r.Ttl = durationpb.New(2 * time.Hour) })), "ttl", "2h exceeds maximum 1h"},
		{"ttl negative", reg(with(func(r *membershipv1.RegisterRequest) { r.Ttl = durationpb.New(-time.Second) })), "ttl", "-1s below minimum 1s"},
		{"ttl invalid", reg(with(func(r *membershipv1.RegisterRequest) { r.Ttl = &durationpb.Duration{Seconds: 5, Nanos: -5} })), "ttl", "invalid duration"},
		{"keepalive service", keepAlive("", "a"), "service", "required"},
		{"keepalive id", keepAlive("web", "a/b"), "id", "must be 1-128"},
		{"deregister service", deregister("WEB", "a"), "service", "must be a DNS label"},
		{"deregister id", deregister("web", ""), "id", "required"},
		{"list service", list("Bad_Name"), "service", "must be a DNS label"},
		{"list all", list(""), "", ""},
		{"watch service", watch("bad name", 0), "service", "must be a DNS label"},
		{"watch negative revision", watch("", -1), "after_revision", "-1 must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(h.ctx())
			if tc.field == "" {
				if err != nil {
					t.Fatalf("want success, got %v", err)
				}
				return
			}
			st := wantCode(t, err, codes.InvalidArgument)
			if want := tc.field + ": " + tc.want; !strings.Contains(st.Message(), want) {
				t.Fatalf("message %q does not contain %q", st.Message(), want)
			}
			var br *errdetails.BadRequest
			for _, d := range st.Details() {
				if b, ok := d.(*errdetails.BadRequest); ok {
					br = b
				}
			}
			if br == nil {
				t.Fatalf("no BadRequest detail in %v", st.Details())
			}
			for _, v := range br.FieldViolations {
				if v.Field == tc.field && strings.Contains(v.Description, tc.want) {
					return
				}
			}
			t.Fatalf("BadRequest %v has no violation for %s containing %q", br.FieldViolations, tc.field, tc.want)
		})
	}
}

func TestValidationReportsEveryField(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, err := h.api.Register(h.ctx(), &membershipv1.RegisterRequest{
		Member: &membershipv1.Member{Service: "Bad", Id: "", Address: "", Port: 0},
	})
	st := wantCode(t, err, codes.InvalidArgument)
	for _, f := range []string{"member.service:", "member.id:", "member.address:", "member.port:", "ttl:"} {
		if !strings.Contains(st.Message(), f) {
			t.Errorf("message %q does not name %s", st.Message(), f)
		}
	}
	if got := h.list("").Members; len(got) != 0 {
		t.Fatalf("invalid requests stored members: %v", ids(got))
	}
}

func TestOptionsValidation(t *testing.T) {
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{MinTTL: 500 * time.Millisecond}, "min TTL"},
		{Options{MinTTL: 10 * time.Second, MaxTTL: 5 * time.Second}, "below min TTL"},
		{Options{OpTimeout: -time.Second}, "op timeout"},
	} {
		if _, err := New(nil, tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want error containing %q", tc.opts, err, tc.want)
		}
	}
}
