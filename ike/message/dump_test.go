package message

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs; got:\n%s", name, got)
	}
}

func TestDump(t *testing.T) {
	for _, name := range []string{"ccm12-ike_sa_init-request", "ccm12-informational-request", "wiki-ike_sa_init-request"} {
		var out bytes.Buffer
		Dump(&out, readVector(t, name+".hex"))
		golden(t, "dump-"+name+".txt", out.Bytes())
	}
}

// TestDumpPayloads decodes an inner chain holding every payload type.
func TestDumpPayloads(t *testing.T) {
	var all []Payload
	for _, c := range payloadCases {
		if c.p.PayloadType() != PayloadSK && c.p.PayloadType() != PayloadSKF {
			all = append(all, c.p)
		}
	}
	first, b, err := MarshalPayloads(all)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	DumpPayloads(&out, first, b)
	golden(t, "dump-all-payloads.txt", out.Bytes())
}

// TestDumpMalformed shows how Dump reports what it cannot decode.
func TestDumpMalformed(t *testing.T) {
	b := readVector(t, "ccm12-ike_sa_init-request.hex")
	var out bytes.Buffer
	Dump(&out, b[:100])
	if !strings.Contains(out.String(), "?? truncated: length says 68 octets, 28 left") {
		t.Errorf("truncated dump:\n%s", &out)
	}
	out.Reset()
	DumpPayloads(&out, PayloadIDi, mustHex(t, pl(0, 0, "02000000 1b5b326a")+"ffff"))
	if !strings.Contains(out.String(), `Identification Data - "\x1b[2j"`) || !strings.Contains(out.String(), "?? 2 octets beyond the structure") {
		t.Errorf("escaped identity and trailing octets:\n%s", &out)
	}
}
