// Package jobs is the job model: statuses and their transitions, job
// instances, the chunk ledger and per-record reports, stored in PostgreSQL.
package jobs

// Status is a job instance's status, with the codes library staff know.
type Status string

const (
	Pending                Status = "PENDING"
	Queued                 Status = "QUEUED"
	Initializing           Status = "INITIALIZING"
	Running                Status = "RUNNING"
	Finalizing             Status = "FINALIZING"
	CompletedSuccess       Status = "COMPLETED_SUCCESS"
	CompletedWarning       Status = "COMPLETED_WARNING"
	CompletedFailed        Status = "COMPLETED_FAILED"
	CompletedNoBulks       Status = "COMPLETED_NO_BULKS"
	Failed                 Status = "FAILED"
	Skipped                Status = "SKIPPED"
	SystemAborted          Status = "SYSTEM_ABORTED"
	UserAborted            Status = "USER_ABORTED"
	ManualHandlingRequired Status = "MANUAL_HANDLING_REQUIRED"
)

// AllStatuses lists every status, in lifecycle order.
var AllStatuses = []Status{
	Pending, Queued, Initializing, Running, Finalizing,
	CompletedSuccess, CompletedWarning, CompletedFailed, CompletedNoBulks,
	Failed, Skipped, SystemAborted, UserAborted, ManualHandlingRequired,
}

// transitions is the one table of allowed status changes: to -> allowed from.
// Every status update in the store is conditioned on it.
var transitions = map[Status][]Status{
	Queued:                 {Pending},
	Initializing:           {Queued},
	Running:                {Initializing, ManualHandlingRequired},
	Finalizing:             {Running},
	CompletedSuccess:       {Finalizing},
	CompletedWarning:       {Finalizing},
	CompletedFailed:        {Finalizing},
	CompletedNoBulks:       {Initializing},
	Failed:                 {Initializing, Running, Finalizing},
	Skipped:                {Pending, Queued},
	SystemAborted:          {Pending, Queued, Initializing, Running, Finalizing, ManualHandlingRequired},
	UserAborted:            {Pending, Queued, Initializing, Running, ManualHandlingRequired},
	ManualHandlingRequired: {Running, Finalizing},
}

// AllowedFrom returns the statuses a job may be in to move to s.
func AllowedFrom(s Status) []Status { return transitions[s] }

// CanTransition reports whether from -> to is allowed.
func CanTransition(from, to Status) bool {
	for _, f := range transitions[to] {
		if f == from {
			return true
		}
	}
	return false
}

// Terminal reports whether no status may follow s.
func (s Status) Terminal() bool {
	switch s {
	case CompletedSuccess, CompletedWarning, CompletedFailed, CompletedNoBulks,
		Failed, Skipped, SystemAborted, UserAborted:
		return true
	}
	return false
}

// Succeeded reports whether a terminal status counts as success for scripts
// (`job run --wait` exits 0).
func (s Status) Succeeded() bool { return s == CompletedSuccess || s == CompletedWarning }

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	for _, a := range AllStatuses {
		if a == s {
			return true
		}
	}
	return false
}
