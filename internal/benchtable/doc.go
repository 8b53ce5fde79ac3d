// Package benchtable holds `task bench`'s table: every figure of the speed
// issue measured in one run beside its baseline from the same run, printed
// and (with BENCH_WRITE=1) written to docs/benchmarks.md. It has no code of
// its own outside its tests.
package benchtable
