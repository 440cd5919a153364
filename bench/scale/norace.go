//go:build !race

package scale

// raceEnabled reports a race-detector build: it handles at most 8128 live
// goroutines, so tests run a reduced size.
const raceEnabled = false
