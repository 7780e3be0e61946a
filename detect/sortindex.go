package detect

// SortedIndex returns the indices of xs in ascending order of value, the
// order BenjaminiHochberg ranks p-values in, for code that computes
// q-values of part of a corpus the same way.
func SortedIndex(xs []float64) []int { return sortedIndex(xs) }
