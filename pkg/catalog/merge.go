package catalog

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/bindery/bindery/pkg/config"
	"github.com/bindery/bindery/pkg/marc"
)

// Merge returns the merged record of an existing record and an incoming one
// by the rules (see config.MergeRules): by default the incoming record with
// the fields of keep_from_existing tags taken from the existing record; with
// take_from_incoming, the existing record with only those tags' fields taken
// from the incoming one. Fields stay in tag order. Neither input changes.
func Merge(existing, incoming *marc.Record, rules config.MergeRules) *marc.Record {
	base, other, matches := mergePlan(existing, incoming, rules)
	out := &marc.Record{Leader: base.Leader, Fields: make([]marc.Field, 0, len(base.Fields)+4)}
	for _, f := range base.Fields {
		if !matches(f.Tag) {
			out.Fields = append(out.Fields, f)
		}
	}
	for _, f := range other.Fields {
		if matches(f.Tag) {
			out.AddField(f)
		}
	}
	return out
}

// MergeSkimmed is Merge of two skimmed records (marc.Decoder.Skim, skimmed
// for the same tags): the bytes Marshal writes for Merge's record, without
// decoding either whole. Its error is Marshal's (a merge too long for ISO
// 2709).
func MergeSkimmed(existing, incoming *marc.Skimmed, rules config.MergeRules) (*marc.Skimmed, error) {
	base, other, matches := mergePlan(existing, incoming, rules)
	return marc.Splice(base, other, matches)
}

// mergePlan is how the rules merge: the record whose fields stay, the one
// that gives the fields of the tags matches accepts.
func mergePlan[R any](existing, incoming R, rules config.MergeRules) (base, other R, matches func(tag string) bool) {
	base, other, fromOther := incoming, existing, rules.KeepFromExisting
	if len(rules.TakeFromIncoming) > 0 {
		base, other, fromOther = existing, incoming, rules.TakeFromIncoming
	}
	return base, other, tagPatterns(fromOther)
}

// numericTags caches, per list of tag patterns, which of the tags 000-999
// they match: a merge asks of every field of two records.
var numericTags sync.Map // strings.Join(patterns, ",") -> *[1000]bool

// tagPatterns says whether a tag matches one of the patterns.
func tagPatterns(patterns []string) func(tag string) bool {
	slow := func(tag string) bool {
		return slices.ContainsFunc(patterns, func(p string) bool { return config.TagMatches(p, tag) })
	}
	key := strings.Join(patterns, ",")
	v, ok := numericTags.Load(key)
	if !ok {
		var set [1000]bool
		for n := range set {
			set[n] = slow(fmt.Sprintf("%03d", n))
		}
		v, _ = numericTags.LoadOrStore(key, &set)
	}
	set := v.(*[1000]bool)
	return func(tag string) bool {
		if len(tag) == 3 && isDigit(tag[0]) && isDigit(tag[1]) && isDigit(tag[2]) {
			return set[int(tag[0]-'0')*100+int(tag[1]-'0')*10+int(tag[2]-'0')]
		}
		return slow(tag)
	}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
