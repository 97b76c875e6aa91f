package renderer

import (
	"strings"
	"text/template"
)

// execute runs a template text on a view (for tests of the helpers).
func execute(v *view, text string) (string, error) {
	t, err := template.New("t").Funcs(v.funcs()).Parse(text)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	err = t.Execute(&b, nil)
	return b.String(), err
}
