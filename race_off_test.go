//go:build !race

package fovea

const raceEnabled = false
