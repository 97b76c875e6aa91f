// Package api is the membership service: a registry of service instances
// kept in etcd. Each member is one key, <prefix><service>/<id>, holding the
// member as protojson, attached to its own lease of the TTL the client asked
// for; a member that stops renewing its lease disappears by itself.
//
// Every call to etcd is bounded by Options.OpTimeout, so an unreachable etcd
// answers codes.Unavailable instead of hanging (clientv3 otherwise retries
// forever). Watch streams end with Unavailable when etcd stops answering,
// telling the client the revision to resume from.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hindsight-dev/hindsight/internal/auth"
	membershipv1 "github.com/hindsight-dev/hindsight/proto/hindsight/membership/v1"
)

// Defaults of Options.
const (
	DefaultPrefix       = "/hindsight/members/"
	DefaultMinTTL       = time.Second
	DefaultMaxTTL       = time.Hour
	DefaultOpTimeout    = 3 * time.Second
	DefaultPingInterval = time.Second
	DefaultMaxMembers   = 1000
)

// Options configure a Service; zero fields take the defaults above.
type Options struct {
	// Prefix is the etcd key prefix members live under; a missing trailing
	// "/" is added.
	Prefix string
	// MinTTL and MaxTTL bound the lease TTL clients may ask for. etcd leases
	// count whole seconds, so MinTTL is at least 1s.
	MinTTL, MaxTTL time.Duration
	// OpTimeout bounds each call's work against etcd.
	OpTimeout time.Duration
	// PingInterval is how often etcd's reachability is checked (which ends
	// watch streams when etcd is gone).
	PingInterval time.Duration
	// Addresses says which member addresses are accepted (by default no
	// link-local, metadata or loopback address).
	Addresses AddressPolicy
	// MaxMembersPerService bounds one service's members (default
	// DefaultMaxMembers; negative: no limit).
	MaxMembersPerService int
	// Log receives structured logs (default slog.Default()).
	Log *slog.Logger
	// Registerer gets the service's metrics; nil registers none.
	Registerer prometheus.Registerer
}

func (o *Options) defaults() error {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if !strings.HasSuffix(o.Prefix, "/") {
		o.Prefix += "/"
	}
	if o.MinTTL == 0 {
		o.MinTTL = DefaultMinTTL
	}
	if o.MaxTTL == 0 {
		o.MaxTTL = DefaultMaxTTL
	}
	if o.OpTimeout == 0 {
		o.OpTimeout = DefaultOpTimeout
	}
	if o.PingInterval == 0 {
		o.PingInterval = DefaultPingInterval
	}
	if o.MaxMembersPerService == 0 {
		o.MaxMembersPerService = DefaultMaxMembers
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	switch {
	case o.MinTTL < time.Second:
		return fmt.Errorf("min TTL %s: etcd leases are at least 1s", o.MinTTL)
	case o.MaxTTL < o.MinTTL:
		return fmt.Errorf("max TTL %s is below min TTL %s", o.MaxTTL, o.MinTTL)
	case o.OpTimeout < 0:
		return fmt.Errorf("op timeout %s must be positive", o.OpTimeout)
	case o.PingInterval < 0:
		return fmt.Errorf("ping interval %s must be positive", o.PingInterval)
	}
	return nil
}

// Service implements membershipv1.MembershipServiceServer on etcd.
type Service struct {
	membershipv1.UnimplementedMembershipServiceServer

	cli     *clientv3.Client
	opts    Options
	log     *slog.Logger
	metrics *metrics
	health  *etcdHealth

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

var _ membershipv1.MembershipServiceServer = (*Service)(nil)

// New returns the service and starts its background work (the etcd
// reachability check and the members gauge); Close stops it. The client is
// the caller's to close, after Close.
func New(cli *clientv3.Client, opts Options) (*Service, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{
		cli:     cli,
		opts:    opts,
		log:     opts.Log,
		metrics: m,
		health:  newEtcdHealth(),
		cancel:  cancel,
	}
	s.wg.Add(2)
	go func() { defer s.wg.Done(); s.pingLoop(ctx) }()
	go func() { defer s.wg.Done(); s.countLoop(ctx) }()
	return s, nil
}

// Close stops the background work. It does not close the etcd client.
func (s *Service) Close() {
	s.cancel()
	s.wg.Wait()
}

// Prefix is the etcd key prefix members live under (ends in "/").
func (s *Service) Prefix() string { return s.opts.Prefix }

func (s *Service) key(service, id string) string { return s.opts.Prefix + service + "/" + id }

// ownerKey holds the principal that registered a member, on the member's
// lease. It lies outside the members' prefix, so watchers and renderers
// never see it.
func (s *Service) ownerKey(service, id string) string {
	return strings.TrimSuffix(s.opts.Prefix, "/") + ".owners/" + service + "/" + id
}

// caller is the authenticated principal (auth.Anonymous, an admin, when
// authentication is off or the call is in-process).
func caller(ctx context.Context) auth.Principal {
	if p, ok := auth.FromContext(ctx); ok {
		return p
	}
	return auth.Anonymous
}

// checkOwner refuses a change to a member registered by someone else
// (admins excepted) and returns the owner key's revision for the txn that
// makes the change (0: no owner yet).
func (s *Service) checkOwner(ctx, octx context.Context, service, id string) (int64, error) {
	get, err := s.cli.Get(octx, s.ownerKey(service, id))
	if err != nil {
		return 0, s.etcdError(ctx, "get member owner", err)
	}
	if len(get.Kvs) == 0 {
		return 0, nil
	}
	p := caller(ctx)
	if owner := string(get.Kvs[0].Value); owner != p.Name && p.Role != auth.Admin {
		return 0, status.Errorf(codes.PermissionDenied, "member %s/%s was registered by %s; only it or an admin may change it (pick another id)", service, id, owner)
	}
	return get.Kvs[0].ModRevision, nil
}

// servicePrefix is the prefix of one service's members, or of all for "".
func (s *Service) servicePrefix(service string) string {
	if service == "" {
		return s.opts.Prefix
	}
	return s.opts.Prefix + service + "/"
}

// parseKey splits a member key into service and id.
func (s *Service) parseKey(key []byte) (service, id string, ok bool) {
	rest, found := strings.CutPrefix(string(key), s.opts.Prefix)
	if !found {
		return "", "", false
	}
	service, id, ok = strings.Cut(rest, "/")
	return service, id, ok && service != "" && id != ""
}

// decode reads a stored member; the lease comes from etcd's metadata.
func (s *Service) decode(key, value []byte, lease int64) (*membershipv1.Member, error) {
	service, id, ok := s.parseKey(key)
	if !ok {
		return nil, fmt.Errorf("key %s is not <prefix><service>/<id>", key)
	}
	m := &membershipv1.Member{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(value, m); err != nil {
		return nil, fmt.Errorf("member %s: %w", key, err)
	}
	m.Service, m.Id = service, id
	m.LeaseId = lease
	return m, nil
}

// op bounds one call's etcd work.
func (s *Service) op(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.opts.OpTimeout)
}

// etcdError turns an etcd client error into a gRPC status. ctx is the
// caller's context: when the caller gave up, that is the answer; otherwise a
// timed-out or unreachable etcd is Unavailable.
func (s *Service) etcdError(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return status.FromContextError(ctx.Err()).Err()
	}
	code := codes.Internal
	var ee rpctypes.EtcdError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		code = codes.Unavailable
	case errors.As(err, &ee):
		code = ee.Code()
	default:
		if st, ok := status.FromError(err); ok {
			code = st.Code()
		}
	}
	switch code {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		s.log.Warn("etcd unavailable", "op", op, "err", err)
		return status.Errorf(codes.Unavailable, "etcd unavailable (%s): %v", op, err)
	case codes.ResourceExhausted:
		s.log.Error("etcd out of resources", "op", op, "err", err)
		return status.Errorf(codes.ResourceExhausted, "etcd %s: %v", op, err)
	default:
		s.log.Error("etcd call failed", "op", op, "err", err)
		return status.Errorf(codes.Internal, "etcd %s: %v", op, err)
	}
}

func notFound(service, id string) error {
	return status.Errorf(codes.NotFound, "member %s/%s not found (deregistered or its lease expired); register it again", service, id)
}

// Register adds or replaces a member under a new lease. A member registered
// again keeps its key; its old lease is revoked.
func (s *Service) Register(ctx context.Context, req *membershipv1.RegisterRequest) (*membershipv1.RegisterResponse, error) {
	ttl, err := s.validateRegister(req)
	if err != nil {
		return nil, err
	}
	octx, cancel := s.op(ctx)
	defer cancel()

	m := proto.Clone(req.Member).(*membershipv1.Member)
	// Output-only fields are the service's to set.
	m.Health = membershipv1.Health_HEALTH_UNSPECIFIED
	key, ownerKey := s.key(m.Service, m.Id), s.ownerKey(m.Service, m.Id)
	ownerRev, err := s.checkOwner(ctx, octx, m.Service, m.Id)
	if err != nil {
		return nil, err
	}
	if err := s.checkCount(ctx, octx, m.Service, key); err != nil {
		return nil, err
	}

	grant, err := s.cli.Grant(octx, ttl)
	if err != nil {
		return nil, s.etcdError(ctx, "grant lease", err)
	}
	m.Ttl = durationpb.New(time.Duration(grant.TTL) * time.Second)
	m.LeaseId = int64(grant.ID)
	m.RegisterTime = timestamppb.Now()
	value, err := protojson.Marshal(m)
	if err != nil {
		s.revokeAsync(grant.ID)
		return nil, status.Errorf(codes.Internal, "encode member: %v", err)
	}
	// The owner is checked and written in one transaction with the member:
	// two principals racing for one id cannot both win.
	txn, err := s.cli.Txn(octx).
		If(clientv3.Compare(clientv3.ModRevision(ownerKey), "=", ownerRev)).
		Then(clientv3.OpPut(key, string(value), clientv3.WithLease(grant.ID), clientv3.WithPrevKV()),
			clientv3.OpPut(ownerKey, caller(ctx).Name, clientv3.WithLease(grant.ID))).
		Commit()
	if err != nil {
		s.revokeAsync(grant.ID)
		return nil, s.etcdError(ctx, "put member", err)
	}
	if !txn.Succeeded {
		s.revokeAsync(grant.ID)
		return nil, status.Errorf(codes.Aborted, "member %s/%s was registered by someone else meanwhile; try again", m.Service, m.Id)
	}
	put := txn.Responses[0].GetResponsePut()
	replaced := put.PrevKv != nil
	if replaced && put.PrevKv.Lease != 0 && put.PrevKv.Lease != int64(grant.ID) {
		// The key has left the old lease; revoking it only frees it early.
		if _, err := s.cli.Revoke(octx, clientv3.LeaseID(put.PrevKv.Lease)); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
			s.log.Warn("revoke replaced lease; it will expire by itself", "service", m.Service, "id", m.Id, "lease", put.PrevKv.Lease, "err", err)
		}
	}
	s.metrics.registrations.Inc()
	s.log.Info("member registered", "service", m.Service, "id", m.Id, "address", m.Address, "port", m.Port,
		"ttl", m.Ttl.AsDuration(), "lease", m.LeaseId, "replaced", replaced, "revision", put.Header.Revision)
	return &membershipv1.RegisterResponse{Member: m}, nil
}

// checkCount refuses a new member beyond MaxMembersPerService (a member
// registered again does not count twice).
func (s *Service) checkCount(ctx, octx context.Context, service, key string) error {
	if s.opts.MaxMembersPerService < 0 {
		return nil
	}
	n, err := s.cli.Get(octx, s.servicePrefix(service), clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return s.etcdError(ctx, "count members", err)
	}
	if n.Count < int64(s.opts.MaxMembersPerService) {
		return nil
	}
	if cur, err := s.cli.Get(octx, key, clientv3.WithCountOnly()); err == nil && cur.Count > 0 {
		return nil
	}
	return status.Errorf(codes.ResourceExhausted, "service %s has %d members, the limit is %d", service, n.Count, s.opts.MaxMembersPerService)
}

// revokeAsync frees a lease that holds nothing after a failed Register.
func (s *Service) revokeAsync(id clientv3.LeaseID) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.opts.OpTimeout)
		defer cancel()
		_, _ = s.cli.Revoke(ctx, id)
	}()
}

// KeepAlive renews the member's lease once.
func (s *Service) KeepAlive(ctx context.Context, req *membershipv1.KeepAliveRequest) (*membershipv1.KeepAliveResponse, error) {
	if err := validateMemberRef(req.GetService(), req.GetId()); err != nil {
		return nil, err
	}
	octx, cancel := s.op(ctx)
	defer cancel()
	if _, err := s.checkOwner(ctx, octx, req.Service, req.Id); err != nil {
		return nil, err
	}
	get, err := s.cli.Get(octx, s.key(req.Service, req.Id))
	if err != nil {
		s.metrics.keepalives.WithLabelValues("error").Inc()
		return nil, s.etcdError(ctx, "get member", err)
	}
	if len(get.Kvs) == 0 || get.Kvs[0].Lease == 0 {
		s.metrics.keepalives.WithLabelValues("not_found").Inc()
		return nil, notFound(req.Service, req.Id)
	}
	ka, err := s.cli.KeepAliveOnce(octx, clientv3.LeaseID(get.Kvs[0].Lease))
	if errors.Is(err, rpctypes.ErrLeaseNotFound) {
		s.metrics.keepalives.WithLabelValues("not_found").Inc()
		return nil, notFound(req.Service, req.Id)
	}
	if err != nil {
		s.metrics.keepalives.WithLabelValues("error").Inc()
		return nil, s.etcdError(ctx, "keepalive", err)
	}
	s.metrics.keepalives.WithLabelValues("ok").Inc()
	s.log.Debug("member renewed", "service", req.Service, "id", req.Id, "ttl", ka.TTL)
	return &membershipv1.KeepAliveResponse{Ttl: durationpb.New(time.Duration(ka.TTL) * time.Second)}, nil
}

// Deregister removes the member at once: its key is deleted (only if no one
// registered it again meanwhile) and its lease revoked.
func (s *Service) Deregister(ctx context.Context, req *membershipv1.DeregisterRequest) (*membershipv1.DeregisterResponse, error) {
	if err := validateMemberRef(req.GetService(), req.GetId()); err != nil {
		return nil, err
	}
	octx, cancel := s.op(ctx)
	defer cancel()
	key := s.key(req.Service, req.Id)
	if _, err := s.checkOwner(ctx, octx, req.Service, req.Id); err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		get, err := s.cli.Get(octx, key)
		if err != nil {
			return nil, s.etcdError(ctx, "get member", err)
		}
		if len(get.Kvs) == 0 {
			return nil, notFound(req.Service, req.Id)
		}
		kv := get.Kvs[0]
		txn, err := s.cli.Txn(octx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", kv.ModRevision)).
			Then(clientv3.OpDelete(key), clientv3.OpDelete(s.ownerKey(req.Service, req.Id))).
			Commit()
		if err != nil {
			return nil, s.etcdError(ctx, "delete member", err)
		}
		if !txn.Succeeded {
			if attempt < 3 {
				continue // registered again meanwhile: remove the new registration
			}
			return nil, status.Errorf(codes.Aborted, "member %s/%s keeps changing; try again", req.Service, req.Id)
		}
		if kv.Lease != 0 {
			if _, err := s.cli.Revoke(octx, clientv3.LeaseID(kv.Lease)); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
				s.log.Warn("revoke lease of deregistered member; it will expire by itself", "service", req.Service, "id", req.Id, "lease", kv.Lease, "err", err)
			}
		}
		s.metrics.deregistrations.Inc()
		s.log.Info("member deregistered", "service", req.Service, "id", req.Id, "lease", kv.Lease, "revision", txn.Header.Revision)
		return &membershipv1.DeregisterResponse{}, nil
	}
}

// ListMembers lists the members of one service, or of all, sorted by service
// and id, with the revision they were read at.
func (s *Service) ListMembers(ctx context.Context, req *membershipv1.ListMembersRequest) (*membershipv1.ListMembersResponse, error) {
	var v violations
	v.service("service", req.GetService(), false)
	if err := v.Err(); err != nil {
		return nil, err
	}
	octx, cancel := s.op(ctx)
	defer cancel()
	get, err := s.cli.Get(octx, s.servicePrefix(req.Service), clientv3.WithPrefix())
	if err != nil {
		return nil, s.etcdError(ctx, "list members", err)
	}
	resp := &membershipv1.ListMembersResponse{Revision: get.Header.Revision}
	for _, kv := range get.Kvs {
		m, err := s.decode(kv.Key, kv.Value, kv.Lease)
		if err != nil {
			s.log.Warn("skipping undecodable member", "err", err)
			continue
		}
		if req.HealthyOnly && m.Health == membershipv1.Health_HEALTH_UNHEALTHY {
			continue
		}
		resp.Members = append(resp.Members, m)
	}
	return resp, nil
}
