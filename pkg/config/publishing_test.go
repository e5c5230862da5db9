package config_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	shipped "github.com/bindery/bindery/config"
	"github.com/bindery/bindery/pkg/config"
)

func TestPublishingProfiles(t *testing.T) {
	c, err := config.Parse("bindery.yaml", shipped.Default)
	require.NoError(t, err)
	p, ok := c.PublishingProfile("discovery", "DEMO2")
	require.True(t, ok, `a "*" profile is every institution's`)
	require.Equal(t, "marc21", p.Format)
	require.Equal(t, []string{"discovery"}, c.PublishingProfilesFor("DEMO"))
	jt, _ := c.JobType("general-publishing")
	in, _ := c.Institution("DEMO")
	_, err = jt.ResolveParams(in, map[string]string{"profile": "nosuch"})
	require.EqualError(t, err, `parameter "profile": "nosuch" is not one of discovery`, "an unknown profile is refused at submit")
	params, err := jt.ResolveParams(in, map[string]string{"profile": "discovery"})
	require.NoError(t, err)
	require.Equal(t, map[string]any{"profile": "discovery", "mode": "incremental"}, params)

	const profile = "  - id: discovery\n    institution: \"*\"\n"
	cases := []struct{ from, to, want string }{
		{"    format: marc21\n", "    format: json\n", `publishing_profiles[0].format: "json" is not one of marc21, marcxml`},
		{"    directory: /var/tmp/bindery/publishing/discovery\n", "    directory: var/publishing\n",
			`publishing_profiles[0].directory: "var/publishing" must be an absolute path`},
		{"    records: all\n", "    records: set\n", `publishing_profiles[0].set: records: set needs the id of a set`},
		{"    records: all\n", "    records: set\n    set: 4\n", `publishing_profiles[0].institution: records: set needs one institution`},
		{"    rotate_every: 100000\n    gzip", "    rotate_every: -1\n    gzip", `publishing_profiles[0].rotate_every: must be at least 1, got -1`},
		{profile, "  - id: Discovery\n    institution: \"*\"\n", `publishing_profiles[0].id: "Discovery" is not a kebab-case id`},
		{profile, "  - id: discovery\n    institution: NOPE\n", `publishing_profiles[0].institution: unknown institution "NOPE"`},
		{"job_files:\n  directory: /var/tmp/bindery/job-files\n", "job_files:\n  directory: files\n", `job_files.directory: "files" must be an absolute path`},
		{"values_from: publishing_profiles", "values_from: import_profiles", `values_from: "import_profiles" is not publishing_profiles`},
	}
	for _, tc := range cases {
		edited := strings.Replace(string(shipped.Default), tc.from, tc.to, 1)
		require.NotEqual(t, string(shipped.Default), edited, tc.from)
		_, err := config.Parse("bindery.yaml", []byte(edited))
		require.ErrorContains(t, err, tc.want)
	}
}
