package config

import (
	"fmt"
	"path/filepath"
)

// PublishingProfile says what General Publishing publishes and where: which
// records, in which format, into which directory, cut into files of how
// many records.
type PublishingProfile struct {
	ID string `yaml:"id" json:"id"`
	// Institution is the institution the profile belongs to, or "*" for every
	// institution (only with records: all).
	Institution string `yaml:"institution" json:"institution"`
	Name        string `yaml:"name" json:"name"`
	// Records is all (every bibliographic record of the institution) or set
	// (the members of the set Set, as they are when a run starts).
	Records string `yaml:"records" json:"records"`
	Set     int64  `yaml:"set,omitempty" json:"set,omitempty"`
	// Format is marc21 (ISO 2709, UTF-8) or marcxml (a MARC 21 slim collection).
	Format string `yaml:"format" json:"format"`
	// Directory is where the files go, on the server; workers write there
	// too, so every bindery process must see the same directory (a shared
	// file system when they run on several hosts).
	Directory string `yaml:"directory" json:"directory"`
	// RotateEvery is the most records one file holds.
	RotateEvery int  `yaml:"rotate_every" json:"rotate_every"`
	Gzip        bool `yaml:"gzip" json:"gzip"`
}

// JobFiles is where jobs that produce files for download (Export
// Bibliographic Records) write them.
type JobFiles struct {
	Directory string `yaml:"directory" json:"directory"`
	// RotateEvery is the most records one export file holds.
	RotateEvery int `yaml:"rotate_every" json:"rotate_every"`
}

var (
	publishingRecords = set("all", "set")
	publishingFormats = set("marc21", "marcxml")
)

// DefaultRotateEvery is the file size, in records, when a profile gives none.
const DefaultRotateEvery = 100000

func (c *Config) publishingDefaults() {
	for i := range c.PublishingProfiles {
		p := &c.PublishingProfiles[i]
		if p.Records == "" {
			p.Records = "all"
		}
		if p.Format == "" {
			p.Format = "marc21"
		}
		if p.RotateEvery == 0 {
			p.RotateEvery = DefaultRotateEvery
		}
	}
	for i := range c.JobTypes {
		for j := range c.JobTypes[i].Params {
			if p := &c.JobTypes[i].Params[j]; p.ValuesFrom == "publishing_profiles" {
				p.Values = nil
				for _, pp := range c.PublishingProfiles {
					p.Values = append(p.Values, pp.ID)
				}
			}
		}
	}
	if c.JobFiles.Directory == "" {
		c.JobFiles.Directory = filepath.Join("/var/tmp/bindery", "job-files")
	}
	if c.JobFiles.RotateEvery == 0 {
		c.JobFiles.RotateEvery = DefaultRotateEvery
	}
}

func (c *Config) validatePublishing(bad func(field, format string, args ...any)) {
	seen := map[string]bool{}
	for i, p := range c.PublishingProfiles {
		f := fmt.Sprintf("publishing_profiles[%d]", i)
		c.validateProfileHead(bad, f, "publishing profile", "discovery-nightly", seen, p.head())
		if !publishingRecords[p.Records] {
			bad(f+".records", "%q is not one of %s", p.Records, keys(publishingRecords))
		}
		switch {
		case p.Records == "set" && p.Set <= 0:
			bad(f+".set", "records: set needs the id of a set (a positive number)")
		case p.Records == "set" && p.Institution == "*":
			bad(f+".institution", `records: set needs one institution (a set belongs to one), not "*"`)
		case p.Records != "set" && p.Set != 0:
			bad(f+".set", "a set is only used with records: set (records is %q)", p.Records)
		}
		if !publishingFormats[p.Format] {
			bad(f+".format", "%q is not one of %s", p.Format, keys(publishingFormats))
		}
		if p.Directory == "" {
			bad(f+".directory", "is required (where the files go, on the server)")
		} else if !filepath.IsAbs(p.Directory) {
			bad(f+".directory", "%q must be an absolute path (server and workers must agree on it)", p.Directory)
		}
		if p.RotateEvery < 1 {
			bad(f+".rotate_every", "must be at least 1, got %d", p.RotateEvery)
		}
	}
	for i, jt := range c.JobTypes {
		for j, p := range jt.Params {
			switch {
			case p.ValuesFrom == "":
			case p.ValuesFrom != "publishing_profiles":
				bad(fmt.Sprintf("job_types[%d].params[%d].values_from", i, j), "%q is not publishing_profiles", p.ValuesFrom)
			case p.Type != "string":
				bad(fmt.Sprintf("job_types[%d].params[%d].values_from", i, j), "only a string parameter takes its values from the configuration (type is %q)", p.Type)
			}
		}
	}
	if !filepath.IsAbs(c.JobFiles.Directory) {
		bad("job_files.directory", "%q must be an absolute path (server and workers must agree on it)", c.JobFiles.Directory)
	}
	if c.JobFiles.RotateEvery < 1 {
		bad("job_files.rotate_every", "must be at least 1, got %d", c.JobFiles.RotateEvery)
	}
}

// PublishingProfile returns the publishing profile with the id if
// institution may use it.
func (c *Config) PublishingProfile(id, institution string) (*PublishingProfile, bool) {
	return findProfile(c.PublishingProfiles, id, institution)
}

// PublishingProfilesFor returns the ids of the publishing profiles
// institution may use.
func (c *Config) PublishingProfilesFor(institution string) []string {
	return profileIDs(c.PublishingProfiles, institution)
}

func (p *PublishingProfile) head() profileHead { return profileHead{p.ID, p.Institution, p.Name} }

// Summary is a one-line description of the profile.
func (p *PublishingProfile) Summary() string {
	src := "all bibs"
	if p.Records == "set" {
		src = fmt.Sprintf("set %d", p.Set)
	}
	gz := ""
	if p.Gzip {
		gz = ", gzip"
	}
	return fmt.Sprintf("%s → %s, %d records per file%s", src, p.Directory, p.RotateEvery, gz)
}
