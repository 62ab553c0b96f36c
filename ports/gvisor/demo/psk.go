package demo

import (
	"crypto/rand"
	"encoding/hex"
	"path/filepath"
)

// writeDemoPSK writes a fresh random pre-shared key to dir/name, readable
// by its owner only (LoadPSK refuses a key others can read), and returns
// the file's path. The key itself is never printed.
func writeDemoPSK(dir, name string) (string, error) {
	var b [24]byte
	rand.Read(b[:])
	path := filepath.Join(dir, name)
	if err := writeSecret(path, []byte("0x"+hex.EncodeToString(b[:])+"\n")); err != nil {
		return "", err
	}
	return path, nil
}
