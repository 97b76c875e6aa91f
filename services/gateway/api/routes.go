package api

import (
	"net/http"
	"slices"
	"strings"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// route is one HTTP binding of an RPC, read from its google.api.http option:
// the same table grpc-gateway's generated handlers are built from, kept here
// so that the gateway can answer 405 with Allow, and check a request (body,
// query, path) against the RPC's input before forwarding it.
type route struct {
	verb     string
	template string   // "/v1/datasets/{dataset.name}"
	segs     []string // "v1", "datasets", "{dataset.name}"
	suffix   string   // ":stream", the custom verb of the last segment
	method   protoreflect.MethodDescriptor
	body     string // "", "*" or the input's field holding the body
}

// routes are the bindings of every service the gateway serves.
type routes []route

// routesOf reads the HTTP bindings of the named services (full names, e.g.
// "hindsight.routing.v1.RoutingService") from the registered descriptors.
func routesOf(services []protoreflect.FullName) (routes, error) {
	var rs routes
	for _, name := range services {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(name)
		if err != nil {
			return nil, err
		}
		methods := d.(protoreflect.ServiceDescriptor).Methods()
		for i := 0; i < methods.Len(); i++ {
			m := methods.Get(i)
			rule, _ := proto.GetExtension(m.Options(), annotations.E_Http).(*annotations.HttpRule)
			if rule == nil {
				continue
			}
			for _, b := range append([]*annotations.HttpRule{rule}, rule.GetAdditionalBindings()...) {
				rs = append(rs, newRoute(m, b))
			}
		}
	}
	return rs, nil
}

func newRoute(m protoreflect.MethodDescriptor, b *annotations.HttpRule) route {
	r := route{method: m, body: b.GetBody()}
	switch p := b.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		r.verb, r.template, r.body = http.MethodGet, p.Get, ""
	case *annotations.HttpRule_Post:
		r.verb, r.template = http.MethodPost, p.Post
	case *annotations.HttpRule_Patch:
		r.verb, r.template = http.MethodPatch, p.Patch
	case *annotations.HttpRule_Put:
		r.verb, r.template = http.MethodPut, p.Put
	case *annotations.HttpRule_Delete:
		r.verb, r.template, r.body = http.MethodDelete, p.Delete, ""
	}
	path := strings.TrimPrefix(r.template, "/")
	if i := strings.LastIndex(path, ":"); i > strings.LastIndex(path, "}") {
		path, r.suffix = path[:i], path[i:]
	}
	r.segs = strings.Split(path, "/")
	return r
}

// match reports whether path fits r, and the values of its variables keyed
// by field path ("dataset.name").
func (r route) match(path string) (map[string]string, bool) {
	path = strings.TrimPrefix(path, "/")
	if r.suffix != "" {
		if !strings.HasSuffix(path, r.suffix) {
			return nil, false
		}
		path = strings.TrimSuffix(path, r.suffix)
	}
	segs := strings.Split(path, "/")
	if len(segs) != len(r.segs) {
		return nil, false
	}
	var vars map[string]string
	for i, s := range r.segs {
		if v, ok := strings.CutPrefix(s, "{"); ok {
			if segs[i] == "" || (r.suffix == "" && i == len(segs)-1 && strings.Contains(segs[i], ":")) {
				return nil, false
			}
			if vars == nil {
				vars = map[string]string{}
			}
			vars[strings.TrimSuffix(v, "}")] = segs[i]
		} else if s != segs[i] {
			return nil, false
		}
	}
	return vars, true
}

// find returns the route for method and path; when the path is served only
// for other methods, it returns those methods (for Allow) and ok false.
func (rs routes) find(method, path string) (r route, vars map[string]string, allow []string, ok bool) {
	for _, c := range rs {
		v, m := c.match(path)
		if !m {
			continue
		}
		if c.verb == method {
			return c, v, nil, true
		}
		if !slices.Contains(allow, c.verb) {
			allow = append(allow, c.verb)
		}
	}
	slices.Sort(allow)
	return route{}, nil, allow, false
}

// byMethod finds the route of an RPC (its full name, as runtime.RPCMethod
// gives it: "/hindsight.routing.v1.RoutingService/CreateDataset") and verb.
func (rs routes) byMethod(rpc, verb string) (route, bool) {
	for _, r := range rs {
		if "/"+string(r.method.Parent().FullName())+"/"+string(r.method.Name()) == rpc && r.verb == verb {
			return r, true
		}
	}
	return route{}, false
}
