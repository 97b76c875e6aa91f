package api

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/hindsight-dev/hindsight/internal/badrequest"
	"github.com/hindsight-dev/hindsight/internal/parse"
	replayv1 "github.com/hindsight-dev/hindsight/proto/hindsight/replay/v1"
	"github.com/hindsight-dev/hindsight/services/replay/query"
	"github.com/hindsight-dev/hindsight/services/replay/source"
)

var (
	dnsLabel    = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	datasetName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,99}$`)
)

// validate checks a replay as submitted and fills in the defaults (ttl,
// source and target kinds, template). The field names in errors are the
// request's ("replay.name").
func (s *Service) validate(r *replayv1.Replay) error {
	var v badrequest.Violations
	if !dnsLabel.MatchString(r.GetName()) {
		v.Add("replay.name", "must be a DNS label: 1 to 63 lower case letters, digits and '-', starting and ending with a letter or digit")
	}
	if len(r.GetDatasets()) == 0 {
		v.Add("replay.datasets", "at least one dataset required")
	}
	seen := map[string]bool{}
	for i, d := range r.GetDatasets() {
		switch {
		case !datasetName.MatchString(d):
			v.Add(fmt.Sprintf("replay.datasets[%d]", i), "%q is not a dataset name (lower case letters, digits, '.', '_' and '-')", d)
		case seen[d]:
			v.Add(fmt.Sprintf("replay.datasets[%d]", i), "%q listed twice", d)
		}
		seen[d] = true
	}
	from, to := r.GetFrom().AsTime(), r.GetTo().AsTime()
	switch {
	case r.GetFrom() == nil:
		v.Add("replay.from", "required")
	case r.GetTo() == nil:
		v.Add("replay.to", "required")
	case !from.Before(to):
		v.Add("replay.to", "must be after from (the range [from, to) is empty)")
	case to.Sub(from) > s.cfg.MaxRange:
		v.Add("replay.to", "range of %s is longer than the limit of %s", to.Sub(from), s.cfg.MaxRange)
	}
	if _, err := query.Parse(r.GetQuery()); err != nil {
		v.Add("replay.query", "%v", err)
	}
	if r.GetMaxEvents() < 0 {
		v.Add("replay.max_events", "must be at least 0 (0: no cap)")
	}
	if r.GetTtl() == nil {
		r.Ttl = durationpb.New(s.cfg.DefaultTTL)
	} else if ttl := r.GetTtl().AsDuration(); ttl < s.cfg.MinTTL || ttl > s.cfg.MaxTTL {
		v.Add("replay.ttl", "must be between %s and %s", s.cfg.MinTTL, s.cfg.MaxTTL)
	}
	s.validateSource(r, &v)
	if r.Target == nil {
		r.Target = &replayv1.Target{}
	}
	if r.Target.Kind == replayv1.Target_KIND_UNSPECIFIED {
		r.Target.Kind = s.cfg.DefaultTarget
	}
	if s.cfg.Backends[r.Target.Kind] == nil {
		v.Add("replay.target.kind", "%s is not available on this service (available: %v)", r.Target.Kind, s.targetKinds())
	}
	return v.Err()
}

func (s *Service) validateSource(r *replayv1.Replay, v *badrequest.Violations) {
	if r.Source == nil {
		r.Source = &replayv1.Source{}
	}
	src := r.Source
	switch src.Kind {
	case replayv1.Source_KIND_UNSPECIFIED, replayv1.Source_KIND_ARCHIVE:
		src.Kind = replayv1.Source_KIND_ARCHIVE
		configuredURL(&src.Url, s.cfg.ArchiveURL, "archive", v)
	case replayv1.Source_KIND_LEGACY_TREE:
		configuredURL(&src.Url, s.cfg.LegacyURL, "legacy tree", v)
		if src.PathTemplate == "" {
			src.PathTemplate = source.DefaultTemplate
		}
		if err := source.CheckTemplate(src.PathTemplate); err != nil {
			v.Add("replay.source.path_template", "%v", err)
		}
		if _, err := parse.New(src.Parser); err != nil {
			var ce *parse.ConfigError
			if errors.As(err, &ce) {
				v.Add("replay.source.parser."+ce.Field, "%v", ce.Err)
			} else {
				v.Add("replay.source.parser", "%v", err)
			}
		}
	default:
		v.Add("replay.source.kind", "unknown kind %d", src.Kind)
	}
}

func (s *Service) targetKinds() []replayv1.Target_Kind {
	var out []replayv1.Target_Kind
	for k := range replayv1.Target_Kind_name {
		if s.cfg.Backends[replayv1.Target_Kind(k)] != nil {
			out = append(out, replayv1.Target_Kind(k))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// defaults for Config.
const (
	DefaultMaxRange   = 93 * 24 * time.Hour
	DefaultTTL        = 15 * 24 * time.Hour
	DefaultMinTTL     = time.Minute
	DefaultMaxTTL     = 90 * 24 * time.Hour
	DefaultWorkers    = 4
	DefaultBatch      = 5000
	DefaultExpiryTick = 30 * time.Second
)

// configuredURL defaults a source's URL to the configured one (what names
// it in the violation) and refuses any other: a replay reads only where the
// operator pointed the service.
func configuredURL(url *string, configured, what string, v *badrequest.Violations) {
	if *url == "" {
		*url = configured
	}
	if *url == "" {
		v.Add("replay.source.url", "this service has no %s configured", what)
	} else if *url != configured {
		v.Add("replay.source.url", "only the configured %s can be read", what)
	}
}

// count reads a request's optional count: 0 is def, below 0 is refused.
func count(v *badrequest.Violations, field string, n int32, def int) int {
	if n < 0 {
		v.Add(field, "must be at least 0")
	}
	if n <= 0 {
		return def
	}
	return int(n)
}
