package pathtemplate

import "testing"

func TestTemplate(t *testing.T) {
	for in, want := range map[string]string{
		"/":                      "/",
		"":                       "/",
		"/users/42":              "/users/{id}",
		"/users/42/orders/7?x=1": "/users/{id}/orders/{id}",
		"/items/3f2b9c1e-7a1d-4b8e-9c2f-1a2b3c4d5e6f": "/items/{id}",
		"/blobs/9f86d081884c7d659a2feaa0c55ad015":     "/blobs/{id}",
		"/api/v1/health":              "/api/v1/health",
		"/static/app.js":              "/static/app.js",
		"http://example.test/users/5": "/users/{id}",
		"*":                           "*",
		"/a/1/b/2/c/3/d/4/e/5":        "/a/{id}/b/{id}/c/{id}/d/{id}/…",
	} {
		if got := Template(in); got != want {
			t.Errorf("Template(%q) = %q, want %q", in, got, want)
		}
	}
}

func BenchmarkTemplateNoID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Template("/api/v1/health?verbose=1")
	}
}
