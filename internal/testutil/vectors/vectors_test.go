package vectors

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestRead reads paragraphs, comments and every form of bytes field.
func TestRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v.txt")
	text := "# a comment\n\ncount: 1\nkey: 00 01 0a0b\n\n# between\ncount: 2\nrep: ab*3\nmsg: \"hi there\"\nn: 42\n"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	vs := Read(t, path)
	if len(vs) != 2 {
		t.Fatalf("%d vectors, want 2", len(vs))
	}
	if v := vs[0]; v.ID != "count 1" || v.Line != 3 || v.File != path {
		t.Errorf("first vector %+v", v)
	}
	if got := vs[0].Bytes(t, "key"); !bytes.Equal(got, []byte{0, 1, 0x0a, 0x0b}) {
		t.Errorf("key %x", got)
	}
	if got := vs[1].Bytes(t, "rep"); !bytes.Equal(got, []byte{0xab, 0xab, 0xab}) {
		t.Errorf("rep %x", got)
	}
	if got := vs[1].Bytes(t, "msg"); string(got) != "hi there" {
		t.Errorf("msg %q", got)
	}
	if vs[1].Int(t, "n") != 42 || !vs[1].Has("n") || vs[0].Has("n") {
		t.Errorf("n: %v", vs[1].Fields)
	}
	if got := vs[1].String(); got != path+":7 (count 2)" {
		t.Errorf("String() = %q", got)
	}
}

// TestReadRefuses: a line without ":", a field twice in a paragraph and
// a file without vectors fail the test.
func TestReadRefuses(t *testing.T) {
	for name, text := range map[string]string{
		"no colon":  "a: 1\nb\n",
		"duplicate": "a: 1\na: 2\n",
		"empty":     "# nothing\n\n",
	} {
		path := filepath.Join(t.TempDir(), "v.txt")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		ft := &fatalRecorder{TB: t}
		func() {
			defer func() { recover() }()
			Read(ft, path)
		}()
		if ft.msg == "" {
			t.Errorf("%s: accepted", name)
		}
	}
}

// fatalRecorder records a Fatalf instead of ending the test, so that the
// refusals can be checked; it panics to stop the caller as FailNow would.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = format
	panic("fatal")
}
