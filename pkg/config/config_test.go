package config_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	shipped "github.com/bindery/bindery/config"
	"github.com/bindery/bindery/pkg/config"
)

func TestShippedConfig(t *testing.T) {
	c, err := config.Parse("bindery.yaml", shipped.Default)
	require.NoError(t, err)
	demo, ok := c.Institution("DEMO")
	require.True(t, ok)
	demo2, ok := c.Institution("DEMO2")
	require.True(t, ok)
	require.NotEqual(t, demo.TimeZone, demo2.TimeZone, "the demo institutions are in different time zones")
	require.Equal(t, demo.Network, demo2.Network)
	la, ok := c.JobType("loan-anonymization")
	require.True(t, ok)
	require.True(t, la.SingleInstance)
	require.Equal(t, "fulfillment", la.Category)
}

func TestInvalidConfigNamesFileFieldAndProblem(t *testing.T) {
	base := string(shipped.Default)
	cases := []struct {
		name, from, to, want string
	}{
		{"unknown time zone", "time_zone: Europe/Berlin", "time_zone: Mars/Olympus", "institutions[1].time_zone: unknown time zone \"Mars/Olympus\""},
		{"not kebab", "id: loan-anonymization", "id: LoanAnonymization", "job_types[0].id: \"LoanAnonymization\" is not a kebab-case id"},
		{"unknown queue", "priority_class: bulk", "priority_class: turbo", "job_types[0].priority_class: unknown queue \"turbo\""},
		{"bad category", "category: fulfillment", "category: magic", "job_types[0].category: \"magic\" is not one of"},
		{"unknown field", "chunk_size: 2000", "chunk_sise: 2000", "field chunk_sise not found"},
		{"bad default", "default: 1000", "default: many", "default: parameter \"records\": \"many\" is not a whole number"},
		{"unknown network", "network: DEMO-NET\n    time_zone: America", "network: NOPE\n    time_zone: America", "institutions[0].network: unknown network \"NOPE\""},
		{"control character in an institution id", "\n  - id: DEMO\n", "\n  - id: \"DE\\x1FMO\"\n", "institutions[0].id: \"DE\\x1fMO\" holds a control character"},
		{"trigger of an upload job", "run: loan-anonymization\n    params: {retention_days: \"0\"}", "run: metadata-import", "triggers[0].run: job type metadata-import runs on a file uploaded with each submission"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Contains(t, base, tc.from, "test case must change the shipped file")
			_, err := config.Parse("my.yaml", []byte(strings.Replace(base, tc.from, tc.to, 1)))
			require.Error(t, err)
			require.Contains(t, err.Error(), "my.yaml")
			require.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestResolveParams(t *testing.T) {
	c, err := config.Parse("bindery.yaml", shipped.Default)
	require.NoError(t, err)
	la, _ := c.JobType("loan-anonymization")
	demo, _ := c.Institution("DEMO")

	p, err := la.ResolveParams(demo, nil)
	require.NoError(t, err)
	require.Equal(t, int64(demo.LoanRetentionDays), p["retention_days"], "default comes from the institution")

	p, err = la.ResolveParams(demo, map[string]string{"retention_days": "7"})
	require.NoError(t, err)
	require.Equal(t, int64(7), p["retention_days"])

	for raw, want := range map[string]string{"-1": "below the minimum", "x": "not a whole number"} {
		_, err = la.ResolveParams(demo, map[string]string{"retention_days": raw})
		require.ErrorContains(t, err, want)
		require.ErrorContains(t, err, "retention_days")
	}
	_, err = la.ResolveParams(demo, map[string]string{"retention_dayz": "7"})
	require.ErrorContains(t, err, `parameter "retention_dayz": unknown parameter`)
}

func TestShippedImportProfiles(t *testing.T) {
	c, err := config.Parse("bindery.yaml", shipped.Default)
	require.NoError(t, err)
	bib, ok := c.ImportProfile("vendor-bibs", "DEMO2")
	require.True(t, ok, `an institution "*" profile is every institution's`)
	require.Equal(t, "bib", bib.RecordType)
	require.Equal(t, []string{"001", "035", "isbn"}, bib.Match)
	auth, ok := c.ImportProfile("authorities", "DEMO")
	require.True(t, ok)
	require.Equal(t, "authority", auth.RecordType)
	_, ok = c.ImportProfile("nope", "DEMO")
	require.False(t, ok)
	mi, ok := c.JobType("metadata-import")
	require.True(t, ok)
	require.Equal(t, "marc", mi.Upload)
}

func TestInvalidImportProfileNamesField(t *testing.T) {
	base := string(shipped.Default)
	cases := []struct {
		name, from, to, want string
	}{
		{"bad match", `match: ["001", "035", isbn]`, `match: ["001", "856"]`, `import_profiles[0].match[1]: "856" is not one of 001, 035, isbn, issn`},
		{"twice", `match: ["001", "035", isbn]`, `match: ["001", "001"]`, `import_profiles[0].match[1]: "001" is listed twice`},
		{"no match", `match: ["001", "035", isbn]`, `match: []`, `import_profiles[0].match: at least one match method is required`},
		{"single", "on_single_match: merge", "on_single_match: replace", `import_profiles[0].on_single_match: "replace" is not one of merge, overlay, skip`},
		{"multiple", "on_multiple_matches: skip\n    on_no_match: import\n\n  - id: authorities", "on_multiple_matches: ask\n    on_no_match: import\n\n  - id: authorities", `import_profiles[0].on_multiple_matches: "ask" is not one of import_new, skip`},
		{"no match action", "on_no_match: import\n\n  - id: authorities", "on_no_match: maybe\n\n  - id: authorities", `import_profiles[0].on_no_match: "maybe" is not one of import, reject`},
		{"format", "source_format: marc21", "source_format: json", `import_profiles[0].source_format: "json" is not one of marc21, marcxml`},
		{"encoding", "encoding: auto\n    record_type: bib", "encoding: latin1\n    record_type: bib", `import_profiles[0].encoding: "latin1" is not one of auto, marc8, utf8`},
		{"record type", "record_type: bib", "record_type: holding", `import_profiles[0].record_type: "holding" is not one of authority, bib`},
		{"institution", `institution: "*"
    name: Vendor`, `institution: NOWHERE
    name: Vendor`, `import_profiles[0].institution: unknown institution "NOWHERE"`},
		{"merge tag", `keep_from_existing: ["590", "9XX"]`, `keep_from_existing: ["59", "9XX"]`, `import_profiles[0].merge.keep_from_existing[0]: "59" is not a tag`},
		{"merge overlap", `keep_from_existing: ["590", "9XX"]`, `keep_from_existing: ["590", "9XX"]
      take_from_incoming: ["99X"]`, `import_profiles[0].merge.keep_from_existing[1]: "9XX" overlaps take_from_incoming "99X"`},
		{"merge without merge", "on_single_match: overlay\n    on_multiple", "on_single_match: overlay\n    merge: {keep_from_existing: [\"590\"]}\n    on_multiple", `import_profiles[1].merge: merge rules are only used with on_single_match: merge`},
		{"duplicate", "id: authorities", "id: vendor-bibs", `import_profiles[1].id: duplicate import profile "vendor-bibs"`},
		{"upload", "upload: marc", "upload: csv", `job_types[2].upload: "csv" is not one of marc`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Contains(t, base, tc.from, "test case must change the shipped file")
			_, err := config.Parse("my.yaml", []byte(strings.Replace(base, tc.from, tc.to, 1)))
			require.Error(t, err)
			require.Contains(t, err.Error(), "my.yaml")
			require.Contains(t, err.Error(), tc.want)
		})
	}
}
