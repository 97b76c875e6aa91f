package flagenv

import (
	"flag"
	"fmt"
	"strings"
)

// Prefixed registers on fs, as prefix+name, every flag bind registers, so
// that two apps' flags of one name live side by side in one process
// ("replay.min-ttl", "membership.min-ttl"). The flags keep their values,
// defaults and usage.
func Prefixed(fs *flag.FlagSet, prefix string, bind func(*flag.FlagSet)) {
	sub := flag.NewFlagSet(prefix, flag.ContinueOnError)
	bind(sub)
	sub.VisitAll(func(f *flag.Flag) { fs.Var(f.Value, prefix+f.Name, f.Usage) })
}

// Defaults are the default values of fs's flags by name.
func Defaults(fs *flag.FlagSet) map[string]string {
	out := map[string]string{}
	fs.VisitAll(func(f *flag.Flag) { out[f.Name] = f.DefValue })
	return out
}

// Diff says which flags app binds that binary lacks or binds with another
// default ("" if none): a binary running an app must offer all its flags as
// the app defines them.
func Diff(binary, app func(*flag.FlagSet)) string {
	b, a := flag.NewFlagSet("binary", flag.ContinueOnError), flag.NewFlagSet("app", flag.ContinueOnError)
	binary(b)
	app(a)
	got := Defaults(b)
	var out []string
	a.VisitAll(func(f *flag.Flag) {
		if d, ok := got[f.Name]; !ok || d != f.DefValue {
			out = append(out, fmt.Sprintf("--%s: default %q, app's %q (present: %v)", f.Name, d, f.DefValue, ok))
		}
	})
	return strings.Join(out, "; ")
}
