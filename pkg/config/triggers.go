package config

import (
	"fmt"
	"strings"
)

// Trigger starts a workflow job when an event happens: an event of type On
// whose payload has every When field equal runs job type Run for the
// event's institution, with Params; a param value "$name" takes the payload's
// field name. Bindery itself emits job.completed (payload: job_id, type,
// status and the job's parameters) when a job finishes.
type Trigger struct {
	On     string            `yaml:"on" json:"on"`
	When   map[string]string `yaml:"when" json:"when,omitempty"`
	Run    string            `yaml:"run" json:"run"`
	Params map[string]string `yaml:"params" json:"params,omitempty"`
}

// TriggersFor returns the triggers of an event type.
func (c *Config) TriggersFor(event string) []Trigger {
	var out []Trigger
	for _, t := range c.Triggers {
		if t.On == event {
			out = append(out, t)
		}
	}
	return out
}

func (c *Config) validateTriggers(bad func(field, format string, args ...any)) {
	for i, t := range c.Triggers {
		f := fmt.Sprintf("triggers[%d]", i)
		if t.On == "" || strings.ContainsAny(t.On, " \t") {
			bad(f+".on", "an event type like po.submitted is required, got %q", t.On)
		}
		jt, ok := c.JobType(t.Run)
		if !ok {
			bad(f+".run", "unknown job type %q", t.Run)
			continue
		}
		if jt.Upload != "" {
			bad(f+".run", "job type %s runs on a file uploaded with each submission; an event cannot submit it", jt.ID)
			continue
		}
		known := map[string]bool{}
		for _, p := range jt.Params {
			known[p.Name] = true
		}
		for name := range t.Params {
			if !known[name] {
				bad(f+".params."+name, "job type %s has no parameter %q", jt.ID, name)
			}
		}
	}
}
