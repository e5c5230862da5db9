// Package fair is the admission controller's policy: which chunk goes to
// the queue next (weighted fair sharing across institutions, then across
// the running jobs of one institution), the fleet-wide peak-hour cap on bulk
// work (a Redis semaphore with leases), load-aware bulk admission (AIMD on a
// PostgreSQL latency probe) and the capacity report that shows all three.
package fair

import "sort"

// Candidate is a running job that may receive chunks in this admission pass.
type Candidate struct {
	JobID       int64
	Institution string
	// InstWeight is the institution's priority weight; JobWeight the job's
	// weight among its institution's jobs (its class's queue weight).
	InstWeight, JobWeight int
	// Free is how many chunks the job may take now (its window, its pending
	// chunks); 0 keeps the job (and its institution) backlogged without
	// receiving any.
	Free int
	// Budgets are shared allowances (an institution's peak cap, the bulk
	// admission rate) every pick of this job spends one of; a job whose
	// budget is spent receives no more in this pass.
	Budgets []*int
}

// flow is one stride-scheduled party: an institution, or a job within one.
type flow struct {
	pass float64
	seen uint64 // the Plan generation that last saw it backlogged
}

// Scheduler is stride scheduling at two levels. Every chunk admitted to an
// institution advances its pass by 1/weight; the next chunk goes to the
// backlogged institution with the lowest pass, so over any stretch where two
// institutions both have work, their admitted chunks are in the ratio of
// their weights, and an idle institution's share goes to the others.
// Within the institution the same rule over its jobs (weight: the class's
// queue weight) round-robins equal jobs, so a small job's chunks are admitted
// beside a million-record job's from its first pass, not after them.
//
// A new job gets a head start of HeadStart chunks over its institution's
// running jobs (a job of up to that many chunks is admitted as if it ran
// alone; longer ones then share round-robin). A party returning from
// idleness starts at the current virtual time (it does not bank credit
// for the time it had no work), and one held back
// (window full, peak cap) may fall at most lag chunks behind, so it neither
// loses its share to short stalls nor floods the queue after long ones.
//
// Scheduler is not safe for concurrent use; the engine leader owns one.
type Scheduler struct {
	// HeadStart is how many chunks a new job may take ahead of its
	// institution's other jobs before round-robin (0: none).
	HeadStart int

	gen   uint64
	vt    float64            // virtual time across institutions
	vtIn  map[string]float64 // virtual time within each institution
	insts map[string]*flow
	jobs  map[int64]*flow
}

// NewScheduler returns an empty scheduler.
func NewScheduler() *Scheduler {
	return &Scheduler{vtIn: map[string]float64{}, insts: map[string]*flow{}, jobs: map[int64]*flow{}}
}

// Plan returns up to n job ids, one per chunk to admit, in admission order.
// cands lists every running job with pending chunks; lag bounds how many
// chunks a held-back party may fall behind (the fleet window is a good lag).
func (s *Scheduler) Plan(cands []Candidate, n, lag int) []int64 {
	s.gen++
	if lag < 1 {
		lag = 1
	}
	byInst := map[string][]*Candidate{}
	var names []string
	for i := range cands {
		c := &cands[i]
		if c.InstWeight < 1 {
			c.InstWeight = 1
		}
		if c.JobWeight < 1 {
			c.JobWeight = 1
		}
		if _, ok := byInst[c.Institution]; !ok {
			names = append(names, c.Institution)
		}
		byInst[c.Institution] = append(byInst[c.Institution], c)
	}
	sort.Strings(names) // deterministic ties
	for _, name := range names {
		cs := byInst[name]
		s.insts[name] = s.join(s.insts[name], s.vt, float64(lag)/float64(cs[0].InstWeight))
		vt := s.vtIn[name]
		for _, c := range cs {
			f, isNew := s.jobs[c.JobID], s.jobs[c.JobID] == nil
			f = s.join(f, vt, float64(lag)/float64(c.JobWeight))
			if isNew {
				f.pass -= float64(s.HeadStart) / float64(c.JobWeight)
			}
			s.jobs[c.JobID] = f
		}
	}
	s.forget()

	var picks []int64
	for len(picks) < n {
		var inst string
		var best *Candidate
		for _, name := range names {
			f := s.insts[name]
			if inst != "" && f.pass >= s.insts[inst].pass {
				continue
			}
			if j := s.pickJob(byInst[name]); j != nil {
				inst, best = name, j
			}
		}
		if best == nil {
			break
		}
		fi, fj := s.insts[inst], s.jobs[best.JobID]
		s.vt, s.vtIn[inst] = fi.pass, fj.pass
		fi.pass += 1 / float64(best.InstWeight)
		fj.pass += 1 / float64(best.JobWeight)
		best.Free--
		for _, b := range best.Budgets {
			*b--
		}
		picks = append(picks, best.JobID)
	}
	return picks
}

// pickJob is the job of one institution with the lowest pass that may take a
// chunk now (ties: the older job).
func (s *Scheduler) pickJob(cs []*Candidate) *Candidate {
	var best *Candidate
	for _, c := range cs {
		if !c.eligible() {
			continue
		}
		if best == nil || s.jobs[c.JobID].pass < s.jobs[best.JobID].pass ||
			(s.jobs[c.JobID].pass == s.jobs[best.JobID].pass && c.JobID < best.JobID) {
			best = c
		}
	}
	return best
}

func (c *Candidate) eligible() bool {
	if c.Free <= 0 {
		return false
	}
	for _, b := range c.Budgets {
		if *b <= 0 {
			return false
		}
	}
	return true
}

// join brings a party into this generation: a new or returning one starts
// at the virtual time; a continuing one falls no more than maxLag behind it.
func (s *Scheduler) join(f *flow, vt, maxLag float64) *flow {
	if f == nil {
		return &flow{pass: vt, seen: s.gen}
	}
	switch {
	case f.seen != s.gen-1:
		f.pass = max(f.pass, vt)
	case f.pass < vt-maxLag:
		f.pass = vt - maxLag
	}
	f.seen = s.gen
	return f
}

// forget drops parties that were not backlogged in this generation.
func (s *Scheduler) forget() {
	for id, f := range s.jobs {
		if f.seen != s.gen {
			delete(s.jobs, id)
		}
	}
	// Institutions keep their pass while idle (a few bytes each): a party
	// that returns is raised to the virtual time anyway, and keeping it
	// means one that finished a job and submits the next at once cannot
	// reset itself below the others.
	for name, f := range s.insts {
		if f.seen != s.gen && s.gen-f.seen > 1<<20 {
			delete(s.insts, name)
		}
	}
}
