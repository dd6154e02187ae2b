//go:build race

package fovea

// raceEnabled: the race detector reserves far more address space than the
// hostile suite's ulimit -v allows, so its child processes cannot run.
const raceEnabled = true
