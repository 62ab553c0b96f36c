package ikecrypto

import (
	"bufio"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// vector is one record of a testdata file: "key: value" lines, records
// separated by blank lines, '#' starting a comment line.
type vector struct {
	file string
	line int
	f    map[string]string
}

func readVectors(t *testing.T, name string) []vector {
	t.Helper()
	fh, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var out []vector
	var cur *vector
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
			t.Fatalf("%s:%d: no ':' in %q", name, n, line)
		}
		if cur == nil {
			out = append(out, vector{file: name, line: n, f: map[string]string{}})
			cur = &out[len(out)-1]
		}
		cur.f[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("%s: no vectors", name)
	}
	return out
}

func (v vector) has(k string) bool { _, ok := v.f[k]; return ok }

func (v vector) str(t *testing.T, k string) string {
	t.Helper()
	s, ok := v.f[k]
	if !ok {
		t.Fatalf("%s:%d: no %q", v.file, v.line, k)
	}
	return s
}

// bytes decodes a hex field; spaces inside it are ignored.
func (v vector) bytes(t *testing.T, k string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(v.str(t, k)), ""))
	if err != nil {
		t.Fatalf("%s:%d: %s: %v", v.file, v.line, k, err)
	}
	return b
}

func (v vector) int(t *testing.T, k string) int {
	t.Helper()
	n, err := strconv.Atoi(v.str(t, k))
	if err != nil {
		t.Fatalf("%s:%d: %s: %v", v.file, v.line, k, err)
	}
	return n
}

// unhex decodes a hex constant with optional spaces, as RFCs print them.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
