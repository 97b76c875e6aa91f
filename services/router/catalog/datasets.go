package catalog

import (
	"context"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hindsight-dev/hindsight/internal/badrequest"
	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
)

func (s *Store) ListDatasets(ctx context.Context, _ *routingv1.ListDatasetsRequest) (*routingv1.ListDatasetsResponse, error) {
	ds, err := list(ctx, s, datasets)
	if err != nil {
		return nil, err
	}
	return &routingv1.ListDatasetsResponse{Datasets: ds}, nil
}

func (s *Store) GetDataset(ctx context.Context, req *routingv1.GetDatasetRequest) (*routingv1.Dataset, error) {
	if err := requireName("name", req.GetName()); err != nil {
		return nil, err
	}
	d, _, err := get(ctx, s, datasets, req.GetName())
	return d, err
}

// CreateDataset stores a new dataset; the topic settings it leaves at zero
// take the router's defaults.
func (s *Store) CreateDataset(ctx context.Context, req *routingv1.CreateDatasetRequest) (*routingv1.Dataset, error) {
	if req.GetDataset() == nil {
		return nil, badrequest.Field("dataset", "required")
	}
	d := s.prepareDataset(req.GetDataset())
	if err := validateDataset(d, "dataset"); err != nil {
		return nil, err
	}
	created, _, err := s.create(ctx, s.datasetKey(d.Name), d)
	if err != nil {
		return nil, err
	}
	if !created {
		return nil, status.Errorf(codes.AlreadyExists, "dataset %q already exists", d.Name)
	}
	s.log.Info("dataset created", "dataset", d.Name, "topic", d.GetTopic().GetTopic())
	return d, nil
}

// prepareDataset is d as it will be stored when created: defaults applied,
// stamped with the time.
func (s *Store) prepareDataset(d *routingv1.Dataset) *routingv1.Dataset {
	d = proto.Clone(d).(*routingv1.Dataset)
	s.defaults.apply(d)
	d.UpdateTime = timestamppb.Now()
	return d
}

// UpdateDataset changes the fields named by update_mask. An empty mask
// replaces the dataset, as CreateDataset would write it (defaults applied).
// The name is the key and cannot change.
func (s *Store) UpdateDataset(ctx context.Context, req *routingv1.UpdateDatasetRequest) (*routingv1.Dataset, error) {
	in := req.GetDataset()
	if in == nil {
		return nil, badrequest.Field("dataset", "required")
	}
	if err := requireName("dataset.name", in.GetName()); err != nil {
		return nil, err
	}
	if err := s.refuseDeclared(in.GetName(), "change"); err != nil {
		return nil, err
	}
	paths, err := maskPaths(in, req.GetUpdateMask())
	if err != nil {
		return nil, err
	}
	d, err := update(ctx, s, datasets, in.GetName(), func(cur *routingv1.Dataset) (*routingv1.Dataset, error) {
		next := merge(cur, in, paths)
		if paths == nil {
			s.defaults.apply(next)
		}
		next.UpdateTime = timestamppb.Now()
		return next, validateDataset(next, "dataset")
	}, noCmps[*routingv1.Dataset], nil)
	if err != nil {
		return nil, err
	}
	s.log.Info("dataset updated", "dataset", d.Name, "fields", paths)
	return d, nil
}

// DeleteDataset removes a dataset no route refers to. Its topic stays: the
// router never deletes data.
func (s *Store) DeleteDataset(ctx context.Context, req *routingv1.DeleteDatasetRequest) (*routingv1.DeleteDatasetResponse, error) {
	if err := requireName("name", req.GetName()); err != nil {
		return nil, err
	}
	if err := s.refuseDeclared(req.GetName(), "remove"); err != nil {
		return nil, err
	}
	rs, err := list(ctx, s, routes)
	if err != nil {
		return nil, err
	}
	var users []string
	for _, r := range rs {
		if r.GetDataset() == req.GetName() {
			users = append(users, r.GetName())
		}
	}
	if len(users) > 0 {
		return nil, status.Errorf(codes.FailedPrecondition, "dataset %q is used by routes %q; delete them first", req.GetName(), users)
	}
	if err := s.remove(ctx, datasets.dir, "dataset", req.GetName()); err != nil {
		return nil, err
	}
	s.log.Info("dataset deleted", "dataset", req.GetName())
	return &routingv1.DeleteDatasetResponse{}, nil
}

// EnsureDataset returns the dataset name, creating it if it does not exist:
// as the configuration declares it, or else with the raw parser and the
// default topic settings. Agents ship the datasets of their own
// configuration, and refusing their lines would leave them stuck resending.
// The caller has checked the name (ValidName).
func (s *Store) EnsureDataset(ctx context.Context, name string) (*routingv1.Dataset, error) {
	d, _ := s.declaredDataset(name)
	if d != nil {
		d = stamped(d)
	} else {
		d = s.prepareDataset(&routingv1.Dataset{
			Name:        name,
			Description: "created when an agent first sent it",
			Parser:      &routingv1.Parser{},
		})
	}
	created, _, err := s.create(ctx, s.datasetKey(name), d)
	if err != nil {
		return nil, err
	}
	if !created {
		d, _, err = get(ctx, s, datasets, name)
		return d, err
	}
	s.log.Info("dataset created on first use", "dataset", name, "topic", d.GetTopic().GetTopic())
	return d, nil
}

func noCmps[T any](T) []clientv3.Cmp { return nil }
