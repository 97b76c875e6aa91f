package httpstatus

import (
	"testing"

	topologyv1 "github.com/hindsight-dev/hindsight/proto/hindsight/topology/v1"
)

func TestClass(t *testing.T) {
	for code, want := range map[int]topologyv1.StatusClass{
		200: topologyv1.StatusClass_STATUS_CLASS_OK,
		304: topologyv1.StatusClass_STATUS_CLASS_OK,
		399: topologyv1.StatusClass_STATUS_CLASS_OK,
		400: topologyv1.StatusClass_STATUS_CLASS_CLIENT_ERROR,
		499: topologyv1.StatusClass_STATUS_CLASS_CLIENT_ERROR,
		500: topologyv1.StatusClass_STATUS_CLASS_SERVER_ERROR,
		503: topologyv1.StatusClass_STATUS_CLASS_SERVER_ERROR,
	} {
		if got := Class(code); got != want {
			t.Errorf("Class(%d) = %v, want %v", code, got, want)
		}
	}
}
