package badrequest

import (
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestViolations(t *testing.T) {
	var v Violations
	if v.Err() != nil {
		t.Fatal("no violations must be no error")
	}
	v.Add("dataset.name", "required")
	v.Add("dataset.topic.partitions", "must be at most %d", 10)
	st := status.Convert(v.Err())
	if st.Code() != codes.InvalidArgument || st.Message() != "dataset.name: required; dataset.topic.partitions: must be at most 10" {
		t.Fatalf("status = %v", st)
	}
	var fields []string
	for _, d := range st.Details() {
		for _, f := range d.(*errdetails.BadRequest).GetFieldViolations() {
			fields = append(fields, f.Field)
		}
	}
	if len(fields) != 2 || fields[0] != "dataset.name" || fields[1] != "dataset.topic.partitions" {
		t.Fatalf("details name %v", fields)
	}
	if st := status.Convert(Field("batch.dataset", "unknown")); st.Message() != "batch.dataset: unknown" {
		t.Fatalf("Field: %v", st)
	}
}
