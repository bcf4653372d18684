package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// Op is one operation of a workload. i numbers operations from 0 in issue
// order and is unique within a Run, so workloads derive unique names from it.
// ctx ends when the run is cancelled or its drain deadline passes. Op is
// called from many goroutines at once.
type Op func(ctx context.Context, i int64) error

// Mode says how load was applied; results from the two are not comparable.
type Mode string

const (
	// OpenLoop issues requests on a fixed schedule whatever the server does,
	// as independent users would. Latency is measured from the intended
	// send time, so stalls are counted in full (no coordinated omission).
	OpenLoop Mode = "open-loop"
	// ClosedLoop runs N workers back to back, each waiting for its previous
	// request. It finds capacity (throughput at saturation), but its latency
	// hides stalls: a stalled worker simply stops asking.
	ClosedLoop Mode = "closed-loop"
)

// Defaults applied by Run when a field is zero.
const (
	DefaultMaxInFlight = 1024
	DefaultDrain       = 10 * time.Second
)

// Load is the shape of one measurement.
type Load struct {
	// Rate is the intended operations per second (open loop). Zero selects
	// closed loop with Concurrency workers.
	Rate float64
	// Duration is the measured period; it follows Warmup.
	Duration time.Duration
	// Warmup operations run first, with the same shape, and are not recorded.
	Warmup time.Duration
	// MaxInFlight caps outstanding operations in open loop. When reached, the
	// next request waits for a slot and that wait is part of its latency.
	MaxInFlight int
	// Concurrency is the number of closed-loop workers.
	Concurrency int
	// Drain bounds the time after the schedule ends spent issuing requests
	// still waiting for a slot and finishing those in flight. At the deadline
	// in-flight operations are cancelled (they count as errors) and requests
	// never issued count as Dropped.
	Drain time.Duration
}

func (l Load) withDefaults() Load {
	if l.MaxInFlight == 0 {
		l.MaxInFlight = DefaultMaxInFlight
	}
	if l.Drain == 0 {
		l.Drain = DefaultDrain
	}
	return l
}

// Validate reports the first thing wrong with l, after defaults.
func (l Load) Validate() error {
	l = l.withDefaults()
	switch {
	case l.Rate < 0 || math.IsNaN(l.Rate) || math.IsInf(l.Rate, 0):
		return fmt.Errorf("rate must be a finite number >= 0, got %v", l.Rate)
	case l.Duration <= 0:
		return fmt.Errorf("duration must be > 0, got %v", l.Duration)
	case l.Warmup < 0:
		return fmt.Errorf("warmup must be >= 0, got %v", l.Warmup)
	case l.Drain < 0:
		return fmt.Errorf("drain must be >= 0, got %v", l.Drain)
	case l.Rate > 0 && l.MaxInFlight < 1:
		return fmt.Errorf("max in flight must be >= 1, got %d", l.MaxInFlight)
	case l.Rate > 0 && l.Rate*l.Duration.Seconds() < 1:
		return fmt.Errorf("rate × duration must be at least one operation, got %v/s × %v", l.Rate, l.Duration)
	case l.Rate == 0 && l.Concurrency < 1:
		return errors.New("concurrency must be >= 1 when rate is 0 (closed loop)")
	}
	return nil
}

// Run applies load to op and measures it: open loop when load.Rate > 0,
// closed loop otherwise. It returns an error for an invalid load, or when
// ctx ends before the measurement completes (with the partial result).
// Workload name, labels and params are left for the caller to fill in.
func Run(ctx context.Context, load Load, op Op) (Result, error) {
	load = load.withDefaults()
	if err := load.Validate(); err != nil {
		return Result{}, fmt.Errorf("bench: %w", err)
	}
	if load.Rate > 0 {
		return runOpen(ctx, load, op)
	}
	return runClosed(ctx, load, op)
}
