package catalog

import (
	"context"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/hindsight-dev/hindsight/internal/badrequest"
	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
)

func (s *Store) ListRoutes(ctx context.Context, req *routingv1.ListRoutesRequest) (*routingv1.ListRoutesResponse, error) {
	rs, err := list(ctx, s, routes)
	if err != nil {
		return nil, err
	}
	if ds := req.GetDataset(); ds != "" {
		kept := rs[:0]
		for _, r := range rs {
			if r.GetDataset() == ds {
				kept = append(kept, r)
			}
		}
		rs = kept
	}
	return &routingv1.ListRoutesResponse{Routes: rs}, nil
}

func (s *Store) GetRoute(ctx context.Context, req *routingv1.GetRouteRequest) (*routingv1.Route, error) {
	if err := requireName("name", req.GetName()); err != nil {
		return nil, err
	}
	r, _, err := get(ctx, s, routes, req.GetName())
	return r, err
}

// CreateRoute stores a new route of an existing dataset.
func (s *Store) CreateRoute(ctx context.Context, req *routingv1.CreateRouteRequest) (*routingv1.Route, error) {
	if req.GetRoute() == nil {
		return nil, badrequest.Field("route", "required")
	}
	r := proto.Clone(req.GetRoute()).(*routingv1.Route)
	if err := validateRoute(r, "route"); err != nil {
		return nil, err
	}
	created, exists, err := s.create(ctx, s.routeKey(r.Name), r, s.datasetExists(r)...)
	switch {
	case err != nil:
		return nil, err
	case exists:
		return nil, status.Errorf(codes.AlreadyExists, "route %q already exists", r.Name)
	case !created:
		return nil, unknownDataset(r)
	}
	s.log.Info("route created", "route", r.Name, "dataset", r.Dataset, "topic", r.Topic)
	return r, nil
}

// UpdateRoute changes the fields named by update_mask (all of them when it
// is empty). The name is the key and cannot change.
func (s *Store) UpdateRoute(ctx context.Context, req *routingv1.UpdateRouteRequest) (*routingv1.Route, error) {
	in := req.GetRoute()
	if in == nil {
		return nil, badrequest.Field("route", "required")
	}
	if err := requireName("route.name", in.GetName()); err != nil {
		return nil, err
	}
	paths, err := maskPaths(in, req.GetUpdateMask())
	if err != nil {
		return nil, err
	}
	r, err := update(ctx, s, routes, in.GetName(), func(cur *routingv1.Route) (*routingv1.Route, error) {
		next := merge(cur, in, paths)
		return next, validateRoute(next, "route")
	}, s.datasetExists, unknownDataset)
	if err != nil {
		return nil, err
	}
	s.log.Info("route updated", "route", r.Name, "fields", paths)
	return r, nil
}

func (s *Store) DeleteRoute(ctx context.Context, req *routingv1.DeleteRouteRequest) (*routingv1.DeleteRouteResponse, error) {
	if err := requireName("name", req.GetName()); err != nil {
		return nil, err
	}
	if err := s.remove(ctx, routes.dir, "route", req.GetName()); err != nil {
		return nil, err
	}
	s.log.Info("route deleted", "route", req.GetName())
	return &routingv1.DeleteRouteResponse{}, nil
}

// datasetExists is the transaction condition that r's dataset exists.
func (s *Store) datasetExists(r *routingv1.Route) []clientv3.Cmp {
	return []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(s.datasetKey(r.GetDataset())), ">", 0)}
}

func unknownDataset(r *routingv1.Route) error {
	return badrequest.Field("route.dataset", "no dataset named %q; create it first", r.GetDataset())
}
