package page

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hindsight-dev/hindsight/internal/headless"
)

// TestTokenInChromium: a token handed over in the fragment moves into the
// tab's storage and out of the address bar, and the page's API calls carry
// it; without one, a call throws the message asking for it.
func TestTokenInChromium(t *testing.T) {
	base := serve(t)
	browser := headless.Browser(t)
	// The first Run starts the browser, which lives as long as its context.
	if err := chromedp.Do(browser, chromedp.Navigate(base+"/t/#token=hst_abc")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(browser, 60*time.Second)
	defer cancel()
	eval := func(js string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return v
	}
	if loc := eval(`location.href`); strings.Contains(loc, "hst_abc") {
		t.Fatalf("token still in the address bar: %q", loc)
	}
	if got := eval(`sessionStorage.getItem("hindsight.token") + " " + document.getElementById("token").value`); got != "hst_abc hst_abc" {
		t.Fatalf("stored and shown token: %q", got)
	}
	if got := eval(`hindsightToken.fetch("/v1/whoami").then((r) => r.text())`); got != "Bearer hst_abc" {
		t.Fatalf("the call carried %q, want the token", got)
	}
	// Another page of the tab finds it in the tab's storage.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/t2")); err != nil {
		t.Fatal(err)
	}
	if got := eval(`document.getElementById("token").value`); got != "hst_abc" {
		t.Fatalf("the next page's token field: %q", got)
	}
	const clear = `const i = document.getElementById("token"); i.value = ""; i.dispatchEvent(new Event("change"));`
	if got := eval(clear + `hindsightToken.fetch("/v1/whoami").then(() => "no error", (e) => e.message)`); !strings.Contains(got, "authentication is on") {
		t.Fatalf("call without a token: %q, want the message asking for one", got)
	}
	if got := eval(`String(sessionStorage.getItem("hindsight.token"))`); got != "" {
		t.Fatalf("cleared token still stored: %q", got)
	}
}
