// Package vectors reads the known-answer test vector files of testdata/
// directories (suite, ike/crypto, ipsec): paragraphs of "name: value"
// lines separated by blank lines, '#' starting a comment line.
package vectors

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// Vector is one paragraph of a vector file.
type Vector struct {
	// File is the path the vector was read from, Line the line of its
	// first field, and ID its first field ("count 3"): they name the
	// vector in failure messages.
	File string
	Line int
	ID   string
	// Fields holds the paragraph's fields by name.
	Fields map[string]string
}

// Read parses the vector file at path. A line that is not "name: value",
// a field given twice in one paragraph, or a file without vectors fails
// the test.
func Read(t testing.TB, path string) []Vector {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var vs []Vector
	var cur *Vector
	sc := bufio.NewScanner(fh)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "#"):
			continue
		case line == "":
			cur = nil
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			t.Fatalf("%s:%d: line %q is not \"name: value\"", path, n, line)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if cur == nil {
			vs = append(vs, Vector{File: path, Line: n, ID: k + " " + v, Fields: map[string]string{}})
			cur = &vs[len(vs)-1]
		}
		if _, dup := cur.Fields[k]; dup {
			t.Fatalf("%s:%d: %s: field %q twice", path, n, cur.ID, k)
		}
		cur.Fields[k] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(vs) == 0 {
		t.Fatalf("%s: no vectors", path)
	}
	return vs
}

// String names the vector: "testdata/prf.txt:12 (prf PRF_HMAC_SHA2_256)".
func (v Vector) String() string { return fmt.Sprintf("%s:%d (%s)", v.File, v.Line, v.ID) }

// Has reports whether the vector has field k.
func (v Vector) Has(k string) bool { _, ok := v.Fields[k]; return ok }

// Str returns field k; a missing field fails the test.
func (v Vector) Str(t testing.TB, k string) string {
	t.Helper()
	s, ok := v.Fields[k]
	if !ok {
		t.Fatalf("%v: no field %q", v, k)
	}
	return s
}

// Int returns field k as a decimal number.
func (v Vector) Int(t testing.TB, k string) int {
	t.Helper()
	n, err := strconv.Atoi(v.Str(t, k))
	if err != nil {
		t.Fatalf("%v: %s: %v", v, k, err)
	}
	return n
}

// Bytes decodes field k: hex (blanks inside it ignored, as RFCs print
// it), XX*N for N octets XX, or a "quoted" ASCII string.
func (v Vector) Bytes(t testing.TB, k string) []byte {
	t.Helper()
	s := v.Str(t, k)
	if strings.HasPrefix(s, `"`) && strings.HasSuffix(s, `"`) && len(s) >= 2 {
		return []byte(s[1 : len(s)-1])
	}
	if x, n, ok := strings.Cut(s, "*"); ok {
		b := Unhex(t, x)
		cnt, err := strconv.Atoi(n)
		if err != nil || len(b) != 1 {
			t.Fatalf("%v: %s: bad repeat %q", v, k, s)
		}
		return []byte(strings.Repeat(string(b), cnt))
	}
	return Unhex(t, s)
}

// Unhex decodes a hex constant; blanks inside it are ignored.
func Unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}
