// Package catalog keeps the router's datasets and routes: in etcd, so that
// every router shares them; seeded from the configuration file at start-up;
// edited through the RoutingService CRUD methods; and watched, so that a
// change made through any router reaches all of them within moments.
//
// Keys: <prefix>datasets/<name> and <prefix>routes/<name>, each holding the
// message as protojson (readable with etcdctl).
//
// Datasets declared in the configuration file are declarative: the file is
// their source of truth. Every start writes them into etcd as the file says;
// UpdateDataset and DeleteDataset refuse them with FailedPrecondition naming
// the file (change the file and restart instead); and a dataset an agent
// ships before it is in etcd (EnsureDataset) is made from its declaration,
// never as a raw dataset in its place. Datasets made through the API are
// the API's: the file never deletes them.
//
// Routes: etcd wins. At start-up, the file's routes are written only where
// etcd has no route of that name, so changes made through the API survive
// restarts. With Seed's overwrite (the router's --config-overwrite), the
// file wins for the routes it declares; routes it does not declare are never
// deleted.
package catalog

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
)

// Defaults of Options.
const (
	DefaultPrefix    = "/hindsight/routing/"
	DefaultOpTimeout = 5 * time.Second
)

// Options configure a Store; zero fields take the defaults.
type Options struct {
	// Prefix is the etcd key prefix (a missing trailing "/" is added).
	Prefix string
	// Defaults fill the settings new datasets leave out (BuiltinDefaults
	// when nil).
	Defaults *Defaults
	// OpTimeout bounds each call's etcd work.
	OpTimeout time.Duration
	Log       *slog.Logger
}

// Store is the catalog in etcd. Its exported RPC methods implement the
// dataset and route half of routingv1.RoutingServiceServer.
type Store struct {
	// The ingest half comes from another type; embedding this here lets a
	// struct embedding both satisfy the interface (the other type's methods
	// are shallower, so they win).
	routingv1.UnimplementedRoutingServiceServer

	cli       *clientv3.Client
	prefix    string
	defaults  Defaults
	opTimeout time.Duration
	log       *slog.Logger

	// declared are the configuration's datasets by name, and the file
	// declaring them (Seed).
	declMu   sync.RWMutex
	declared map[string]*routingv1.Dataset
	declFile string
}

// declare records c's datasets as declared.
func (s *Store) declare(c *Config) {
	s.declMu.Lock()
	defer s.declMu.Unlock()
	s.declared = make(map[string]*routingv1.Dataset, len(c.Datasets))
	for _, d := range c.Datasets {
		s.declared[d.GetName()] = d
	}
	s.declFile = cmp.Or(c.Path, "the router's built-in configuration")
}

// declaredDataset returns the declaration of name and the file it is in,
// or nil.
func (s *Store) declaredDataset(name string) (*routingv1.Dataset, string) {
	s.declMu.RLock()
	defer s.declMu.RUnlock()
	return s.declared[name], s.declFile
}

// refuseDeclared is the FailedPrecondition for changing a declared dataset
// through the API.
func (s *Store) refuseDeclared(name, verb string) error {
	if d, file := s.declaredDataset(name); d != nil {
		return status.Errorf(codes.FailedPrecondition,
			"dataset %q is declared in %s, which is applied at every start; %s it there instead", name, file, verb)
	}
	return nil
}

// New returns the store; it does not contact etcd.
func New(cli *clientv3.Client, o Options) *Store {
	s := &Store{
		cli:       cli,
		prefix:    cmp.Or(o.Prefix, DefaultPrefix),
		defaults:  BuiltinDefaults(),
		opTimeout: cmp.Or(o.OpTimeout, DefaultOpTimeout),
		log:       cmp.Or(o.Log, slog.Default()),
	}
	if !strings.HasSuffix(s.prefix, "/") {
		s.prefix += "/"
	}
	if o.Defaults != nil {
		s.defaults = *o.Defaults
	}
	return s
}

// kind is one of the two things the catalog stores.
type kind[T proto.Message] struct {
	dir   string // key path under the prefix
	field string // request field that holds one, naming errors
	new   func() T
}

var (
	datasets = kind[*routingv1.Dataset]{"datasets/", "dataset", func() *routingv1.Dataset { return &routingv1.Dataset{} }}
	routes   = kind[*routingv1.Route]{"routes/", "route", func() *routingv1.Route { return &routingv1.Route{} }}
)

func (s *Store) datasetKey(name string) string { return s.prefix + datasets.dir + name }
func (s *Store) routeKey(name string) string   { return s.prefix + routes.dir + name }

func (s *Store) op(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.opTimeout)
}

// etcdError turns an etcd failure into a status: the caller's own
// cancellation as such, anything else as Unavailable (etcd is down or slow).
func etcdError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return status.FromContextError(ctx.Err()).Err()
	}
	return status.Errorf(codes.Unavailable, "etcd: %v", err)
}

func encode(m proto.Message) []byte {
	b, err := protojson.Marshal(m)
	if err != nil {
		panic(err) // only for invalid UTF-8, which validation and protobuf decoding exclude
	}
	return b
}

func decode[T proto.Message](k kind[T], value []byte) (T, error) {
	m := k.new()
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(value, m); err != nil {
		return m, fmt.Errorf("stored %s: %w", k.field, err)
	}
	return m, nil
}

// get reads one entry and its mod revision; a missing one is NotFound.
func get[T proto.Message](ctx context.Context, s *Store, k kind[T], name string) (T, int64, error) {
	octx, cancel := s.op(ctx)
	defer cancel()
	resp, err := s.cli.Get(octx, s.prefix+k.dir+name)
	if err != nil {
		var zero T
		return zero, 0, etcdError(ctx, err)
	}
	if len(resp.Kvs) == 0 {
		var zero T
		return zero, 0, status.Errorf(codes.NotFound, "no %s named %q", k.field, name)
	}
	m, err := decode(k, resp.Kvs[0].Value)
	if err != nil {
		return m, 0, status.Error(codes.Internal, err.Error())
	}
	return m, resp.Kvs[0].ModRevision, nil
}

// list reads every entry of a kind, in name order; entries that no longer
// decode are logged and skipped.
func list[T proto.Message](ctx context.Context, s *Store, k kind[T]) ([]T, error) {
	octx, cancel := s.op(ctx)
	defer cancel()
	resp, err := s.cli.Get(octx, s.prefix+k.dir, clientv3.WithPrefix())
	if err != nil {
		return nil, etcdError(ctx, err)
	}
	out := make([]T, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		m, err := decode(k, kv.Value)
		if err != nil {
			s.log.Warn("skipping undecodable catalog entry", "key", string(kv.Key), "err", err)
			continue
		}
		out = append(out, m)
	}
	return out, nil
}

// create writes m at key if nothing is there and every cmp holds. created is
// false when the key exists, or (exists false) when a cmp failed.
func (s *Store) create(ctx context.Context, key string, m proto.Message, cmps ...clientv3.Cmp) (created, exists bool, err error) {
	octx, cancel := s.op(ctx)
	defer cancel()
	resp, err := s.cli.Txn(octx).
		If(append([]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(key), "=", 0)}, cmps...)...).
		Then(clientv3.OpPut(key, string(encode(m)))).
		Else(clientv3.OpGet(key, clientv3.WithCountOnly())).
		Commit()
	if err != nil {
		return false, false, etcdError(ctx, err)
	}
	if resp.Succeeded {
		return true, false, nil
	}
	return false, resp.Responses[0].GetResponseRange().Count > 0, nil
}

// errConflict is the answer when a read-modify-write kept losing races.
var errConflict = status.Error(codes.Aborted, "changed concurrently too many times; retry")

// update rewrites the entry name with change(current) as long as no one
// else wrote it meanwhile (retrying a few times) and every cmp of the new
// value holds. failedCmp answers when a cmp, not a race, failed (nil when
// there are no cmps).
func update[T proto.Message](ctx context.Context, s *Store, k kind[T], name string,
	change func(T) (T, error), cmps func(T) []clientv3.Cmp, failedCmp func(T) error) (T, error) {
	var zero T
	for range 5 {
		cur, rev, err := get(ctx, s, k, name)
		if err != nil {
			return zero, err
		}
		next, err := change(cur)
		if err != nil {
			return zero, err
		}
		key := s.prefix + k.dir + name
		octx, cancel := s.op(ctx)
		resp, err := s.cli.Txn(octx).
			If(append([]clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", rev)}, cmps(next)...)...).
			Then(clientv3.OpPut(key, string(encode(next)))).
			Else(clientv3.OpGet(key)).
			Commit()
		cancel()
		if err != nil {
			return zero, etcdError(ctx, err)
		}
		if resp.Succeeded {
			return next, nil
		}
		if kvs := resp.Responses[0].GetResponseRange().Kvs; failedCmp != nil && len(kvs) == 1 && kvs[0].ModRevision == rev {
			return zero, failedCmp(next)
		}
	}
	return zero, errConflict
}

// remove deletes the entry name; a missing one is NotFound.
func (s *Store) remove(ctx context.Context, dir, field, name string) error {
	octx, cancel := s.op(ctx)
	defer cancel()
	resp, err := s.cli.Delete(octx, s.prefix+dir+name)
	if err != nil {
		return etcdError(ctx, err)
	}
	if resp.Deleted == 0 {
		return status.Errorf(codes.NotFound, "no %s named %q", field, name)
	}
	return nil
}

// requireName answers InvalidArgument for an empty name in a Get or Delete.
func requireName(field, name string) error {
	if name == "" {
		return status.Errorf(codes.InvalidArgument, "%s: required", field)
	}
	return nil
}
