package main

// parseIDsFast parses the common form of a --ids line, a JSON array of
// decimal integers in [0, 2^32) with optional JSON whitespace, without
// encoding/json's reflection (which cost more than detection itself). It
// reports ok = false for anything else (leading zeros, signs, exponents,
// fractions, out-of-range values, other JSON), which parseIDs then hands
// to encoding/json for its result or its error message, so the accepted
// language and the errors are encoding/json's.
func parseIDsFast(line []byte) (ids []uint32, ok bool) {
	i := skipJSONSpace(line, 0)
	if i >= len(line) || line[i] != '[' {
		return nil, false
	}
	i = skipJSONSpace(line, i+1)
	ids = make([]uint32, 0, len(line)/7+1)
	if i < len(line) && line[i] == ']' {
		return ids, skipJSONSpace(line, i+1) == len(line)
	}
	for {
		if i >= len(line) || line[i] < '0' || line[i] > '9' {
			return nil, false
		}
		if line[i] == '0' && i+1 < len(line) && line[i+1] >= '0' && line[i+1] <= '9' {
			return nil, false // a leading zero: not JSON
		}
		var v uint64
		for ; i < len(line) && line[i] >= '0' && line[i] <= '9'; i++ {
			v = v*10 + uint64(line[i]-'0')
			if v > 0xFFFFFFFF {
				return nil, false
			}
		}
		ids = append(ids, uint32(v))
		i = skipJSONSpace(line, i)
		if i >= len(line) {
			return nil, false
		}
		switch line[i] {
		case ',':
			i = skipJSONSpace(line, i+1)
		case ']':
			return ids, skipJSONSpace(line, i+1) == len(line)
		default:
			return nil, false
		}
	}
}

// skipJSONSpace returns the index of the first byte at or after i that is
// not JSON whitespace.
func skipJSONSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}
