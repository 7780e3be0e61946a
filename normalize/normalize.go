// Package normalize undoes the cheapest attacks on a watermark before text
// is tokenized for detection: invisible characters inserted between the
// letters, and Latin letters swapped for Cyrillic or Greek look-alikes.
// Both change the tokenization around every edited character, so a few
// percent of edited characters erase the evidence of a token-level
// watermark; normalizing first brings it back.
//
// Normalization is a fixed function of the text, independent of any key,
// so p-values computed on normalized text are as valid as on the original.
// It is conservative, so that text a model really wrote is left alone:
//
//   - Invisible format characters are removed: ZERO WIDTH SPACE (U+200B),
//     WORD JOINER (U+2060), ZERO WIDTH NO-BREAK SPACE / BOM (U+FEFF), SOFT
//     HYPHEN (U+00AD), MONGOLIAN VOWEL SEPARATOR (U+180E), and the
//     invisible operators U+2061–U+2064. ZERO WIDTH JOINER and NON-JOINER
//     (U+200D, U+200C) are removed only after an ASCII character, since
//     emoji sequences and Indic and Arabic-script text use them.
//   - Look-alikes are folded only in text with more Latin letters than
//     Cyrillic and Greek letters that look like no Latin letter, and only
//     in words made entirely of Latin letters and look-alikes that either
//     contain a genuine Latin letter or stand in a text with no other
//     Cyrillic or Greek letters. Russian, Serbian or Greek text, and
//     Cyrillic or Greek words inside English text, keep their letters;
//     what is still folded is a lone look-alike word in otherwise Latin
//     text (a physicist's "ν" becomes "v"), which costs detection power on
//     that word, never validity.
package normalize

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/tracemark/tracemark/tokenize"
)

// latinOf returns the Latin letter that the Cyrillic or Greek letter r is
// drawn like in common fonts, and whether it has one (a subset of Unicode's
// confusables data, restricted to whole-letter look-alikes: lower-case
// а с е һ і ј ӏ о р ԛ ѕ ԝ х у ԁ ο ν, and the capitals that look like A B C
// D E H I J K M N O P Q S T W X Y Z).
func latinOf(r rune) (rune, bool) {
	switch r {
	case 'а':
		return 'a', true
	case 'с':
		return 'c', true
	case 'е':
		return 'e', true
	case 'һ':
		return 'h', true
	case 'і':
		return 'i', true
	case 'ј':
		return 'j', true
	case 'ӏ':
		return 'l', true
	case 'о':
		return 'o', true
	case 'р':
		return 'p', true
	case 'ԛ':
		return 'q', true
	case 'ѕ':
		return 's', true
	case 'ԝ':
		return 'w', true
	case 'х':
		return 'x', true
	case 'у':
		return 'y', true
	case 'ԁ':
		return 'd', true
	case 'А':
		return 'A', true
	case 'В':
		return 'B', true
	case 'С':
		return 'C', true
	case 'Е':
		return 'E', true
	case 'Н':
		return 'H', true
	case 'І':
		return 'I', true
	case 'Ј':
		return 'J', true
	case 'К':
		return 'K', true
	case 'М':
		return 'M', true
	case 'О':
		return 'O', true
	case 'Р':
		return 'P', true
	case 'Ѕ':
		return 'S', true
	case 'Т':
		return 'T', true
	case 'Х':
		return 'X', true
	case 'Ү':
		return 'Y', true
	case 'Ԁ':
		return 'D', true
	case 'Ԛ':
		return 'Q', true
	case 'Ԝ':
		return 'W', true
	case 'ο':
		return 'o', true
	case 'ν':
		return 'v', true
	case 'Α':
		return 'A', true
	case 'Β':
		return 'B', true
	case 'Ε':
		return 'E', true
	case 'Ζ':
		return 'Z', true
	case 'Η':
		return 'H', true
	case 'Ι':
		return 'I', true
	case 'Κ':
		return 'K', true
	case 'Μ':
		return 'M', true
	case 'Ν':
		return 'N', true
	case 'Ο':
		return 'O', true
	case 'Ρ':
		return 'P', true
	case 'Τ':
		return 'T', true
	case 'Υ':
		return 'Y', true
	case 'Χ':
		return 'X', true
	}
	return r, false
}

// invisible reports whether r is always removed.
func invisible(r rune) bool {
	switch r {
	case '\u200b', '\u2060', '\ufeff', '\u00ad', '\u180e', '\u2061', '\u2062', '\u2063', '\u2064':
		return true
	}
	return false
}

// joiner reports whether r is ZERO WIDTH JOINER or NON-JOINER.
func joiner(r rune) bool { return r == '\u200c' || r == '\u200d' }

// Text returns text normalized as the package documentation describes.
// Invalid UTF-8 becomes U+FFFD (as the tokenizers do anyway).
func Text(text string) string {
	// Invalid bytes become U+FFFD first, as the tokenizer would make them,
	// so that removing a character never splices bytes into a new one.
	text = strings.ToValidUTF8(text, "\uFFFD")
	// Folding first lets a joiner that followed a look-alike go with it.
	return stripInvisible(foldLookalikes(text))
}

// stripInvisible removes the invisible characters.
func stripInvisible(text string) string {
	i := strings.IndexFunc(text, func(r rune) bool { return invisible(r) || joiner(r) })
	if i < 0 {
		return text
	}
	var b strings.Builder
	b.Grow(len(text))
	prev := rune(-1)
	for len(text) > 0 {
		r, size := utf8.DecodeRuneInString(text)
		switch {
		case invisible(r):
		case joiner(r) && prev >= 0 && prev < utf8.RuneSelf:
		default:
			b.WriteString(text[:size])
			prev = r
		}
		text = text[size:]
	}
	return b.String()
}

// foldLookalikes folds look-alike letters in text that is Latin apart from
// them.
func foldLookalikes(text string) string {
	latin, other, candidates := 0, 0, 0
	for _, r := range text {
		switch {
		case r < utf8.RuneSelf:
			if unicode.IsLetter(r) {
				latin++
			}
		case unicode.Is(unicode.Latin, r):
			latin++
		case unicode.Is(unicode.Cyrillic, r) || unicode.Is(unicode.Greek, r):
			if _, ok := latinOf(r); ok {
				candidates++
			} else {
				other++
			}
		}
	}
	if candidates == 0 || latin <= other {
		return text
	}
	var b strings.Builder
	b.Grow(len(text))
	for len(text) > 0 {
		// Copy everything up to the next letter.
		i := strings.IndexFunc(text, unicode.IsLetter)
		if i < 0 {
			b.WriteString(text)
			break
		}
		b.WriteString(text[:i])
		text = text[i:]
		j := strings.IndexFunc(text, func(r rune) bool { return !unicode.IsLetter(r) })
		if j < 0 {
			j = len(text)
		}
		word := text[:j]
		text = text[j:]
		if !foldable(word, other == 0) {
			b.WriteString(word)
			continue
		}
		for _, r := range word {
			if l, ok := latinOf(r); ok {
				r = l
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}

// foldable reports whether word should be folded: every letter is Latin or
// a look-alike, at least one is a look-alike, and either one is genuinely
// Latin or the text has no other Cyrillic or Greek letters (so "ја" in
// Serbian text or "ΚΑΙ" in Greek text stays as it is).
func foldable(word string, onlyLookalikes bool) bool {
	has, latin := false, false
	for _, r := range word {
		if _, ok := latinOf(r); ok {
			has = true
			continue
		}
		if r >= utf8.RuneSelf && !unicode.Is(unicode.Latin, r) {
			return false
		}
		latin = true
	}
	return has && (latin || onlyLookalikes)
}

// Tokenizer wraps tok so that AppendEncode normalizes its text first; its
// name gains the suffix "+normalize" so that results say what was scored.
// Decode and AppendBytes are tok's.
func Tokenizer(tok tokenize.Tokenizer) tokenize.Tokenizer { return normalizing{tok} }

type normalizing struct{ tokenize.Tokenizer }

func (n normalizing) Name() string { return n.Tokenizer.Name() + "+normalize" }

func (n normalizing) AppendEncode(dst []uint32, text string) ([]uint32, error) {
	return n.Tokenizer.AppendEncode(dst, Text(text))
}
