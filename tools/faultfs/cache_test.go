package main

import (
	"bytes"
	"math/rand"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// dirtyOn opens a fresh backing file holding synced, and caches the writes given (off, data) on it.
func dirtyOn(t *testing.T, synced []byte, writes ...extent) (*dirtyFile, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, synced, 0o644); err != nil {
		t.Fatal(err)
	}
	fd, err := syscall.Open(path, syscall.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	d := &dirtyFile{fd: fd, path: path, size: int64(len(synced))}
	for _, w := range writes {
		d.extents = append(d.extents, w)
		d.bytes += int64(len(w.data))
		d.size = max64(d.size, w.off+int64(len(w.data)))
	}
	t.Cleanup(func() { syscall.Close(fd) })
	return d, path
}

func TestOverlayShowsTheLatestWriteOverTheBackingBytes(t *testing.T) {
	d, _ := dirtyOn(t, []byte("0123456789"), extent{2, []byte("ab")}, extent{3, []byte("XYZ")})
	buf := []byte("0123456789")
	d.overlay(buf, 0)
	if string(buf) != "01aXYZ6789" {
		t.Fatalf("got %q", buf)
	}
	part := []byte("456")
	d.overlay(part, 4)
	if string(part) != "YZ6" {
		t.Fatalf("got %q", part)
	}
}

func TestLoseKeepsOnlyWhatWasSynced(t *testing.T) {
	d, path := dirtyOn(t, []byte("synced"), extent{6, []byte("-unsynced")})
	result, err := d.powerCut("lose", rand.New(rand.NewSource(1)))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if string(got) != "synced" || result.LostBytes != 9 || result.KeptBytes != 0 {
		t.Fatalf("got %q, %+v", got, result)
	}
}

func TestTornKeepsAPrefixOfTheUnsyncedWritesInTheirOrder(t *testing.T) {
	for seed := int64(0); seed < 50; seed++ {
		d, path := dirtyOn(t, []byte("S"), extent{1, []byte("aaaa")}, extent{5, []byte("bbbb")}, extent{9, []byte("cccc")})
		result, err := d.powerCut("torn", rand.New(rand.NewSource(seed)))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(path)
		whole := "Saaaabbbbcccc"
		if !bytes.HasPrefix([]byte(whole), got) || len(got) == len(whole) {
			t.Fatalf("seed %d: %q is not a proper prefix of %q", seed, got, whole)
		}
		if result.KeptBytes+result.LostBytes != 12 || int(result.KeptBytes) != len(got)-1 {
			t.Fatalf("seed %d: %+v for %q", seed, result, got)
		}
	}
}

func TestReorderKeepsWholePagesOfTheFinalContentAtRandom(t *testing.T) {
	page := func(b byte) []byte { return bytes.Repeat([]byte{b}, pageSize) }
	sawHole := false
	for seed := int64(0); seed < 20; seed++ {
		// Three pages written in order, the first then rewritten.
		d, path := dirtyOn(t, nil, extent{0, page('a')}, extent{pageSize, page('b')}, extent{2 * pageSize, page('c')}, extent{0, page('A')})
		if _, err := d.powerCut("reorder", rand.New(rand.NewSource(seed))); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(path)
		for p := 0; p*pageSize < len(got); p++ {
			chunk := got[p*pageSize : min64i(len(got), (p+1)*pageSize)]
			want := []byte{'A', 'b', 'c'}[p]
			if !(bytes.Equal(chunk, bytes.Repeat([]byte{want}, len(chunk))) || bytes.Equal(chunk, make([]byte, len(chunk)))) {
				t.Fatalf("seed %d page %d: neither the final content nor a hole", seed, p)
			}
			if bytes.Equal(chunk, make([]byte, len(chunk))) {
				sawHole = true
			}
		}
	}
	if !sawHole {
		t.Fatal("no seed lost a page before a kept one")
	}
}

func TestTruncateDropsWhatLiesPastTheNewSize(t *testing.T) {
	d, _ := dirtyOn(t, []byte("0123"), extent{4, []byte("4567")}, extent{8, []byte("89")})
	d.truncate(6)
	if d.size != 6 || d.bytes != 2 || len(d.extents) != 1 || string(d.extents[0].data) != "45" {
		t.Fatalf("got size %d bytes %d extents %v", d.size, d.bytes, d.extents)
	}
}

func min64i(a, b int) int {
	if a < b {
		return a
	}
	return b
}
