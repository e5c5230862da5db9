package config

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// RuleOverride changes an institution's concurrency rules for one job type;
// a field left out keeps the job type's default.
type RuleOverride struct {
	WaitsFor       *[]string `yaml:"waits_for"`
	ConflictsWith  *[]string `yaml:"conflicts_with"`
	SingleInstance *bool     `yaml:"single_instance"`
}

// Rules are the effective concurrency rules of one job type at one institution.
type Rules struct {
	// WaitsFor: a new job is held PENDING while a job of these types is
	// unfinished (or PENDING before it).
	WaitsFor []string
	// Conflicts: a new job is SKIPPED while a job of these types runs. It is
	// symmetric: it holds the type's own conflicts_with and every type that
	// names this one in its conflicts_with.
	Conflicts []string
	// SingleInstance: a new job is SKIPPED while another of its type is unfinished.
	SingleInstance bool
}

// Rules returns the effective rules of jobType at institution.
func (c *Config) Rules(institution, jobType string) Rules {
	var r Rules
	jt, ok := c.JobType(jobType)
	if !ok {
		return r
	}
	own := c.ownRules(institution, jt)
	r.WaitsFor = own.WaitsFor
	r.SingleInstance = own.SingleInstance
	conflicts := map[string]bool{}
	for _, t := range own.Conflicts {
		conflicts[t] = true
	}
	for i := range c.JobTypes {
		other := &c.JobTypes[i]
		if slices.Contains(c.ownRules(institution, other).Conflicts, jobType) {
			conflicts[other.ID] = true
		}
	}
	for t := range conflicts {
		r.Conflicts = append(r.Conflicts, t)
	}
	sort.Strings(r.Conflicts)
	return r
}

// ownRules applies the institution's override to the type's defaults,
// without the symmetric closure of conflicts.
func (c *Config) ownRules(institution string, jt *JobType) Rules {
	r := Rules{WaitsFor: jt.WaitsFor, Conflicts: jt.ConflictsWith, SingleInstance: jt.SingleInstance}
	in, ok := c.Institution(institution)
	if !ok {
		return r
	}
	if o, ok := in.JobRules[jt.ID]; ok {
		if o.WaitsFor != nil {
			r.WaitsFor = *o.WaitsFor
		}
		if o.ConflictsWith != nil {
			r.Conflicts = *o.ConflictsWith
		}
		if o.SingleInstance != nil {
			r.SingleInstance = *o.SingleInstance
		}
	}
	return r
}

// validateRules checks overrides name known types and that no institution's
// waits_for rules form a cycle (jobs that wait for each other would wait forever).
func (c *Config) validateRules(bad func(field, format string, args ...any)) {
	for i, in := range c.Institutions {
		for typ, o := range in.JobRules {
			f := fmt.Sprintf("institutions[%d].job_rules.%s", i, typ)
			if _, ok := c.JobType(typ); !ok {
				bad(f, "unknown job type %q", typ)
				continue
			}
			for _, list := range []*[]string{o.WaitsFor, o.ConflictsWith} {
				if list == nil {
					continue
				}
				for _, t := range *list {
					if _, ok := c.JobType(t); !ok {
						bad(f, "unknown job type %q", t)
					}
				}
			}
		}
	}
	scopes := []string{""}
	for _, in := range c.Institutions {
		scopes = append(scopes, in.ID)
	}
	for _, inst := range scopes {
		if cycle := c.waitsForCycle(inst); cycle != nil {
			where := "job_types"
			if inst != "" {
				where = "institutions." + inst + ".job_rules"
			}
			bad(where, "waits_for forms a cycle: %s", strings.Join(cycle, " -> "))
			return
		}
	}
}

// waitsForCycle returns one cycle of the waits_for graph at an institution
// ("" for the defaults), or nil.
func (c *Config) waitsForCycle(institution string) []string {
	const (
		unseen = iota
		onPath
		done
	)
	state := map[string]int{}
	var path []string
	var visit func(t string) []string
	visit = func(t string) []string {
		state[t] = onPath
		path = append(path, t)
		jt, ok := c.JobType(t)
		if ok {
			for _, next := range c.ownRules(institution, jt).WaitsFor {
				switch state[next] {
				case onPath:
					start := slices.Index(path, next)
					return append(slices.Clone(path[start:]), next)
				case unseen:
					if cyc := visit(next); cyc != nil {
						return cyc
					}
				}
			}
		}
		path = path[:len(path)-1]
		state[t] = done
		return nil
	}
	for _, jt := range c.JobTypes {
		if state[jt.ID] == unseen {
			if cyc := visit(jt.ID); cyc != nil {
				return cyc
			}
		}
	}
	return nil
}
