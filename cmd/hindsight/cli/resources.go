package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
)

// Bounds of what apply reads: a configuration file, not a data dump.
const (
	maxApplyFile = 4 << 20
	maxApplyDocs = 1000
)

func (a *app) completeDatasets(c *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
	rc, err := a.routing()
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	ctx, cancel := a.call(c.Context())
	defer cancel()
	resp, err := rc.ListDatasets(ctx, &routingv1.ListDatasetsRequest{})
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	var names []string
	for _, d := range resp.GetDatasets() {
		names = append(names, d.GetName())
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

func (a *app) datasetsCommand() *cobra.Command {
	c := &cobra.Command{
		Use:     "datasets",
		Aliases: []string{"dataset"},
		Short:   "List, show and delete datasets (create and change them with apply -f)",
		Example: `  hindsight datasets list
  hindsight datasets get nginx.access -o json
  hindsight apply -f datasets.yaml
  hindsight datasets delete old.logs`,
	}
	var out format
	list := &cobra.Command{
		Use: "list", Aliases: []string{"ls"}, Short: "List datasets", Args: exactArgs(),
		Example: `  hindsight datasets list -o ndjson`,
		RunE: func(c *cobra.Command, _ []string) error {
			rc, err := a.routing()
			if err != nil {
				return err
			}
			ctx, cancel := a.call(c.Context())
			defer cancel()
			resp, err := rc.ListDatasets(ctx, &routingv1.ListDatasetsRequest{})
			if err != nil {
				return err
			}
			return a.printDatasets(out, resp, resp.GetDatasets()...)
		},
	}
	bindFormat(list, &out)
	var getOut format
	get := &cobra.Command{
		Use: "get NAME", Short: "Show a dataset", Args: exactArgs("NAME"), ValidArgsFunction: a.completeDatasets,
		Example: `  hindsight datasets get app -o json`,
		RunE: func(c *cobra.Command, args []string) error {
			rc, err := a.routing()
			if err != nil {
				return err
			}
			ctx, cancel := a.call(c.Context())
			defer cancel()
			d, err := rc.GetDataset(ctx, &routingv1.GetDatasetRequest{Name: args[0]})
			if err != nil {
				return err
			}
			return a.printDatasets(getOut, d, d)
		},
	}
	bindFormat(get, &getOut)
	del := &cobra.Command{
		Use: "delete NAME...", Aliases: []string{"rm"}, Short: "Delete datasets (their Kafka topics and data stay)",
		Args: minArgs("NAME"), ValidArgsFunction: a.completeDatasets,
		Example: `  hindsight datasets delete old.logs`,
		RunE: func(c *cobra.Command, args []string) error {
			for _, n := range args {
				if err := a.deleteResource(c.Context(), kindDataset, n); err != nil {
					return err
				}
			}
			return nil
		},
	}
	c.AddCommand(list, get, del)
	return c
}

func (a *app) routesCommand() *cobra.Command {
	c := &cobra.Command{
		Use:     "routes",
		Aliases: []string{"route"},
		Short:   "List, show and delete routes (create and change them with apply -f)",
		Example: `  hindsight routes list --dataset app
  hindsight apply -f routes.yaml
  hindsight routes delete errors-to-alerts`,
	}
	var (
		out     format
		dataset string
	)
	list := &cobra.Command{
		Use: "list", Aliases: []string{"ls"}, Short: "List routes", Args: exactArgs(),
		Example: `  hindsight routes list --dataset app -o json`,
		RunE: func(c *cobra.Command, _ []string) error {
			rc, err := a.routing()
			if err != nil {
				return err
			}
			ctx, cancel := a.call(c.Context())
			defer cancel()
			resp, err := rc.ListRoutes(ctx, &routingv1.ListRoutesRequest{Dataset: dataset})
			if err != nil {
				return err
			}
			return a.printRoutes(out, resp, resp.GetRoutes()...)
		},
	}
	list.Flags().StringVarP(&dataset, "dataset", "d", "", "only routes of this dataset")
	bindFormat(list, &out)
	var getOut format
	get := &cobra.Command{
		Use: "get NAME", Short: "Show a route", Args: exactArgs("NAME"),
		Example: `  hindsight routes get errors-to-alerts -o json`,
		RunE: func(c *cobra.Command, args []string) error {
			rc, err := a.routing()
			if err != nil {
				return err
			}
			ctx, cancel := a.call(c.Context())
			defer cancel()
			r, err := rc.GetRoute(ctx, &routingv1.GetRouteRequest{Name: args[0]})
			if err != nil {
				return err
			}
			return a.printRoutes(getOut, r, r)
		},
	}
	bindFormat(get, &getOut)
	del := &cobra.Command{
		Use: "delete NAME...", Aliases: []string{"rm"}, Short: "Delete routes", Args: minArgs("NAME"),
		Example: `  hindsight routes delete errors-to-alerts`,
		RunE: func(c *cobra.Command, args []string) error {
			for _, n := range args {
				if err := a.deleteResource(c.Context(), kindRoute, n); err != nil {
					return err
				}
			}
			return nil
		},
	}
	c.AddCommand(list, get, del)
	return c
}

func (a *app) printDatasets(out format, whole proto.Message, ds ...*routingv1.Dataset) error {
	switch out {
	case formatJSON:
		return writeJSON(a.out, whole)
	case formatNDJSON:
		return writeNDJSON(a.out, ds)
	}
	t := newTable(a.out, "NAME", "PARSER", "TOPIC", "PARTITIONS", "RETENTION", "DESCRIPTION")
	for _, d := range ds {
		t.row(d.GetName(), strings.ToLower(strings.TrimPrefix(d.GetParser().GetFormat().String(), "FORMAT_")),
			d.GetTopic().GetTopic(), fmt.Sprint(d.GetTopic().GetPartitions()), short(d.GetTopic().GetRetention().AsDuration()), d.GetDescription())
	}
	return t.flush()
}

func (a *app) printRoutes(out format, whole proto.Message, rs ...*routingv1.Route) error {
	switch out {
	case formatJSON:
		return writeJSON(a.out, whole)
	case formatNDJSON:
		return writeNDJSON(a.out, rs)
	}
	t := newTable(a.out, "NAME", "DATASET", "PRIORITY", "TOPIC", "COPY", "CONDITIONS")
	for _, r := range rs {
		var conds []string
		for _, c := range r.GetConditions() {
			conds = append(conds, fmt.Sprintf("%s %s %q", c.GetField(), strings.ToLower(strings.TrimPrefix(c.GetOp().String(), "OP_")), c.GetValue()))
		}
		t.row(r.GetName(), r.GetDataset(), fmt.Sprint(r.GetPriority()), r.GetTopic(), fmt.Sprint(r.GetCopy()), strings.Join(conds, " AND "))
	}
	return t.flush()
}

// The kinds an apply file may hold.
const (
	kindDataset = "Dataset"
	kindRoute   = "Route"
)

// resource is one document of an apply file: its kind and the message its
// other keys decode into (the API's JSON field names, as the REST API takes).
type resource struct {
	where string // "file.yaml: document 2 (Dataset app)"
	kind  string
	msg   proto.Message
}

func (r resource) name() string {
	switch m := r.msg.(type) {
	case *routingv1.Dataset:
		return m.GetName()
	case *routingv1.Route:
		return m.GetName()
	}
	return ""
}

// readResources decodes every YAML document of the files ("-" is stdin).
// Unknown fields, kinds and missing names are errors naming the document.
func readResources(files []string, stdin io.Reader) ([]resource, error) {
	var out []resource
	for _, f := range files {
		var r io.Reader = stdin
		if f != "-" {
			fh, err := os.Open(f)
			if err != nil {
				return nil, usageError{err}
			}
			defer fh.Close()
			r = fh
		}
		b, err := io.ReadAll(io.LimitReader(r, maxApplyFile+1))
		if err != nil {
			return nil, err
		}
		if len(b) > maxApplyFile {
			return nil, usagef("%s: over %d bytes", f, maxApplyFile)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for n := 1; ; n++ {
			var doc map[string]any
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, usagef("%s: document %d: %w", f, n, err)
			}
			if doc == nil {
				continue
			}
			if len(out) >= maxApplyDocs {
				return nil, usagef("%s: more than %d documents", f, maxApplyDocs)
			}
			res, err := decodeResource(fmt.Sprintf("%s: document %d", f, n), doc)
			if err != nil {
				return nil, err
			}
			out = append(out, res)
		}
	}
	if len(out) == 0 {
		return nil, usagef("%s: no documents", strings.Join(files, ", "))
	}
	return out, nil
}

func decodeResource(where string, doc map[string]any) (resource, error) {
	kind, _ := doc["kind"].(string)
	delete(doc, "kind")
	res := resource{where: where, kind: kind}
	switch kind {
	case kindDataset:
		res.msg = &routingv1.Dataset{}
	case kindRoute:
		res.msg = &routingv1.Route{}
	case "":
		return res, usagef("%s: field kind: required (Dataset or Route)", where)
	default:
		return res, usagef("%s: field kind: %q is none of Dataset, Route", where, kind)
	}
	j, err := json.Marshal(doc)
	if err != nil {
		return res, usagef("%s: %w", where, err)
	}
	// protojson names the unknown or mistyped field ("unknown field \"parserr\"").
	if err := protojson.Unmarshal(j, res.msg); err != nil {
		return res, usagef("%s (%s): %w", where, kind, err)
	}
	if res.name() == "" {
		return res, usagef("%s (%s): field name: required", where, kind)
	}
	res.where = fmt.Sprintf("%s (%s %s)", where, kind, res.name())
	return res, nil
}

func (a *app) applyCommand() *cobra.Command {
	var files []string
	c := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "Create or update datasets and routes from YAML files, like kubectl apply",
		Long: `Each YAML document is one Dataset or Route: 'kind' plus the fields of the API
(the JSON names of the REST API: parser.format, topic.partitions, ...; durations
in seconds, "604800s"). A resource that does not exist is created; one that
exists is updated with the fields the file sets (fields it leaves out keep their
values); one whose fields already have those values is left unchanged. Datasets
are applied before routes, so a file can hold a dataset and its routes.`,
		Example: `  cat > app.yaml <<'YAML'
  kind: Dataset
  name: app
  description: JSON logs of the app
  parser: {format: FORMAT_JSON}
  topic: {partitions: 3, retention: 604800s}
  ---
  kind: Route
  name: app-errors
  dataset: app
  conditions: [{field: log.level, op: OP_EQUALS, value: error}]
  topic: logs.app.errors
  copy: true
  YAML
  hindsight apply -f app.yaml     # dataset/app created, route/app-errors created
  hindsight apply -f app.yaml     # dataset/app unchanged, route/app-errors unchanged`,
		Args: exactArgs(),
		RunE: func(c *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return usagef("apply: -f FILE is required")
			}
			res, err := readResources(files, a.in)
			if err != nil {
				return err
			}
			// Datasets first: routes refer to them.
			for _, pass := range []string{kindDataset, kindRoute} {
				for _, r := range res {
					if r.kind != pass {
						continue
					}
					result, err := a.applyOne(c.Context(), r)
					if err != nil {
						return fmt.Errorf("%s: %w", r.where, err)
					}
					fmt.Fprintf(a.out, "%s/%s %s\n", strings.ToLower(r.kind), r.name(), result)
				}
			}
			return nil
		},
	}
	c.Flags().StringSliceVarP(&files, "filename", "f", nil, "YAML file of Datasets and Routes (repeatable; - is stdin)")
	_ = c.MarkFlagFilename("filename", "yaml", "yml")
	return c
}

func (a *app) deleteFileCommand() *cobra.Command {
	var files []string
	c := &cobra.Command{
		Use:     "delete -f FILE",
		Short:   "Delete the datasets and routes a YAML file names",
		Example: `  hindsight delete -f app.yaml   # routes first, then datasets`,
		Args:    exactArgs(),
		RunE: func(c *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return usagef("delete: -f FILE is required")
			}
			res, err := readResources(files, a.in)
			if err != nil {
				return err
			}
			// Routes first: a dataset in use by a route cannot be deleted.
			for _, pass := range []string{kindRoute, kindDataset} {
				for _, r := range res {
					if r.kind == pass {
						if err := a.deleteResource(c.Context(), r.kind, r.name()); err != nil {
							return fmt.Errorf("%s: %w", r.where, err)
						}
					}
				}
			}
			return nil
		},
	}
	c.Flags().StringSliceVarP(&files, "filename", "f", nil, "YAML file of Datasets and Routes (repeatable; - is stdin)")
	_ = c.MarkFlagFilename("filename", "yaml", "yml")
	return c
}

func (a *app) deleteResource(ctx context.Context, kind, name string) error {
	rc, err := a.routing()
	if err != nil {
		return err
	}
	ctx, cancel := a.call(ctx)
	defer cancel()
	if kind == kindDataset {
		_, err = rc.DeleteDataset(ctx, &routingv1.DeleteDatasetRequest{Name: name})
	} else {
		_, err = rc.DeleteRoute(ctx, &routingv1.DeleteRouteRequest{Name: name})
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", strings.ToLower(kind), name, err)
	}
	fmt.Fprintf(a.out, "%s/%s deleted\n", strings.ToLower(kind), name)
	return nil
}

// applyOne creates r, or updates it when the file sets a field to another
// value than the server has; it says which ("created", "configured",
// "unchanged").
func (a *app) applyOne(ctx context.Context, r resource) (string, error) {
	rc, err := a.routing()
	if err != nil {
		return "", err
	}
	ctx, cancel := a.call(ctx)
	defer cancel()
	var cur proto.Message
	switch r.kind {
	case kindDataset:
		cur, err = rc.GetDataset(ctx, &routingv1.GetDatasetRequest{Name: r.name()})
	case kindRoute:
		cur, err = rc.GetRoute(ctx, &routingv1.GetRouteRequest{Name: r.name()})
	}
	if status.Code(err) == codes.NotFound {
		switch m := r.msg.(type) {
		case *routingv1.Dataset:
			_, err = rc.CreateDataset(ctx, &routingv1.CreateDatasetRequest{Dataset: m})
		case *routingv1.Route:
			_, err = rc.CreateRoute(ctx, &routingv1.CreateRouteRequest{Route: m})
		}
		return "created", err
	}
	if err != nil {
		return "", err
	}
	next := overlay(cur, r.msg)
	if proto.Equal(withoutOutputOnly(cur), withoutOutputOnly(next)) {
		return "unchanged", nil
	}
	// The whole merged resource, no mask: the server re-applies its defaults
	// only to fields that are still unset.
	switch m := next.(type) {
	case *routingv1.Dataset:
		_, err = rc.UpdateDataset(ctx, &routingv1.UpdateDatasetRequest{Dataset: m})
	case *routingv1.Route:
		_, err = rc.UpdateRoute(ctx, &routingv1.UpdateRouteRequest{Route: m})
	}
	return "configured", err
}

// withoutOutputOnly drops output-only fields before a comparison.
func withoutOutputOnly(m proto.Message) proto.Message {
	m = proto.Clone(m)
	if d, ok := m.(*routingv1.Dataset); ok {
		d.UpdateTime = nil
	}
	return m
}

// overlay is cur with every field set in file put over it: messages field by
// field (so a file's topic.partitions keeps the server's topic.topic),
// well-known types, lists and maps whole.
func overlay(cur, file proto.Message) proto.Message {
	out := proto.Clone(cur)
	overlayInto(out.ProtoReflect(), file.ProtoReflect())
	return out
}

func overlayInto(dst, src protoreflect.Message) {
	src.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() == protoreflect.MessageKind && !fd.IsList() && !fd.IsMap() &&
			!strings.HasPrefix(string(fd.Message().FullName()), "google.protobuf.") {
			overlayInto(dst.Mutable(fd).Message(), v.Message())
			return true
		}
		dst.Set(fd, v)
		return true
	})
}
