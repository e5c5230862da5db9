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
