package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Result is one measurement, or the median of several (then Runs holds each).
// It is meant to be kept as JSON next to the commit it measured.
type Result struct {
	Workload string            `json:"workload"`
	Mode     Mode              `json:"mode"`
	Params   map[string]string `json:"params,omitempty"` // settings (flags) of the run
	Labels   map[string]string `json:"labels,omitempty"` // engine, host, Go version...
	Start    time.Time         `json:"start"`            // when the run began, warm-up included; RFC 3339, seconds

	IntendedRate float64 `json:"intended_rate"` // ops/s; 0 in closed loop
	Concurrency  int     `json:"concurrency"`   // closed-loop workers, or open-loop max in flight
	WarmupSec    float64 `json:"warmup_s"`
	DurationSec  float64 `json:"duration_s"` // requested measured period
	ElapsedSec   float64 `json:"elapsed_s"`  // measured period as it happened, until the last completion
	AchievedRate float64 `json:"achieved_rate"`

	OK           int64         `json:"ok"`
	Errors       int64         `json:"errors"`
	Dropped      int64         `json:"dropped"` // open loop: never issued before the drain deadline
	ErrorSamples []ErrorSample `json:"error_samples,omitempty"`

	// Latency covers every measured operation: ok, failed and dropped.
	Latency Latency `json:"latency"`
	// DispatchLag (open loop) is how late requests were issued against the
	// schedule, waits for a free slot included. Large lag with small server
	// latency means the generator, not the server, is the bottleneck.
	DispatchLag *Latency `json:"dispatch_lag,omitempty"`
	// Histogram is the latency histogram (µs) in HdrHistogram's compressed
	// V2 form, for merging runs or plotting with HdrHistogram tools.
	Histogram string `json:"hdr_histogram,omitempty"`

	Extra map[string]any `json:"extra,omitempty"` // workload-specific figures
	Runs  []Result       `json:"runs,omitempty"`
}

func (r *Result) setHistogram(h *hdrhistogram.Histogram) {
	if b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase); err == nil {
		r.Histogram = string(b)
	}
}

// LatencyHistogram decodes Histogram; values are microseconds.
func (r Result) LatencyHistogram() (*hdrhistogram.Histogram, error) {
	if r.Histogram == "" {
		return nil, fmt.Errorf("bench: result has no histogram")
	}
	return hdrhistogram.Decode([]byte(r.Histogram))
}

// Summary is the headline of a secondary measurement, for Extra.
type Summary struct {
	AchievedRate float64 `json:"achieved_rate"`
	OK           int64   `json:"ok"`
	Errors       int64   `json:"errors"`
	Latency      Latency `json:"latency"`
}

// Summary returns r's headline figures.
func (r Result) Summary() Summary {
	return Summary{AchievedRate: r.AchievedRate, OK: r.OK, Errors: r.Errors, Latency: r.Latency}
}

// WriteJSON writes r as indented JSON.
func (r Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// Print writes r for people: a title, then one figure per line.
func (r Result) Print(w io.Writer) error {
	title := fmt.Sprintf("%s (%s)", r.Workload, r.Mode)
	if len(r.Runs) > 1 {
		title = fmt.Sprintf("%s (%s, median of %d runs)", r.Workload, r.Mode, len(r.Runs))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	line := func(k, format string, a ...any) { fmt.Fprintf(tw, "  %s\t"+format+"\n", append([]any{k}, a...)...) }
	fmt.Fprintln(tw, title)
	line("start", "%s", r.Start.UTC().Format(time.RFC3339))
	if r.Mode == OpenLoop {
		line("intended_rate", "%.1f ops/s", r.IntendedRate)
		line("max_in_flight", "%d", r.Concurrency)
	} else {
		line("concurrency", "%d", r.Concurrency)
	}
	line("warmup", "%.1f s", r.WarmupSec)
	line("duration", "%.1f s", r.DurationSec)
	line("elapsed", "%.2f s", r.ElapsedSec)
	line("achieved_rate", "%.1f ops/s", r.AchievedRate)
	line("ok", "%d", r.OK)
	line("errors", "%d", r.Errors)
	line("dropped", "%d", r.Dropped)
	printLatency(line, "latency", r.Latency)
	if r.DispatchLag != nil {
		line("dispatch_lag_p50", "%.3f ms", r.DispatchLag.P50)
		line("dispatch_lag_p99", "%.3f ms", r.DispatchLag.P99)
		line("dispatch_lag_max", "%.3f ms", r.DispatchLag.Max)
	}
	if len(r.Labels) > 0 {
		line("labels", "%s", joinSorted(r.Labels))
	}
	if len(r.Params) > 0 {
		line("params", "%s", joinSorted(r.Params))
	}
	for _, kv := range flatten("extra", plain(r.Extra)) {
		line(kv[0], "%s", kv[1])
	}
	for _, e := range r.ErrorSamples {
		line("error", "%d× %s", e.Count, e.Error)
	}
	for i, run := range r.Runs {
		line(fmt.Sprintf("run.%d", i+1), "%.1f ops/s  ok %d  errors %d  p50 %.3f ms  p99 %.3f ms  max %.3f ms",
			run.AchievedRate, run.OK, run.Errors, run.Latency.P50, run.Latency.P99, run.Latency.Max)
	}
	return tw.Flush()
}

func joinSorted(m map[string]string) string {
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, " ")
}

func printLatency(line func(k, format string, a ...any), prefix string, l Latency) {
	line(prefix+"_count", "%d", l.Count)
	line(prefix+"_p50", "%.3f ms", l.P50)
	line(prefix+"_p90", "%.3f ms", l.P90)
	line(prefix+"_p99", "%.3f ms", l.P99)
	line(prefix+"_p99.9", "%.3f ms", l.P999)
	line(prefix+"_max", "%.3f ms", l.Max)
	line(prefix+"_mean", "%.3f ms", l.Mean)
}

// plain turns v into the maps, slices, float64s and strings JSON decoding
// yields, so Extra reads the same before and after a round trip.
func plain(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return fmt.Sprint(v)
	}
	return out
}

// flatten lists the leaves of a plain value as dotted keys, sorted.
func flatten(prefix string, v any) [][2]string {
	switch v := v.(type) {
	case nil:
		return nil
	case map[string]any:
		var out [][2]string
		for _, k := range slices.Sorted(maps.Keys(v)) {
			out = append(out, flatten(prefix+"."+k, v[k])...)
		}
		return out
	case float64:
		return [][2]string{{prefix, formatFloat(v)}}
	default:
		return [][2]string{{prefix, fmt.Sprint(v)}}
	}
}

func formatFloat(v float64) string {
	switch {
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) >= 1:
		return strconv.FormatFloat(v, 'f', 3, 64)
	default:
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
}
