package suite

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// vector is one paragraph of a testdata/*.txt file: "name: value" lines.
type vector struct {
	file, id string
	f        map[string]string
}

// readVectors parses testdata/name. Paragraphs are separated by blank lines;
// '#' starts a comment line. The first field of a paragraph names it in
// failure messages.
func readVectors(t *testing.T, name string) []vector {
	t.Helper()
	fh, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var vs []vector
	var cur *vector
	sc := bufio.NewScanner(fh)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") {
			continue
		}
		if line == "" {
			cur = nil
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			t.Fatalf("%s: line %q is not \"name: value\"", name, line)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if cur == nil {
			vs = append(vs, vector{file: name, id: k + " " + v, f: map[string]string{}})
			cur = &vs[len(vs)-1]
		}
		if _, dup := cur.f[k]; dup {
			t.Fatalf("%s %s: field %q twice", name, cur.id, k)
		}
		cur.f[k] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(vs) == 0 {
		t.Fatalf("%s: no vectors", name)
	}
	return vs
}

func (v vector) has(k string) bool { _, ok := v.f[k]; return ok }

func (v vector) str(t *testing.T, k string) string {
	t.Helper()
	s, ok := v.f[k]
	if !ok {
		t.Fatalf("%s %s: no field %q", v.file, v.id, k)
	}
	return s
}

func (v vector) int(t *testing.T, k string) int {
	t.Helper()
	n, err := strconv.Atoi(v.str(t, k))
	if err != nil {
		t.Fatalf("%s %s: %s: %v", v.file, v.id, k, err)
	}
	return n
}

// bytes decodes field k: hex (spaces allowed), XX*N for N octets XX, or a
// "quoted" ASCII string.
func (v vector) bytes(t *testing.T, k string) []byte {
	t.Helper()
	s := v.str(t, k)
	if strings.HasPrefix(s, `"`) && strings.HasSuffix(s, `"`) && len(s) >= 2 {
		return []byte(s[1 : len(s)-1])
	}
	if x, n, ok := strings.Cut(s, "*"); ok {
		b := unhex(t, x)
		cnt, err := strconv.Atoi(n)
		if err != nil || len(b) != 1 {
			t.Fatalf("%s %s: %s: bad repeat %q", v.file, v.id, k, s)
		}
		return []byte(strings.Repeat(string(b), cnt))
	}
	return unhex(t, s)
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// wycheproof is the part of a Project Wycheproof test vector file
// (testdata/wycheproof, trimmed copies) that the tests here read.
type wycheproof struct {
	Algorithm  string `json:"algorithm"`
	TestGroups []struct {
		KeySize int `json:"keySize"`
		IVSize  int `json:"ivSize"`
		TagSize int `json:"tagSize"`
		Tests   []struct {
			TcID    int      `json:"tcId"`
			Comment string   `json:"comment"`
			Key     hexBytes `json:"key"`
			IV      hexBytes `json:"iv"`
			AAD     hexBytes `json:"aad"`
			Msg     hexBytes `json:"msg"`
			CT      hexBytes `json:"ct"`
			Tag     hexBytes `json:"tag"`
			Result  string   `json:"result"`
		} `json:"tests"`
	} `json:"testGroups"`
}

type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	d, err := hex.DecodeString(s)
	*h = d
	return err
}

func readWycheproof(t *testing.T, name string) *wycheproof {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "wycheproof", name))
	if err != nil {
		t.Fatal(err)
	}
	var w wycheproof
	if err := json.Unmarshal(b, &w); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return &w
}
