package fair

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/bindery/bindery/pkg/config"
)

// Load is load-aware admission of the bulk class: additive increase,
// multiplicative decrease of an admission rate (chunks/s) driven by the p95
// of a PostgreSQL latency probe. Unlimited while PostgreSQL is fast; at the
// first slow interval the rate becomes the bulk rate just observed times
// Decrease; every further slow interval multiplies it again (down to
// MinRate); every fast one adds Increase, and once the rate is back at what
// bulk work ran at unlimited, the limit lifts. Admission spends a token per
// bulk chunk from a bucket filled at the rate (holding one second's worth).
//
// Load is not safe for concurrent use; the engine leader owns one.
type Load struct {
	cfg config.LoadControl
	now func() time.Time

	samples []time.Duration // probe latencies of the current interval
	p95     time.Duration

	limited  bool
	rate     float64 // chunks/s while limited
	ceiling  float64 // bulk rate observed when the limit began
	tokens   float64
	lastFill time.Time

	admitted     int     // bulk chunks admitted this interval
	observed     float64 // bulk chunks/s, smoothed
	intervalFrom time.Time
	reason       string
}

// NewLoad returns an unlimited controller.
func NewLoad(cfg config.LoadControl, now func() time.Time) *Load {
	t := now()
	return &Load{cfg: cfg, now: now, intervalFrom: t, lastFill: t, reason: "no probe yet"}
}

// Observe records one probe latency; every Interval it adjusts the rate.
func (l *Load) Observe(d time.Duration) {
	l.samples = append(l.samples, d)
	now := l.now()
	elapsed := now.Sub(l.intervalFrom)
	if elapsed < l.cfg.Interval {
		return
	}
	rate := float64(l.admitted) / elapsed.Seconds()
	if l.observed == 0 {
		l.observed = rate
	} else {
		l.observed = 0.5*l.observed + 0.5*rate
	}
	l.admitted = 0
	l.intervalFrom = now
	slices.Sort(l.samples)
	l.p95 = l.samples[int(math.Ceil(0.95*float64(len(l.samples))))-1]
	l.samples = l.samples[:0]
	l.adjust()
}

func (l *Load) adjust() {
	th := l.cfg.Threshold
	switch {
	case l.p95 > th && !l.limited:
		l.limited = true
		l.ceiling = max(l.observed, l.cfg.MinRate)
		l.rate = max(l.cfg.MinRate, l.observed*l.cfg.Decrease)
		l.tokens = 0
		l.lastFill = l.now()
		l.reason = fmt.Sprintf("PostgreSQL probe p95 %s above %s: bulk rate cut to %.1f chunks/s (from %.1f observed)", ms(l.p95), ms(th), l.rate, l.observed)
	case l.p95 > th:
		l.rate = max(l.cfg.MinRate, l.rate*l.cfg.Decrease)
		l.reason = fmt.Sprintf("PostgreSQL probe p95 %s above %s: bulk rate cut to %.1f chunks/s", ms(l.p95), ms(th), l.rate)
	case l.limited && l.rate+l.cfg.Increase >= l.ceiling:
		l.limited = false
		l.reason = fmt.Sprintf("PostgreSQL probe p95 %s within %s: bulk rate back to unlimited", ms(l.p95), ms(th))
	case l.limited:
		l.rate += l.cfg.Increase
		l.reason = fmt.Sprintf("PostgreSQL probe p95 %s within %s: bulk rate raised to %.1f chunks/s", ms(l.p95), ms(th), l.rate)
	default:
		l.reason = fmt.Sprintf("PostgreSQL probe p95 %s within %s: unlimited", ms(l.p95), ms(th))
	}
}

func ms(d time.Duration) string { return d.Round(100 * time.Microsecond).String() }

// Allowance is how many bulk chunks may be admitted now (math.MaxInt32
// while unlimited).
func (l *Load) Allowance() int {
	if !l.limited {
		return math.MaxInt32
	}
	now := l.now()
	l.tokens = min(max(l.rate, 1), l.tokens+l.rate*now.Sub(l.lastFill).Seconds())
	l.lastFill = now
	return int(l.tokens)
}

// Admitted spends n tokens for n bulk chunks admitted.
func (l *Load) Admitted(n int) {
	l.admitted += n
	if l.limited {
		l.tokens = max(0, l.tokens-float64(n))
	}
}

// LoadState is what `bindery capacity` shows of load-aware admission.
type LoadState struct {
	Limited     bool    `json:"limited"`
	Rate        float64 `json:"rate"` // chunks/s while limited
	ObservedCPS float64 `json:"observed_rate"`
	P95Ms       float64 `json:"probe_p95_ms"`
	ThresholdMs float64 `json:"threshold_ms"`
	Reason      string  `json:"reason"`
}

// State reports the controller's current state.
func (l *Load) State() LoadState {
	return LoadState{Limited: l.limited, Rate: l.rate, ObservedCPS: l.observed,
		P95Ms:       float64(l.p95.Microseconds()) / 1000,
		ThresholdMs: float64(l.cfg.Threshold.Microseconds()) / 1000, Reason: l.reason}
}
