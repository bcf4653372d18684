// Package bench is the "liveplane bench" harness: a load generator, latency
// histograms, JSON results, CPU pinning and a spawned server under test,
// shared by every workload (create-account now; CoAP, streams, pickup and
// provisioning later).
//
// How to read the figures:
//
//   - Open loop (--rate > 0) is the default and the one to quote for
//     latency. Request i is due at start + i/rate whether or not earlier ones
//     have finished, and its latency runs from that due time. A server stall
//     therefore shows up in every request scheduled during it, as it would
//     for real independent clients; a generator that waits for each response
//     before sending the next (coordinated omission) would record one slow
//     sample and hide the rest.
//   - Closed loop (--rate=0 --concurrency N) is for capacity: N workers back
//     to back, the achieved rate is the throughput at that concurrency. Its
//     latencies understate stalls and results say "closed-loop" to warn.
//   - Figures are medians over --runs; per-run figures are kept beside them.
//   - DispatchLag is the generator's own lateness. Compare it with the
//     latency before blaming the server.
//
// The generator itself drives a no-op at about 3 million ops/s flat out on
// one core, and at 50,000 ops/s on one core adds ~15µs median, ~40µs p99 to
// a no-op's latency (BenchmarkGeneratorOverhead, BenchmarkOpenLoop50k).
// Pin it away from the server (--client-cpus, --server-cpus) so the two do
// not compete for the same cores.
package bench
