package catalog

import (
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/hindsight-dev/hindsight/internal/badrequest"
)

// maskPaths checks an update mask against the message it applies to and
// returns its paths without the ones that cannot change (the name, which is
// the key, and the output-only update_time). nil means "every field".
func maskPaths(m proto.Message, mask *fieldmaskpb.FieldMask) ([]string, error) {
	if len(mask.GetPaths()) == 0 {
		return nil, nil
	}
	var v badrequest.Violations
	paths := []string{}
	for _, p := range mask.GetPaths() {
		switch {
		// grpc-gateway derives a PATCH's mask from its body and writes ""
		// for an empty one ({}): nothing to change.
		case p == "" || p == "name" || p == "update_time":
		case !(&fieldmaskpb.FieldMask{Paths: []string{p}}).IsValid(m):
			v.Add("update_mask", "%q is not a field of %s", p, m.ProtoReflect().Descriptor().Name())
		default:
			paths = append(paths, p)
		}
	}
	return paths, v.Err()
}

// merge returns a copy of cur with the fields at paths taken from in (all of
// in when paths is nil, keeping cur's name). A path in is missing clears it.
func merge[T proto.Message](cur, in T, paths []string) T {
	if paths == nil {
		next := proto.Clone(in).(T)
		name := next.ProtoReflect().Descriptor().Fields().ByName("name")
		next.ProtoReflect().Set(name, cur.ProtoReflect().Get(name))
		return next
	}
	next := proto.Clone(cur).(T)
	for _, p := range paths {
		copyPath(next.ProtoReflect(), in.ProtoReflect(), strings.Split(p, "."))
	}
	return next
}

func copyPath(dst, src protoreflect.Message, path []string) {
	fd := dst.Descriptor().Fields().ByName(protoreflect.Name(path[0]))
	if len(path) == 1 {
		if src.Has(fd) {
			dst.Set(fd, src.Get(fd))
		} else {
			dst.Clear(fd)
		}
		return
	}
	copyPath(dst.Mutable(fd).Message(), src.Get(fd).Message(), path[1:])
}
