package config

import (
	"fmt"
	"slices"
	"strings"
)

// ImportProfile says how Metadata Import reads a file and what it does with
// each record: how it is matched against the catalog and what happens on a
// single match, several matches and no match.
type ImportProfile struct {
	ID string `yaml:"id" json:"id"`
	// Institution is the institution the profile belongs to, or "*" for every
	// institution.
	Institution string `yaml:"institution" json:"institution"`
	Name        string `yaml:"name" json:"name"`
	// SourceFormat is the format expected: marc21 (ISO 2709) or marcxml. An
	// upload is sniffed, and a file in the other format is read as what it is.
	SourceFormat string `yaml:"source_format" json:"source_format"`
	// Encoding of binary records: auto (leader/09 and the bytes), utf8, marc8.
	Encoding   string `yaml:"encoding" json:"encoding"`
	RecordType string `yaml:"record_type" json:"record_type"` // bib | authority
	// Match lists the match methods tried in turn: 001, 035, isbn, issn. The
	// first method that finds any candidate decides.
	Match             []string   `yaml:"match" json:"match"`
	OnSingleMatch     string     `yaml:"on_single_match" json:"on_single_match"`         // merge | overlay | skip
	Merge             MergeRules `yaml:"merge" json:"merge"`                             // with on_single_match: merge
	OnMultipleMatches string     `yaml:"on_multiple_matches" json:"on_multiple_matches"` // skip | import_new
	OnNoMatch         string     `yaml:"on_no_match" json:"on_no_match"`                 // import | reject
}

// MergeRules say which fields a merge takes from which record. Tags may use X
// as a wildcard digit ("9XX"). The merged record is the incoming record with
// the fields of keep_from_existing tags taken from the existing record; when
// take_from_incoming is given, it is the other way round: the existing record
// with only the fields of those tags taken from the incoming one.
type MergeRules struct {
	KeepFromExisting []string `yaml:"keep_from_existing" json:"keep_from_existing,omitempty"`
	TakeFromIncoming []string `yaml:"take_from_incoming" json:"take_from_incoming,omitempty"`
}

var (
	sourceFormats     = set("marc21", "marcxml")
	sourceEncodings   = set("auto", "utf8", "marc8")
	recordTypes       = set("bib", "authority")
	matchMethods      = set("001", "035", "isbn", "issn")
	onSingleMatch     = set("merge", "overlay", "skip")
	onMultipleMatches = set("skip", "import_new")
	onNoMatch         = set("import", "reject")
)

func (c *Config) profileDefaults() {
	for i := range c.ImportProfiles {
		p := &c.ImportProfiles[i]
		if p.SourceFormat == "" {
			p.SourceFormat = "marc21"
		}
		if p.Encoding == "" {
			p.Encoding = "auto"
		}
		if p.OnMultipleMatches == "" {
			p.OnMultipleMatches = "skip"
		}
		if p.OnNoMatch == "" {
			p.OnNoMatch = "import"
		}
	}
}

func (c *Config) validateProfiles(bad func(field, format string, args ...any)) {
	seen := map[string]bool{}
	for i, p := range c.ImportProfiles {
		f := fmt.Sprintf("import_profiles[%d]", i)
		c.validateProfileHead(bad, f, "import profile", "vendor-bibs", seen, p.head())
		if !sourceFormats[p.SourceFormat] {
			bad(f+".source_format", "%q is not one of %s", p.SourceFormat, keys(sourceFormats))
		}
		if !sourceEncodings[p.Encoding] {
			bad(f+".encoding", "%q is not one of %s", p.Encoding, keys(sourceEncodings))
		}
		if !recordTypes[p.RecordType] {
			bad(f+".record_type", "%q is not one of %s", p.RecordType, keys(recordTypes))
		}
		if len(p.Match) == 0 {
			bad(f+".match", "at least one match method is required (%s)", keys(matchMethods))
		}
		for j, m := range p.Match {
			if !matchMethods[m] {
				bad(fmt.Sprintf("%s.match[%d]", f, j), "%q is not one of %s", m, keys(matchMethods))
			} else if slices.Index(p.Match, m) != j {
				bad(fmt.Sprintf("%s.match[%d]", f, j), "%q is listed twice", m)
			}
		}
		if !onSingleMatch[p.OnSingleMatch] {
			bad(f+".on_single_match", "%q is not one of %s", p.OnSingleMatch, keys(onSingleMatch))
		}
		merge := len(p.Merge.KeepFromExisting)+len(p.Merge.TakeFromIncoming) > 0
		if merge && p.OnSingleMatch != "merge" {
			bad(f+".merge", "merge rules are only used with on_single_match: merge (it is %q)", p.OnSingleMatch)
		}
		if p.OnSingleMatch == "merge" && !merge {
			bad(f+".merge", "on_single_match: merge needs keep_from_existing or take_from_incoming tags")
		}
		for j, t := range p.Merge.KeepFromExisting {
			if !validTagPattern(t) {
				bad(fmt.Sprintf("%s.merge.keep_from_existing[%d]", f, j), "%q is not a tag (three digits, X for any digit: 590, 9XX)", t)
			}
			for _, u := range p.Merge.TakeFromIncoming {
				if TagPatternsOverlap(t, u) {
					bad(fmt.Sprintf("%s.merge.keep_from_existing[%d]", f, j), "%q overlaps take_from_incoming %q", t, u)
				}
			}
		}
		for j, t := range p.Merge.TakeFromIncoming {
			if !validTagPattern(t) {
				bad(fmt.Sprintf("%s.merge.take_from_incoming[%d]", f, j), "%q is not a tag (three digits, X for any digit: 590, 9XX)", t)
			}
		}
		if !onMultipleMatches[p.OnMultipleMatches] {
			bad(f+".on_multiple_matches", "%q is not one of %s", p.OnMultipleMatches, keys(onMultipleMatches))
		}
		if !onNoMatch[p.OnNoMatch] {
			bad(f+".on_no_match", "%q is not one of %s", p.OnNoMatch, keys(onNoMatch))
		}
	}
}

func validTagPattern(t string) bool {
	if len(t) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		c := t[i]
		if !(c >= '0' && c <= '9') && c != 'X' && c != 'x' {
			return false
		}
	}
	return true
}

// TagMatches reports whether tag matches the pattern (X: any character).
func TagMatches(pattern, tag string) bool {
	if len(pattern) != len(tag) {
		return false
	}
	for i := 0; i < len(pattern); i++ {
		if pattern[i] != 'X' && pattern[i] != 'x' && pattern[i] != tag[i] {
			return false
		}
	}
	return true
}

// TagPatternsOverlap reports whether some tag matches both patterns.
func TagPatternsOverlap(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		wa, wb := a[i] == 'X' || a[i] == 'x', b[i] == 'X' || b[i] == 'x'
		if !wa && !wb && a[i] != b[i] {
			return false
		}
	}
	return true
}

// ImportProfile returns the profile with the id if institution may use it.
func (c *Config) ImportProfile(id, institution string) (*ImportProfile, bool) {
	return findProfile(c.ImportProfiles, id, institution)
}

// ProfilesFor returns the ids of the profiles institution may use.
func (c *Config) ProfilesFor(institution string) []string {
	return profileIDs(c.ImportProfiles, institution)
}

func (p *ImportProfile) head() profileHead { return profileHead{p.ID, p.Institution, p.Name} }

// profileHead is what every kind of profile (import, publishing) starts
// with: an id, the institution it belongs to ("*": every institution) and
// a name.
type profileHead struct{ id, institution, name string }

// validateProfileHead checks the head of the profile at field f: a
// kebab-case id (like example) not seen before among the profiles of its
// kind, an institution that exists (or "*"), and a name.
func (c *Config) validateProfileHead(bad func(field, format string, args ...any), f, kind, example string, seen map[string]bool, h profileHead) {
	if !kebab.MatchString(h.id) {
		bad(f+".id", "%q is not a kebab-case id (like %s)", h.id, example)
	}
	if seen[h.id] {
		bad(f+".id", "duplicate %s %q", kind, h.id)
	}
	seen[h.id] = true
	if h.institution == "" {
		bad(f+".institution", `is required (an institution id, or "*" for every institution)`)
	} else if _, ok := c.Institution(h.institution); !ok && h.institution != "*" {
		bad(f+".institution", `unknown institution %q (or "*" for every institution)`, h.institution)
	}
	if h.name == "" {
		bad(f+".name", "is required")
	}
}

// usableBy reports whether institution may use the profile.
func (h profileHead) usableBy(institution string) bool {
	return h.institution == "*" || h.institution == institution
}

// findProfile returns the profile of ps with the id if institution may use it.
func findProfile[P any, PP interface {
	*P
	head() profileHead
}](ps []P, id, institution string) (*P, bool) {
	for i := range ps {
		if h := PP(&ps[i]).head(); h.id == id && h.usableBy(institution) {
			return &ps[i], true
		}
	}
	return nil, false
}

// profileIDs returns the ids of the profiles of ps institution may use.
func profileIDs[P any, PP interface {
	*P
	head() profileHead
}](ps []P, institution string) []string {
	var ids []string
	for i := range ps {
		if h := PP(&ps[i]).head(); h.usableBy(institution) {
			ids = append(ids, h.id)
		}
	}
	return ids
}

// MatchSummary is a one-line description of the profile's rules.
func (p *ImportProfile) MatchSummary() string {
	s := fmt.Sprintf("match %s; single match: %s", strings.Join(p.Match, ", then "), p.OnSingleMatch)
	if p.OnSingleMatch == "merge" {
		if len(p.Merge.TakeFromIncoming) > 0 {
			s += " (take " + strings.Join(p.Merge.TakeFromIncoming, " ") + " from incoming)"
		} else {
			s += " (keep " + strings.Join(p.Merge.KeepFromExisting, " ") + " from existing)"
		}
	}
	return s + fmt.Sprintf("; multiple: %s; none: %s", p.OnMultipleMatches, p.OnNoMatch)
}
