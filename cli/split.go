package cli

import "fmt"

// SplitLine splits a command line into words. Words are separated by
// whitespace (space, tab, CR, LF, VT, FF); double quotes group, so that
// `-n "my policy"` is two words, and a quoted part joins the unquoted text
// next to it (`a"b c"d` is the word `ab cd`; `""` is an empty word). There
// are no escapes: a word cannot contain a double quote. Outside quotes `#`
// starts a comment that runs to the end of the line.
func SplitLine(line string) ([]string, error) {
	var (
		words   []string
		word    []byte
		inWord  bool // a word has started (possibly empty: `""`)
		inQuote bool
		quoteAt int // byte offset of the opening quote
	)
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case inQuote:
			if c == '"' {
				inQuote = false
			} else {
				word = append(word, c)
			}
		case c == '"':
			inQuote, inWord, quoteAt = true, true, i
		case c == '#':
			i = len(line) // the comment runs to the end of the line
		case isSpace(c):
			if inWord {
				words = append(words, string(word))
				word, inWord = word[:0], false
			}
		default:
			word, inWord = append(word, c), true
		}
	}
	if inQuote {
		return nil, fmt.Errorf("unterminated quote in %q (column %d)", line[quoteAt:], quoteAt+1)
	}
	if inWord {
		words = append(words, string(word))
	}
	return words, nil
}

func isSpace(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', '\v', '\f':
		return true
	}
	return false
}

// quoteWord returns w as SplitLine reads it back: bare when it can be,
// otherwise in double quotes. w must not contain a double quote.
func quoteWord(w string) string {
	if w == "" {
		return `""`
	}
	for i := 0; i < len(w); i++ {
		if isSpace(w[i]) || w[i] == '#' {
			return `"` + w + `"`
		}
	}
	return w
}
