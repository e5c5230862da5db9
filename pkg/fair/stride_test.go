package fair

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func count(picks []int64) map[int64]int {
	m := map[int64]int{}
	for _, p := range picks {
		m[p]++
	}
	return m
}

func TestStrideWeightsAcrossInstitutions(t *testing.T) {
	s := NewScheduler()
	got := map[int64]int{}
	// Many passes of 8 admissions each, both institutions always backlogged.
	for range 300 {
		cands := []Candidate{
			{JobID: 1, Institution: "A", InstWeight: 2, JobWeight: 1, Free: 100},
			{JobID: 2, Institution: "B", InstWeight: 1, JobWeight: 1, Free: 100},
		}
		for id, n := range count(s.Plan(cands, 8, 24)) {
			got[id] += n
		}
	}
	require.Equal(t, 2400, got[1]+got[2])
	require.InDelta(t, 2.0, float64(got[1])/float64(got[2]), 0.01)
}

func TestStrideIdleShareGoesToOthers(t *testing.T) {
	s := NewScheduler()
	picks := s.Plan([]Candidate{{JobID: 1, Institution: "A", InstWeight: 2, Free: 100}}, 10, 24)
	require.Len(t, picks, 10, "a lone institution takes every slot")
	// B returns after A ran alone: it starts at the virtual time, with no
	// banked credit and no debt: 2:1 from its first pass.
	got := count(s.Plan([]Candidate{
		{JobID: 1, Institution: "A", InstWeight: 2, Free: 100},
		{JobID: 2, Institution: "B", InstWeight: 1, Free: 100},
	}, 9, 24))
	require.Equal(t, map[int64]int{1: 6, 2: 3}, got)
}

func TestStrideRoundRobinWithinInstitution(t *testing.T) {
	s := NewScheduler()
	for range 50 {
		s.Plan([]Candidate{{JobID: 1, Institution: "A", InstWeight: 1, JobWeight: 3, Free: 100}}, 8, 24)
	}
	// A small job joins its institution's million-record job: it is served
	// every other chunk at once (first, as the newest arrival), not after the big job's backlog.
	picks := s.Plan([]Candidate{
		{JobID: 1, Institution: "A", InstWeight: 1, JobWeight: 3, Free: 100},
		{JobID: 2, Institution: "A", InstWeight: 1, JobWeight: 3, Free: 3},
	}, 8, 24)
	require.Equal(t, []int64{2, 1, 2, 1, 2, 1, 1, 1}, picks)
}

func TestStrideBudgetsAndLag(t *testing.T) {
	s := NewScheduler()
	capA := 2
	for range 20 {
		c := capA
		s.Plan([]Candidate{
			{JobID: 1, Institution: "A", InstWeight: 1, Free: 100, Budgets: []*int{&c}},
			{JobID: 2, Institution: "B", InstWeight: 1, Free: 100},
		}, 10, 12)
	}
	// A was held to 2 per pass for 20 passes; once the cap lifts it catches
	// up by at most lag (12) chunks, not the hundreds it fell behind.
	got := count(s.Plan([]Candidate{
		{JobID: 1, Institution: "A", InstWeight: 1, Free: 100},
		{JobID: 2, Institution: "B", InstWeight: 1, Free: 100},
	}, 30, 12))
	require.InDelta(t, 21, got[1], 1, "12 to catch up, then half of the rest")
	// Budgets are spent per pick.
	budget := 3
	picks := s.Plan([]Candidate{{JobID: 3, Institution: "C", InstWeight: 1, Free: 10, Budgets: []*int{&budget}}}, 10, 12)
	require.Len(t, picks, 3)
	require.Equal(t, 0, budget)
}
