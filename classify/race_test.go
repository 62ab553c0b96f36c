//go:build race

package classify

// The race detector slows the linear matcher of the property test down
// tenfold; it then checks fewer packets against the same rule sets.
const raceEnabled = true
