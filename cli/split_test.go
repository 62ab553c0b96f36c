package cli

import (
	"slices"
	"strings"
	"testing"
)

func TestSplitLine(t *testing.T) {
	tests := []struct {
		line    string
		want    []string
		wantErr string
	}{
		{"", nil, ""},
		{"   \t ", nil, ""},
		{"ipsec netstat", []string{"ipsec", "netstat"}, ""},
		{"  ipsec\tnetstat  -a\r\n", []string{"ipsec", "netstat", "-a"}, ""},
		{`ipsec policy -n "my policy" -g x`, []string{"ipsec", "policy", "-n", "my policy", "-g", "x"}, ""},
		{`a"b c"d`, []string{"ab cd"}, ""},
		{`-n ""`, []string{"-n", ""}, ""},
		{`"" ""`, []string{"", ""}, ""},
		{"ipsec netstat # show everything", []string{"ipsec", "netstat"}, ""},
		{"# only a comment", nil, ""},
		{"a#b", []string{"a"}, ""},
		{`-n "a#b" # c`, []string{"-n", "a#b"}, ""},
		{`-h "secret file.txt"`, []string{"-h", "secret file.txt"}, ""},
		{`x\y`, []string{`x\y`}, ""},
		{`-n "unterminated`, nil, `unterminated quote in "\"unterminated" (column 4)`},
		{`a "b" "c`, nil, "column 7"},
	}
	for _, tc := range tests {
		got, err := SplitLine(tc.line)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("SplitLine(%q) error = %v, want %q", tc.line, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("SplitLine(%q) = %q, %v; want %q", tc.line, got, err, tc.want)
		}
	}
}

// TestQuoteWord checks that quoteWord's output splits back to the word.
func TestQuoteWord(t *testing.T) {
	words := []string{"", "a", "a b", "#", "a#b", "x\ty", "-n", "10.0.0.1/24,500"}
	var line []string
	for _, w := range words {
		line = append(line, quoteWord(w))
	}
	got, err := SplitLine(strings.Join(line, " "))
	if err != nil || !slices.Equal(got, words) {
		t.Errorf("round trip of %q: %q, %v", words, got, err)
	}
}
