package fair

import "time"

// Capacity is the admission controller's view of the fleet at one moment,
// published by the engine leader and shown by `bindery capacity`.
type Capacity struct {
	At          time.Time `json:"at"`
	FleetSlots  int       `json:"fleet_slots"`  // worker slots of live workers
	FleetWindow int       `json:"fleet_window"` // chunks the admission keeps in flight at most
	InFlight    int       `json:"in_flight"`
	// Pipeline is the fleet window in force: fewer than FleetWindow while
	// chunks are slow (2 x slots + 200 ms of chunks at ChunkRate).
	Pipeline  int     `json:"pipeline"`
	ChunkRate float64 `json:"chunk_rate"` // chunks admitted per second, smoothed
	// Bulk is load-aware admission of the bulk class.
	Bulk         LoadState             `json:"bulk"`
	Institutions []InstitutionCapacity `json:"institutions"`
}

// InstitutionCapacity is one institution's line of the report.
type InstitutionCapacity struct {
	Institution string `json:"institution"`
	Weight      int    `json:"weight"`
	// Share is the institution's share of admissions while every
	// institution has work; ActiveShare its share among those with work now.
	Share       float64 `json:"share"`
	ActiveShare float64 `json:"active_share"`
	RunningJobs int     `json:"running_jobs"`
	Pending     int     `json:"pending_chunks"` // each job's counted up to 1,024
	InFlight    int     `json:"in_flight_chunks"`
	Running     int     `json:"running_chunks"` // started by a worker, not yet committed
	TimeZone    string  `json:"time_zone"`
	LocalTime   string  `json:"local_time"`
	InPeak      bool    `json:"in_peak"`
	// BulkCap is the most bulk chunks that may run at once fleet-wide (-1:
	// no cap, off-peak); BulkHeld the slots held now.
	BulkCap  int `json:"bulk_cap"`
	BulkHeld int `json:"bulk_held"`
	// Admitted counts the chunks admitted since the leader started.
	Admitted int64 `json:"admitted"`
}

// CapacityKey is where the leader publishes the report in Redis.
const CapacityKey = "bindery:capacity"
