package main

// The unsynced-write cache: what a file was written since its last fsync, kept here instead of on
// the backing disk, the way a kernel's page cache holds it until writeback. An fsync (or fdatasync)
// of the file writes its extents to the backing file in order and fsyncs that; a power cut decides
// what of them ever reached the disk: nothing (lose), a prefix cut anywhere (torn), or a random
// subset of its pages (reorder). Metadata (create, rename, unlink, truncate) goes to the backing
// directory at once: the cache models lost data, not lost directory entries.

import (
	"math/rand"
	"sort"
	"sync"
	"syscall"
	"time"
)

// pageSize is the unit a reordering power cut keeps or loses, as a disk writes back pages.
const pageSize = 4096

type extent struct {
	off  int64
	data []byte
}

// dirtyFile is one backing file's unsynced writes.
type dirtyFile struct {
	mu sync.Mutex
	// fd is the cache's own descriptor of the backing file (a dup of the first writer's), so that a
	// power cut can write what it keeps after every handle of the file is closed.
	fd      int
	path    string
	extents []extent
	// size is the file's size as its readers see it: the backing size, then every write and truncate since.
	size  int64
	bytes int64
	// since: when the file became dirty (the kernel's dirtied_when), for the periodic writeback.
	since time.Time
	// modified: the last cached write, what a reader's stat shows as mtime and ctime (a write to a
	// real page cache updates them at once; the backing file's change only at the writeback).
	modified time.Time
	// closed: written back, cut or dropped, and out of the map; a writer or reader that got it just
	// before must take the file's entry again (or read the backing file).
	closed bool
}

// overlay lays the file's unsynced extents over buf, which holds the backing bytes at off.
func (d *dirtyFile) overlay(buf []byte, off int64) {
	end := off + int64(len(buf))
	for _, e := range d.extents {
		eEnd := e.off + int64(len(e.data))
		if eEnd <= off || e.off >= end {
			continue
		}
		from := max64(e.off, off)
		to := min64(eEnd, end)
		copy(buf[from-off:to-off], e.data[from-e.off:to-e.off])
	}
}

// truncate drops what lies past size (the backing file is truncated by the caller).
func (d *dirtyFile) truncate(size int64) {
	kept := d.extents[:0]
	var bytes int64
	for _, e := range d.extents {
		if e.off >= size {
			continue
		}
		if e.off+int64(len(e.data)) > size {
			e.data = e.data[:size-e.off]
		}
		kept = append(kept, e)
		bytes += int64(len(e.data))
	}
	d.extents = kept
	d.bytes = bytes
	d.size = size
}

// writeBack writes the extents to the backing file in order (an fsync's first half).
func (d *dirtyFile) writeBack() error {
	for _, e := range d.extents {
		if err := pwriteAll(d.fd, e.data, e.off); err != nil {
			return err
		}
	}
	return nil
}

// cutResult is what a power cut did to one file.
type cutResult struct {
	Path      string `json:"path"`
	LostBytes int64  `json:"lostBytes"`
	KeptBytes int64  `json:"keptBytes"`
}

// powerCut decides what of the unsynced writes reached the disk, writes that, and forgets the rest.
func (d *dirtyFile) powerCut(mode string, rng *rand.Rand) (cutResult, error) {
	result := cutResult{Path: d.path}
	var keep []extent
	switch mode {
	case "lose":
	case "torn":
		// A prefix of the writes, in the order they were made, cut at a random byte.
		if d.bytes > 0 {
			budget := rng.Int63n(d.bytes)
			for _, e := range d.extents {
				if budget <= 0 {
					break
				}
				n := min64(int64(len(e.data)), budget)
				keep = append(keep, extent{e.off, e.data[:n]})
				budget -= n
			}
		}
	case "reorder":
		// Each page of the final unsynced content kept or lost on its own, whatever order it was written in.
		pages := map[int64]bool{}
		for _, e := range d.extents {
			for p := e.off / pageSize; p*pageSize < e.off+int64(len(e.data)); p++ {
				pages[p] = true
			}
		}
		ordered := make([]int64, 0, len(pages))
		for p := range pages {
			ordered = append(ordered, p)
		}
		sort.Slice(ordered, func(a, b int) bool { return ordered[a] < ordered[b] })
		for _, p := range ordered {
			if rng.Intn(2) == 0 {
				continue
			}
			buf := make([]byte, pageSize)
			lo, hi := p*pageSize, (p+1)*pageSize
			// Only the bytes some write covered: a kept page does not invent the rest of the page.
			for _, e := range d.extents {
				eEnd := e.off + int64(len(e.data))
				if eEnd <= lo || e.off >= hi {
					continue
				}
				from, to := max64(e.off, lo), min64(eEnd, hi)
				copy(buf[from-lo:to-lo], e.data[from-e.off:to-e.off])
				keep = append(keep, extent{from, buf[from-lo : to-lo]})
			}
		}
	}
	for _, e := range keep {
		if err := pwriteAll(d.fd, e.data, e.off); err != nil {
			return result, err
		}
		result.KeptBytes += int64(len(e.data))
	}
	result.LostBytes = d.bytes - result.KeptBytes
	if result.LostBytes < 0 {
		result.LostBytes = 0
	}
	return result, nil
}

func pwriteAll(fd int, data []byte, off int64) error {
	for len(data) > 0 {
		n, err := syscall.Pwrite(fd, data, off)
		if err != nil {
			return err
		}
		data = data[n:]
		off += int64(n)
	}
	return nil
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

func min64(a, b int64) int64 {
	if a < b {
		return a
	}
	return b
}
