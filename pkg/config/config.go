// Package config loads and validates bindery.yaml: institutions, networks,
// queues and the job type catalog.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode"

	"gopkg.in/yaml.v3"
)

// Config is the whole configuration file.
type Config struct {
	Networks     []Network      `yaml:"networks"`
	Institutions []Institution  `yaml:"institutions"`
	Queues       map[string]int `yaml:"queues"`
	Admission    Admission      `yaml:"admission"`
	JobTypes     []JobType      `yaml:"job_types"`
	// ImportProfiles say how Metadata Import matches and merges a file.
	ImportProfiles []ImportProfile `yaml:"import_profiles"`
	// Triggers start workflow jobs on events.
	Triggers []Trigger `yaml:"triggers"`
	// PublishingProfiles say what General Publishing publishes and where.
	PublishingProfiles []PublishingProfile `yaml:"publishing_profiles"`
	// JobFiles is where jobs write files for download (exports).
	JobFiles JobFiles `yaml:"job_files"`

	path string
}

// Network groups institutions (a Network Zone).
type Network struct {
	ID   string `yaml:"id"`
	Name string `yaml:"name"`
}

// Institution is one library tenant.
type Institution struct {
	ID                string `yaml:"id"`
	Name              string `yaml:"name"`
	Network           string `yaml:"network"`
	TimeZone          string `yaml:"time_zone"`
	PriorityWeight    int    `yaml:"priority_weight"`
	LoanRetentionDays int    `yaml:"loan_retention_days"`
	// JobRules overrides job types' concurrency rules for this institution.
	JobRules map[string]RuleOverride `yaml:"job_rules"`
	// Peak caps the institution's bulk work during its peak hours.
	Peak Peak `yaml:"peak"`

	Location *time.Location `yaml:"-"`
}

// Admission tunes the admission controller.
type Admission struct {
	Window int `yaml:"window"`
	// FleetWindow bounds the chunks in flight across all jobs; within it
	// institutions get weighted fair shares (see scheduling.go).
	FleetWindow int `yaml:"fleet_window"`
	// Load slows bulk admission while PostgreSQL is slow (AIMD).
	Load LoadControl `yaml:"load"`
	// CapLease is how long a bulk chunk's slot in its institution's peak
	// cap outlives a worker that stopped renewing it (killed).
	CapLease time.Duration `yaml:"cap_lease"`
}

// JobType is one entry of the job catalog.
type JobType struct {
	ID             string   `yaml:"id"`
	Name           string   `yaml:"name"`
	Category       string   `yaml:"category"`
	Kind           string   `yaml:"kind"`
	ContentType    string   `yaml:"content_type"`
	ChunkSize      int      `yaml:"chunk_size"`
	PriorityClass  string   `yaml:"priority_class"`
	WaitsFor       []string `yaml:"waits_for"`
	ConflictsWith  []string `yaml:"conflicts_with"`
	SingleInstance bool     `yaml:"single_instance"`
	Params         []Param  `yaml:"params"`
	// Upload is what the job takes as a file with its submission: "" (none)
	// or "marc" (a MARC file, read with the import profile named by the
	// job's profile parameter).
	Upload string `yaml:"upload"`
	// SetContent is the content of the set the job runs on (pkg/config/sets.go).
	SetContent string `yaml:"set_content"`
}

// Param is one parameter of a job type's schema.
type Param struct {
	Name     string  `yaml:"name"`
	Type     string  `yaml:"type"` // int | string | bool | enum
	Required bool    `yaml:"required"`
	Default  *string `yaml:"default"`
	// DefaultFrom names an institution setting used when the parameter is not given.
	DefaultFrom string   `yaml:"default_from"`
	Min         *int64   `yaml:"min"`
	Max         *int64   `yaml:"max"`
	Values      []string `yaml:"values"`
	Help        string   `yaml:"help"`
	// ValuesFrom fills Values of a string parameter from the configuration:
	// publishing_profiles (the ids of the publishing profiles).
	ValuesFrom string `yaml:"values_from" json:"values_from,omitempty"`
}

var (
	categories   = set("import", "publishing", "export", "metadata", "authorities", "fulfillment", "users", "acquisitions")
	kinds        = set("scheduled", "workflow", "manual")
	contentTypes = set("", "titles", "authorities", "physical items", "users", "po lines")
	paramTypes   = set("int", "string", "bool", "enum")
	defaultFroms = set("", "loan_retention_days")
	uploads      = set("", "marc")
	kebab        = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
)

func set(xs ...string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// Load reads and validates the file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data)
}

// Parse validates data read from path (path is only used in messages).
func Parse(path string, data []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	c.path = path
	c.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// FieldError names the file, the field and what is wrong with it.
type FieldError struct {
	File, Field, Problem string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("config %s: %s: %s", e.File, e.Field, e.Problem)
}

func (c *Config) withDefaults() {
	if c.Admission.Window == 0 {
		c.Admission.Window = 16
	}
	if len(c.Queues) == 0 {
		c.Queues = map[string]int{"critical": 6, "default": 3, "bulk": 1}
	}
	for i := range c.Institutions {
		in := &c.Institutions[i]
		if in.PriorityWeight == 0 {
			in.PriorityWeight = 1
		}
		if in.TimeZone == "" {
			in.TimeZone = "UTC"
		}
	}
	c.profileDefaults()
	c.publishingDefaults()
	c.schedulingDefaults()
	for i := range c.JobTypes {
		jt := &c.JobTypes[i]
		if jt.ChunkSize == 0 {
			jt.ChunkSize = 1000
		}
		if jt.PriorityClass == "" {
			jt.PriorityClass = "default"
		}
	}
}

func (c *Config) validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{File: c.path, Field: field, Problem: fmt.Sprintf(format, args...)})
	}
	if c.Admission.Window < 1 {
		bad("admission.window", "must be at least 1, got %d", c.Admission.Window)
	}
	for q, w := range c.Queues {
		if w < 1 {
			bad("queues."+q, "weight must be at least 1, got %d", w)
		}
	}
	networks := map[string]bool{}
	for i, n := range c.Networks {
		f := fmt.Sprintf("networks[%d]", i)
		if n.ID == "" {
			bad(f+".id", "is required")
		}
		if networks[n.ID] {
			bad(f+".id", "duplicate network %q", n.ID)
		}
		networks[n.ID] = true
	}
	if len(c.Institutions) == 0 {
		bad("institutions", "at least one institution is required")
	}
	seen := map[string]bool{}
	for i := range c.Institutions {
		in := &c.Institutions[i]
		f := fmt.Sprintf("institutions[%d]", i)
		if in.ID == "" {
			bad(f+".id", "is required")
		} else if seen[in.ID] {
			bad(f+".id", "duplicate institution %q", in.ID)
		} else if strings.ContainsFunc(in.ID, unicode.IsControl) {
			// Match keys are indexed as institution, U+001F, kind, U+001F, value
			// (migration 0020).
			bad(f+".id", "%q holds a control character", in.ID)
		}
		seen[in.ID] = true
		if in.Network != "" && !networks[in.Network] {
			bad(f+".network", "unknown network %q (declare it under networks)", in.Network)
		}
		loc, err := time.LoadLocation(in.TimeZone)
		if err != nil {
			bad(f+".time_zone", "unknown time zone %q", in.TimeZone)
		}
		in.Location = loc
		if in.PriorityWeight < 1 {
			bad(f+".priority_weight", "must be at least 1, got %d", in.PriorityWeight)
		}
		if in.LoanRetentionDays < 0 {
			bad(f+".loan_retention_days", "must not be negative, got %d", in.LoanRetentionDays)
		}
	}
	types := map[string]bool{}
	for _, jt := range c.JobTypes {
		types[jt.ID] = true
	}
	seenType := map[string]bool{}
	for i, jt := range c.JobTypes {
		f := fmt.Sprintf("job_types[%d]", i)
		if !kebab.MatchString(jt.ID) {
			bad(f+".id", "%q is not a kebab-case id (like loan-anonymization)", jt.ID)
		}
		if seenType[jt.ID] {
			bad(f+".id", "duplicate job type %q", jt.ID)
		}
		seenType[jt.ID] = true
		if jt.Name == "" {
			bad(f+".name", "is required")
		}
		if !categories[jt.Category] {
			bad(f+".category", "%q is not one of %s", jt.Category, keys(categories))
		}
		if !kinds[jt.Kind] {
			bad(f+".kind", "%q is not one of %s", jt.Kind, keys(kinds))
		}
		if !contentTypes[jt.ContentType] {
			bad(f+".content_type", "%q is not one of %s", jt.ContentType, keys(contentTypes))
		}
		if jt.ChunkSize < 1 {
			bad(f+".chunk_size", "must be at least 1, got %d", jt.ChunkSize)
		}
		if _, ok := c.Queues[jt.PriorityClass]; !ok {
			bad(f+".priority_class", "unknown queue %q (queues: %s)", jt.PriorityClass, keysInt(c.Queues))
		}
		for j, w := range jt.WaitsFor {
			if !types[w] {
				bad(fmt.Sprintf("%s.waits_for[%d]", f, j), "unknown job type %q", w)
			}
		}
		for j, w := range jt.ConflictsWith {
			if !types[w] {
				bad(fmt.Sprintf("%s.conflicts_with[%d]", f, j), "unknown job type %q", w)
			}
		}
		if !uploads[jt.Upload] {
			bad(f+".upload", "%q is not one of %s", jt.Upload, keys(uploads))
		}
		pnames := map[string]bool{}
		for j, p := range jt.Params {
			pf := fmt.Sprintf("%s.params[%d]", f, j)
			if p.Name == "" {
				bad(pf+".name", "is required")
			}
			if pnames[p.Name] {
				bad(pf+".name", "duplicate parameter %q", p.Name)
			}
			pnames[p.Name] = true
			if !paramTypes[p.Type] {
				bad(pf+".type", "%q is not one of %s", p.Type, keys(paramTypes))
			}
			if p.Type == "enum" && len(p.Values) == 0 {
				bad(pf+".values", "an enum parameter needs values")
			}
			if !defaultFroms[p.DefaultFrom] {
				bad(pf+".default_from", "%q is not an institution setting (%s)", p.DefaultFrom, keys(defaultFroms))
			}
			if p.Default != nil {
				if _, err := p.Coerce(*p.Default); err != nil {
					bad(pf+".default", "%v", err)
				}
			}
		}
	}
	c.validateRules(bad)
	c.validateScheduling(bad)
	c.validateTriggers(bad)
	c.validateProfiles(bad)
	c.validatePublishing(bad)
	c.validateSetContent(bad)
	return errors.Join(errs...)
}

func keys(m map[string]bool) string {
	var ks []string
	for k := range m {
		if k != "" {
			ks = append(ks, k)
		}
	}
	sort.Strings(ks)
	return strings.Join(ks, ", ")
}

func keysInt(m map[string]int) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ", ")
}

// Institution returns the institution with the given id.
func (c *Config) Institution(id string) (*Institution, bool) {
	for i := range c.Institutions {
		if c.Institutions[i].ID == id {
			return &c.Institutions[i], true
		}
	}
	return nil, false
}

// JobType returns the job type with the given id.
func (c *Config) JobType(id string) (*JobType, bool) {
	for i := range c.JobTypes {
		if c.JobTypes[i].ID == id {
			return &c.JobTypes[i], true
		}
	}
	return nil, false
}

// NetworkMembers returns the ids of the institutions in a network.
func (c *Config) NetworkMembers(network string) []string {
	var ids []string
	for _, in := range c.Institutions {
		if in.Network == network {
			ids = append(ids, in.ID)
		}
	}
	return ids
}

// HasNetwork reports whether a network is declared.
func (c *Config) HasNetwork(id string) bool {
	for _, n := range c.Networks {
		if n.ID == id {
			return true
		}
	}
	return false
}
