package page

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

// mux is a Mounter as the gateway is one: Handle returns the mux's refusal.
type mux struct{ *http.ServeMux }

func (m mux) Handle(pattern string, h http.Handler) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = io.ErrClosedPipe
		}
	}()
	m.ServeMux.Handle(pattern, h)
	return nil
}

const testPage = `<!doctype html><input id="token"><script src="/page/static/token.js"></script>`

// serve mounts the shared files and a test page (/t/, /t/static/) and,
// at /v1/whoami, an API that answers the Authorization header it got (401
// without one).
func serve(t *testing.T) string {
	t.Helper()
	m := mux{http.NewServeMux()}
	if err := MountShared(m); err != nil {
		t.Fatal(err)
	}
	static := fstest.MapFS{"static/index.html": {Data: []byte(testPage)}, "static/app.css": {Data: []byte("p {}")}}
	if err := Mount(m, Page{Static: static, Paths: []string{"/t/{$}", "/t2"}, Assets: "/t/static/"}); err != nil {
		t.Fatal(err)
	}
	m.ServeMux.HandleFunc("GET /v1/whoami", func(w http.ResponseWriter, r *http.Request) {
		a := r.Header.Get("Authorization")
		if a == "" {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		io.WriteString(w, a)
	})
	hs := httptest.NewServer(m)
	t.Cleanup(hs.Close)
	return hs.URL
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestMountServesPagesAssetsAndSharedFiles(t *testing.T) {
	base := serve(t)
	for _, path := range []string{"/t/", "/t2"} {
		resp, body := get(t, base+path)
		if resp.StatusCode != 200 || body != testPage || resp.Header.Get("Cache-Control") != "no-cache" {
			t.Errorf("GET %s: %d %q cache %q, want the page, no-cache", path, resp.StatusCode, body, resp.Header.Get("Cache-Control"))
		}
	}
	if resp, body := get(t, base+"/t/static/app.css"); resp.StatusCode != 200 || body != "p {}" {
		t.Errorf("asset: %d %q", resp.StatusCode, body)
	}
	for file, want := range map[string]string{"token.js": "hindsightToken", "page.css": "header .user input"} {
		if resp, body := get(t, base+SharedAssets+file); resp.StatusCode != 200 || !strings.Contains(body, want) {
			t.Errorf("shared %s: %d, lacks %q", file, resp.StatusCode, want)
		}
	}
	if resp, _ := get(t, base+"/t/other"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /t/other: %d, want 404 (only the listed paths are the page)", resp.StatusCode)
	}
	if err := MountShared(mux{http.NewServeMux()}); err != nil {
		t.Fatal(err)
	}
	m := mux{http.NewServeMux()}
	if err := MountShared(m); err != nil {
		t.Fatal(err)
	}
	if err := MountShared(m); err == nil {
		t.Error("mounting the shared files twice on one mux: no error")
	}
}
