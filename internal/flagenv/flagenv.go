// Package flagenv lets environment variables stand in for command-line flags, so
// the same binary is configured by flags on a laptop and by env in a container.
// A flag named "grpc-addr" of service prefix "HINDSIGHT" is read from
// HINDSIGHT_GRPC_ADDR; an explicit flag on the command line wins over the env.
package flagenv

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

// EnvName is the variable that overrides flag name under prefix.
func EnvName(prefix, name string) string {
	return prefix + "_" + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(name))
}

// Parse parses args into fs and then fills every flag not given on the command
// line from its environment variable. A malformed value names the variable.
func Parse(fs *flag.FlagSet, prefix string, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || set[f.Name] {
			return
		}
		name := EnvName(prefix, f.Name)
		if v, ok := os.LookupEnv(name); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("environment variable %s=%q: %w", name, v, e)
			}
		}
	})
	return err
}

// Usage adds the environment variable of every flag to fs's usage text.
func Usage(fs *flag.FlagSet, prefix string) {
	fs.VisitAll(func(f *flag.Flag) {
		f.Usage += fmt.Sprintf(" (env %s)", EnvName(prefix, f.Name))
	})
}

// List splits a comma-separated flag value ("host1:2379, host2:2379"),
// dropping blanks, so "" is an empty list.
func List(value string) []string {
	var out []string
	for _, e := range strings.Split(value, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}
