package attack

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrInvalidUTF8 is wrapped by the error a text attack returns for input
// that is not valid UTF-8 (repair it first, e.g. with strings.ToValidUTF8).
var ErrInvalidUTF8 = errors.New("text is not valid UTF-8")

// homoglyphPairs maps Latin letters to Cyrillic or Greek letters that look
// the same in most fonts. Read-only.
var homoglyphPairs = [...][2]rune{
	{'a', 'а'}, // U+0430 CYRILLIC SMALL LETTER A
	{'c', 'с'}, // U+0441 CYRILLIC SMALL LETTER ES
	{'d', 'ԁ'}, // U+0501 CYRILLIC SMALL LETTER KOMI DE
	{'e', 'е'}, // U+0435 CYRILLIC SMALL LETTER IE
	{'h', 'һ'}, // U+04BB CYRILLIC SMALL LETTER SHHA
	{'i', 'і'}, // U+0456 CYRILLIC SMALL LETTER BYELORUSSIAN-UKRAINIAN I
	{'j', 'ј'}, // U+0458 CYRILLIC SMALL LETTER JE
	{'l', 'ӏ'}, // U+04CF CYRILLIC SMALL LETTER PALOCHKA
	{'o', 'о'}, // U+043E CYRILLIC SMALL LETTER O
	{'p', 'р'}, // U+0440 CYRILLIC SMALL LETTER ER
	{'q', 'ԛ'}, // U+051B CYRILLIC SMALL LETTER QA
	{'s', 'ѕ'}, // U+0455 CYRILLIC SMALL LETTER DZE
	{'v', 'ν'}, // U+03BD GREEK SMALL LETTER NU
	{'w', 'ԝ'}, // U+051D CYRILLIC SMALL LETTER WE
	{'x', 'х'}, // U+0445 CYRILLIC SMALL LETTER HA
	{'y', 'у'}, // U+0443 CYRILLIC SMALL LETTER U
	{'A', 'А'}, // U+0410 CYRILLIC CAPITAL LETTER A
	{'B', 'В'}, // U+0412 CYRILLIC CAPITAL LETTER VE
	{'C', 'С'}, // U+0421 CYRILLIC CAPITAL LETTER ES
	{'E', 'Е'}, // U+0415 CYRILLIC CAPITAL LETTER IE
	{'H', 'Н'}, // U+041D CYRILLIC CAPITAL LETTER EN
	{'I', 'І'}, // U+0406 CYRILLIC CAPITAL LETTER BYELORUSSIAN-UKRAINIAN I
	{'J', 'Ј'}, // U+0408 CYRILLIC CAPITAL LETTER JE
	{'K', 'К'}, // U+041A CYRILLIC CAPITAL LETTER KA
	{'M', 'М'}, // U+041C CYRILLIC CAPITAL LETTER EM
	{'N', 'Ν'}, // U+039D GREEK CAPITAL LETTER NU
	{'O', 'О'}, // U+041E CYRILLIC CAPITAL LETTER O
	{'P', 'Р'}, // U+0420 CYRILLIC CAPITAL LETTER ER
	{'S', 'Ѕ'}, // U+0405 CYRILLIC CAPITAL LETTER DZE
	{'T', 'Т'}, // U+0422 CYRILLIC CAPITAL LETTER TE
	{'X', 'Х'}, // U+0425 CYRILLIC CAPITAL LETTER HA
	{'Y', 'Ү'}, // U+04AE CYRILLIC CAPITAL LETTER STRAIGHT U
	{'Z', 'Ζ'}, // U+0396 GREEK CAPITAL LETTER ZETA
}

// Homoglyph returns the Cyrillic or Greek look-alike that Homoglyphs puts in
// place of the Latin letter r, and whether r has one.
func Homoglyph(r rune) (rune, bool) {
	if r > 'z' {
		return r, false
	}
	for _, p := range homoglyphPairs {
		if p[0] == r {
			return p[1], true
		}
	}
	return r, false
}

// FromHomoglyph is the inverse of Homoglyph: it returns the Latin letter
// whose look-alike r is, and whether r is one. Mapping a text through it
// undoes Homoglyphs, provided the text had none of the look-alikes before.
func FromHomoglyph(r rune) (rune, bool) {
	for _, p := range homoglyphPairs {
		if p[1] == r {
			return p[0], true
		}
	}
	return r, false
}

// zeroWidthRunes are the invisible characters ZeroWidth inserts. Read-only.
var zeroWidthRunes = [...]rune{
	'\u200B', // ZERO WIDTH SPACE
	'\u200C', // ZERO WIDTH NON-JOINER
	'\u200D', // ZERO WIDTH JOINER
	'\u2060', // WORD JOINER
	'\uFEFF', // ZERO WIDTH NO-BREAK SPACE (byte order mark)
}

// IsZeroWidth reports whether r is one of the characters ZeroWidth inserts:
// U+200B, U+200C, U+200D, U+2060 or U+FEFF.
func IsZeroWidth(r rune) bool {
	for _, z := range zeroWidthRunes {
		if r == z {
			return true
		}
	}
	return false
}

// mapRunes is the shared body of the rune-by-rune text attacks: it counts
// the runes of text for which eligible holds, picks round(frac·count) of
// them, and writes text with each picked rune r replaced by edit(r).
func mapRunes(rng *rand.Rand, text string, frac float64, eligible func(rune) bool, edit func(*strings.Builder, rune)) (string, error) {
	if !utf8.ValidString(text) {
		return "", ErrInvalidUTF8
	}
	n := 0
	for _, r := range text {
		if eligible(r) {
			n++
		}
	}
	m, err := edits(rng, frac, n)
	if err != nil {
		return "", err
	}
	if m == 0 {
		return text, nil
	}
	pick := choose(rng, n, m)
	var b strings.Builder
	b.Grow(len(text) + 3*m)
	k := 0
	for _, r := range text {
		if !eligible(r) {
			b.WriteRune(r)
			continue
		}
		if pick[k] {
			edit(&b, r)
		} else {
			b.WriteRune(r)
		}
		k++
	}
	return b.String(), nil
}

// Homoglyphs returns text with round(frac·n) of its n replaceable letters,
// chosen uniformly, replaced by their look-alikes. The replaceable letters
// are the ASCII letters for which Homoglyph reports a look-alike.
func Homoglyphs(rng *rand.Rand, text string, frac float64) (string, error) {
	out, err := mapRunes(rng, text, frac,
		func(r rune) bool { _, ok := Homoglyph(r); return ok },
		func(b *strings.Builder, r rune) { g, _ := Homoglyph(r); b.WriteRune(g) })
	if err != nil {
		return "", fmt.Errorf("attack: homoglyphs: %w", err)
	}
	return out, nil
}

// ZeroWidth returns text with a zero-width character, drawn uniformly from
// those IsZeroWidth lists, inserted after round(frac·n) of its n characters
// (runes), chosen uniformly.
func ZeroWidth(rng *rand.Rand, text string, frac float64) (string, error) {
	out, err := mapRunes(rng, text, frac,
		func(rune) bool { return true },
		func(b *strings.Builder, r rune) {
			b.WriteRune(r)
			b.WriteRune(zeroWidthRunes[rng.IntN(len(zeroWidthRunes))])
		})
	if err != nil {
		return "", fmt.Errorf("attack: zero-width: %w", err)
	}
	return out, nil
}

// flipCase returns r in the other case: upper or title case to lower, lower
// to upper. It returns r itself for a rune without a (single-rune) case
// counterpart, such as a digit or 'ß'.
func flipCase(r rune) rune {
	switch {
	case unicode.IsUpper(r), unicode.IsTitle(r):
		return unicode.ToLower(r)
	case unicode.IsLower(r):
		return unicode.ToUpper(r)
	}
	return r
}

// Case returns text with the case of round(frac·n) of its n case-flippable
// letters, chosen uniformly, flipped: upper and title case become lower,
// lower becomes upper (Unicode simple case mappings). A letter is
// case-flippable if the flip changes it; so 'ß', which has no single-rune
// upper case, is not. Every picked letter changes, and the number of runes
// stays the same.
func Case(rng *rand.Rand, text string, frac float64) (string, error) {
	out, err := mapRunes(rng, text, frac,
		func(r rune) bool { return flipCase(r) != r },
		func(b *strings.Builder, r rune) { b.WriteRune(flipCase(r)) })
	if err != nil {
		return "", fmt.Errorf("attack: case: %w", err)
	}
	return out, nil
}

// Whitespace returns text with round(frac·n) of its n whitespace runs
// (maximal runs of runes for which unicode.IsSpace holds), chosen
// uniformly, changed by one edit each, drawn uniformly from those that
// apply to the run:
//
//   - double a space: insert a second ' ' after the run's first ' ';
//   - replace the run's first ' ' by '\n' or '\t' (even odds);
//   - add a trailing space: insert ' ' before the run's first '\n' (or
//     before its "\r\n").
//
// A run with neither ' ' nor '\n' (say a lone tab) gets a ' ' appended.
// Every picked run changes; the edits stay inside the runs, so the other
// runes and the number of runs are unchanged.
func Whitespace(rng *rand.Rand, text string, frac float64) (string, error) {
	if !utf8.ValidString(text) {
		return "", fmt.Errorf("attack: whitespace: %w", ErrInvalidUTF8)
	}
	n := 0
	inRun := false
	for _, r := range text {
		sp := unicode.IsSpace(r)
		if sp && !inRun {
			n++
		}
		inRun = sp
	}
	m, err := edits(rng, frac, n)
	if err != nil {
		return "", fmt.Errorf("attack: whitespace: %w", err)
	}
	if m == 0 {
		return text, nil
	}
	pick := choose(rng, n, m)
	var b strings.Builder
	b.Grow(len(text) + m)
	k := 0
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		if !unicode.IsSpace(r) {
			b.WriteString(text[i : i+size])
			i += size
			continue
		}
		j := i + size
		for j < len(text) {
			r, size := utf8.DecodeRuneInString(text[j:])
			if !unicode.IsSpace(r) {
				break
			}
			j += size
		}
		run := text[i:j]
		if pick[k] {
			run = editRun(rng, run)
		}
		b.WriteString(run)
		k++
		i = j
	}
	return b.String(), nil
}

// editRun applies one of Whitespace's edits, drawn uniformly from those
// that apply, to the whitespace run.
func editRun(rng *rand.Rand, run string) string {
	sp := strings.IndexByte(run, ' ')
	nl := strings.IndexByte(run, '\n')
	const (
		double = iota
		replace
		trailing
	)
	var ops [3]int
	n := 0
	if sp >= 0 {
		ops[n], ops[n+1] = double, replace
		n += 2
	}
	if nl >= 0 {
		ops[n] = trailing
		n++
	}
	if n == 0 {
		return run + " "
	}
	switch ops[rng.IntN(n)] {
	case double:
		return run[:sp+1] + " " + run[sp+1:]
	case replace:
		c := "\n"
		if rng.IntN(2) == 1 {
			c = "\t"
		}
		return run[:sp] + c + run[sp+1:]
	default:
		if nl > 0 && run[nl-1] == '\r' {
			nl-- // keep "\r\n" together
		}
		return run[:nl] + " " + run[nl:]
	}
}
