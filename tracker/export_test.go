package tracker

// RaceEnabled tells the external tests whether the race detector is on (timing targets are checked
// without it).
const RaceEnabled = raceEnabled
