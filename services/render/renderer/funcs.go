package renderer

import (
	"cmp"
	"fmt"
	"maps"
	"net"
	"path"
	"slices"
	"strconv"
	"strings"
	"text/template"

	"google.golang.org/protobuf/encoding/protojson"

	membershipv1 "github.com/hindsight-dev/hindsight/proto/hindsight/membership/v1"
)

// Member is a member as templates see it.
type Member struct {
	Service string
	ID      string
	Address string
	Port    int32
	Labels  map[string]string
	// Health is "healthy", "unhealthy" or "unknown" (no check, or not probed yet).
	Health string
}

// Addr is address:port (IPv6 addresses bracketed).
func (m Member) Addr() string { return net.JoinHostPort(m.Address, strconv.Itoa(int(m.Port))) }

// Healthy is true unless the member's check fails (unknown counts as healthy,
// as the membership API's healthy_only does).
func (m Member) Healthy() bool { return m.Health != "unhealthy" }

// Label returns a label's value, or def when it is missing.
func (m Member) Label(key, def string) string {
	if v, ok := m.Labels[key]; ok {
		return v
	}
	return def
}

// KV is one etcd key and value, for get/gets.
type KV struct {
	Key   string
	Value string
}

// view is what one render sees: a consistent copy of the watched keys.
type view struct {
	kvs    map[string]string
	prefix string
}

// healthNames are a member's health as templates see it; anything else is
// "unknown".
var healthNames = map[membershipv1.Health]string{
	membershipv1.Health_HEALTH_HEALTHY:   "healthy",
	membershipv1.Health_HEALTH_UNHEALTHY: "unhealthy",
}

// members decodes every member under the prefix, by service, each sorted by
// id. A member holding a control character fails the render (see checkMember).
func (v *view) members() (map[string][]Member, error) {
	out := map[string][]Member{}
	for k, val := range v.kvs {
		rest, ok := strings.CutPrefix(k, v.prefix)
		if !ok {
			continue
		}
		service, id, ok := strings.Cut(rest, "/")
		if !ok || service == "" || id == "" {
			continue
		}
		var m membershipv1.Member
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal([]byte(val), &m); err != nil {
			continue
		}
		mem := Member{
			Service: service, ID: id, Address: m.Address, Port: m.Port,
			Labels: m.Labels, Health: cmp.Or(healthNames[m.Health], "unknown"),
		}
		if err := checkMember(mem); err != nil {
			return nil, err
		}
		out[service] = append(out[service], mem)
	}
	for _, ms := range out {
		slices.SortFunc(ms, func(a, b Member) int { return cmp.Compare(a.ID, b.ID) })
	}
	return out, nil
}

// funcs are the template helpers. Lookups mirror confd's (getv, getvs, ls,
// lsdir, exists, get, gets) on the watched keys; members, healthy and
// services read the membership registry under the configured prefix.
func (v *view) funcs() template.FuncMap {
	var byService map[string][]Member // decoded once per render, on first use
	var membersErr error
	ms := func() (map[string][]Member, error) {
		if byService == nil && membersErr == nil {
			byService, membersErr = v.members()
		}
		return byService, membersErr
	}
	sortedKeys := func(prefix string) []string {
		var keys []string
		for k := range v.kvs {
			if strings.HasPrefix(k, prefix) {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		return keys
	}
	return template.FuncMap{
		// members "web": every member of the service, sorted by id.
		"members": func(service string) ([]Member, error) {
			all, err := ms()
			return all[service], err
		},
		// healthy "web": the members not marked unhealthy, sorted by id.
		"healthy": func(service string) ([]Member, error) {
			all, err := ms()
			var out []Member
			for _, m := range all[service] {
				if m.Healthy() {
					out = append(out, m)
				}
			}
			return out, err
		},
		// services: the names of the services with members, sorted.
		"services": func() ([]string, error) {
			all, err := ms()
			return slices.Sorted(maps.Keys(all)), err
		},
		// haproxy VALUE: VALUE as one quoted HAProxy config word, so no
		// value can end a line, start a comment or split into more words;
		// print every registry value through it in haproxy.cfg.
		"haproxy": haproxyQuote,
		// getv "/key" ["default"]: a key's value; a missing key without a
		// default fails the render (as confd does), so a typo is not silent.
		"getv": func(key string, def ...string) (string, error) {
			if val, ok := v.kvs[key]; ok {
				return val, nil
			}
			if len(def) > 0 {
				return def[0], nil
			}
			return "", fmt.Errorf("getv: key %q not found", key)
		},
		// getvs "/prefix/": values of the keys under a prefix, sorted by key.
		"getvs": func(prefix string) []string {
			var out []string
			for _, k := range sortedKeys(prefix) {
				out = append(out, v.kvs[k])
			}
			return out
		},
		"get": func(key string) (KV, error) {
			if val, ok := v.kvs[key]; ok {
				return KV{key, val}, nil
			}
			return KV{}, fmt.Errorf("get: key %q not found", key)
		},
		"gets": func(prefix string) []KV {
			var out []KV
			for _, k := range sortedKeys(prefix) {
				out = append(out, KV{k, v.kvs[k]})
			}
			return out
		},
		"exists": func(key string) bool { _, ok := v.kvs[key]; return ok },
		// ls "/dir": names of the direct children of dir (keys or directories).
		"ls": func(dir string) []string { return children(sortedKeys(strings.TrimSuffix(dir, "/")+"/"), dir, false) },
		// lsdir "/dir": names of the direct children of dir that have children.
		"lsdir": func(dir string) []string { return children(sortedKeys(strings.TrimSuffix(dir, "/")+"/"), dir, true) },
		"base":  path.Base,
		"dir":   path.Dir,
		"join":  func(sep string, s []string) string { return strings.Join(s, sep) },
		"split": strings.Split,
		"upper": strings.ToUpper, "lower": strings.ToLower,
		"replace":   func(old, new, s string) string { return strings.ReplaceAll(s, old, new) },
		"contains":  strings.Contains,
		"hasPrefix": strings.HasPrefix, "hasSuffix": strings.HasSuffix,
		"trimPrefix": func(prefix, s string) string { return strings.TrimPrefix(s, prefix) },
		// sanitize makes a string safe as a config identifier (HAProxy server names...).
		"sanitize": func(s string) string {
			return strings.Map(func(r rune) rune {
				if r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
					return r
				}
				return '_'
			}, s)
		},
	}
}

// children lists the distinct first path elements below dir.
func children(keys []string, dir string, dirsOnly bool) []string {
	dir = strings.TrimSuffix(dir, "/") + "/"
	var out []string
	for _, k := range keys {
		rest := strings.TrimPrefix(k, dir)
		name, _, nested := strings.Cut(rest, "/")
		if name == "" || (dirsOnly && !nested) {
			continue
		}
		if len(out) == 0 || out[len(out)-1] != name {
			out = append(out, name)
		}
	}
	return slices.Compact(out)
}
