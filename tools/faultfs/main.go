// faultfs: a FUSE passthrough filesystem for zabkit's testbed that keeps every write not yet covered
// by an fsync/fdatasync of its file in a cache of its own (cache.go), so that a power cut can really
// lose it, and that can slow fsync, stall it, fail writes or fsyncs with EIO, and run out of space.
//
//	faultfs -backing DIR -mount DIR [-control 127.0.0.1:0] [-writeback 30s]
//
// It mounts DIR (-mount) over the files of -backing, prints one JSON line
// {"mount": ..., "backing": ..., "control": "127.0.0.1:PORT", "pid": N} once the mount is up, and
// serves its control API over HTTP on -control (127.0.0.1 only):
//
//	GET    /status                          {"dirtyFiles", "dirtyBytes", "writes", "fsyncs", "powerCuts", "faults"}
//	POST   /power-cut?mode=lose|torn|reorder&seed=N
//	                                        what was not fsynced is lost (lose), cut after a random byte
//	                                        (torn), or kept page by page at random (reorder); the caller
//	                                        has killed the processes using the mount first
//	POST   /sync                            write every cached write back (as sync(1) does)
//	PUT    /faults  {"fsyncDelayMs": N, "fsyncStall": bool, "eio": "write"|"fsync"|"both", "enospc": bool}
//	DELETE /faults                          heal: no delay, stalls released, no errors
//
// Like the kernel's writeback, a file dirty for longer than -writeback (30 s, Linux's
// dirty_expire_centisecs) is written back on its own: a power cut loses at most that much.
//
// An fsync that fails with EIO forgets the file's unsynced writes (as Linux drops the dirty pages
// after a writeback error), so a server that retries the fsync cannot take the second call's
// success for durability. SIGTERM or SIGINT writes every cached write back (a clean shutdown syncs,
// as an unmount does) and unmounts.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// Faults are the disk faults in force (PUT /faults), healed by DELETE /faults.
type Faults struct {
	FsyncDelayMs int    `json:"fsyncDelayMs"`
	FsyncStall   bool   `json:"fsyncStall"`
	EIO          string `json:"eio"`
	ENOSPC       bool   `json:"enospc"`
}

// limits of the control API and of the faults (docs/LIMITS.md).
const (
	maxFsyncDelayMs = 60_000
	// A stalled fsync waits at most this long for the heal, then fails with EIO (a disk that never answers).
	maxStall = 120 * time.Second
	maxBody  = 4096
)

type faultFS struct {
	mu        sync.Mutex
	dirty     map[uint64]*dirtyFile
	faults    Faults
	stall     chan struct{} // closed when a stall is healed
	writes    int64
	fsyncs    int64
	powerCuts int64
}

func newFaultFS() *faultFS {
	return &faultFS{dirty: map[uint64]*dirtyFile{}, stall: make(chan struct{})}
}

func (f *faultFS) currentFaults() (Faults, chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.faults, f.stall
}

// node is a loopback node whose files go through the cache.
type node struct {
	fs.LoopbackNode
	ffs *faultFS
}

var _ = (fs.NodeOpener)((*node)(nil))
var _ = (fs.NodeCreater)((*node)(nil))
var _ = (fs.NodeGetattrer)((*node)(nil))
var _ = (fs.NodeSetattrer)((*node)(nil))
var _ = (fs.NodeStatxer)((*node)(nil))
var _ = (fs.NodeTmpfiler)((*node)(nil))

// Tmpfile (O_TMPFILE) is refused: its file would bypass the cache. Callers fall back to a named file.
func (n *node) Tmpfile(ctx context.Context, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, syscall.EOPNOTSUPP
}

// copy_file_range is not served by the cache either: LoopbackNode.CopyFileRange refuses handles that
// are not its own (ours), so the kernel copies through read and write, and the cache sees both.

// Statx: the kernel asks this instead of Getattr when it can (FUSE_STATX); the size is the cache's too.
func (n *node) Statx(ctx context.Context, f fs.FileHandle, flags uint32, mask uint32, out *fuse.StatxOut) syscall.Errno {
	if errno := n.LoopbackNode.Statx(ctx, f, flags, mask, out); errno != 0 {
		return errno
	}
	n.ffs.adjustStatx(n.StableAttr().Ino, &out.Statx)
	return 0
}

func (f *faultFS) adjustStatx(ino uint64, st *fuse.Statx) {
	if size, modified, ok := f.cachedAttrs(ino); ok {
		st.Size = size
		st.Blocks = (size + 511) / 512
		if later(modified, st.Mtime.Sec, st.Mtime.Nsec) {
			st.Mtime = fuse.SxTime{Sec: uint64(modified.Unix()), Nsec: uint32(modified.Nanosecond())}
		}
		if later(modified, st.Ctime.Sec, st.Ctime.Nsec) {
			st.Ctime = fuse.SxTime{Sec: uint64(modified.Unix()), Nsec: uint32(modified.Nanosecond())}
		}
	}
}

// later: is t after the time sec.nsec?
func later(t time.Time, sec uint64, nsec uint32) bool {
	return !t.IsZero() && t.After(time.Unix(int64(sec), int64(nsec)))
}

// cachedAttrs is the size readers see of a file with unsynced writes, and the time of its last
// cached write (false: the backing file's own attributes hold).
func (f *faultFS) cachedAttrs(ino uint64) (uint64, time.Time, bool) {
	f.mu.Lock()
	d := f.dirty[ino]
	f.mu.Unlock()
	if d == nil {
		return 0, time.Time{}, false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return uint64(d.size), d.modified, !d.closed
}

func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	fh, _, errno := n.LoopbackNode.Open(ctx, flags)
	if errno != 0 {
		return nil, 0, errno
	}
	// Direct I/O: the kernel keeps no page cache of its own, so every read sees this cache (and a power cut).
	return n.wrap(fh, n.StableAttr().Ino, n.Path(nil)), fuse.FOPEN_DIRECT_IO, 0
}

func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	inode, fh, _, errno := n.LoopbackNode.Create(ctx, name, flags, mode, out)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	return inode, n.wrap(fh, inode.StableAttr().Ino, inode.Path(nil)), fuse.FOPEN_DIRECT_IO, 0
}

func (n *node) wrap(fh fs.FileHandle, ino uint64, path string) *file {
	fd := -1
	if withFd, ok := fh.(interface{ PassthroughFd() (int, bool) }); ok {
		if d, ok := withFd.PassthroughFd(); ok {
			fd = d
		}
	}
	return &file{inner: fh, fd: fd, ino: ino, ffs: n.ffs, path: path}
}

func (n *node) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if errno := n.LoopbackNode.Getattr(ctx, f, out); errno != 0 {
		return errno
	}
	n.ffs.adjustAttr(n.StableAttr().Ino, &out.Attr)
	return 0
}

func (n *node) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if errno := n.LoopbackNode.Setattr(ctx, f, in, out); errno != 0 {
		return errno
	}
	if size, ok := in.GetSize(); ok {
		n.ffs.truncated(n.StableAttr().Ino, int64(size))
	}
	n.ffs.adjustAttr(n.StableAttr().Ino, &out.Attr)
	return 0
}

func (f *faultFS) adjustAttr(ino uint64, attr *fuse.Attr) {
	if size, modified, ok := f.cachedAttrs(ino); ok {
		attr.Size = size
		attr.Blocks = (size + 511) / 512
		if later(modified, attr.Mtime, attr.Mtimensec) {
			attr.Mtime, attr.Mtimensec = uint64(modified.Unix()), uint32(modified.Nanosecond())
		}
		if later(modified, attr.Ctime, attr.Ctimensec) {
			attr.Ctime, attr.Ctimensec = uint64(modified.Unix()), uint32(modified.Nanosecond())
		}
	}
}

func (f *faultFS) truncated(ino uint64, size int64) {
	f.mu.Lock()
	d := f.dirty[ino]
	f.mu.Unlock()
	if d != nil {
		d.mu.Lock()
		if !d.closed {
			d.truncate(size)
		}
		d.mu.Unlock()
	}
}

// file is an open file of the mount: reads overlay the cache, writes go to it, fsync writes it back.
type file struct {
	inner fs.FileHandle
	fd    int
	ino   uint64
	path  string
	ffs   *faultFS
}

var _ = (fs.FileReader)((*file)(nil))
var _ = (fs.FileWriter)((*file)(nil))
var _ = (fs.FileFsyncer)((*file)(nil))
var _ = (fs.FileFlusher)((*file)(nil))
var _ = (fs.FileReleaser)((*file)(nil))
var _ = (fs.FileGetattrer)((*file)(nil))
var _ = (fs.FileSetattrer)((*file)(nil))
var _ = (fs.FileLseeker)((*file)(nil))
var _ = (fs.FileAllocater)((*file)(nil))
var _ = (fs.FileStatxer)((*file)(nil))

func (h *file) Statx(ctx context.Context, flags uint32, mask uint32, out *fuse.StatxOut) syscall.Errno {
	if s, ok := h.inner.(fs.FileStatxer); ok {
		if errno := s.Statx(ctx, flags, mask, out); errno != 0 {
			return errno
		}
	}
	h.ffs.adjustStatx(h.ino, &out.Statx)
	return 0
}

func (h *file) entry(create bool) (*dirtyFile, syscall.Errno) {
	h.ffs.mu.Lock()
	defer h.ffs.mu.Unlock()
	d := h.ffs.dirty[h.ino]
	if d != nil || !create {
		return d, 0
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(h.fd, &st); err != nil {
		return nil, fs.ToErrno(err)
	}
	fd, err := syscall.Dup(h.fd)
	if err != nil {
		return nil, fs.ToErrno(err)
	}
	d = &dirtyFile{fd: fd, path: h.path, size: st.Size, since: time.Now()}
	h.ffs.dirty[h.ino] = d
	return d, 0
}

func (h *file) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	d, _ := h.entry(false)
	if d != nil {
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			d = nil
		}
	}
	if d == nil {
		n, err := syscall.Pread(h.fd, dest, off)
		if err != nil {
			return nil, fs.ToErrno(err)
		}
		return fuse.ReadResultData(dest[:n]), 0
	}
	defer d.mu.Unlock()
	if off >= d.size {
		return fuse.ReadResultData(nil), 0
	}
	want := min64(int64(len(dest)), d.size-off)
	buf := dest[:want]
	n, err := syscall.Pread(h.fd, buf, off)
	if err != nil {
		return nil, fs.ToErrno(err)
	}
	for k := n; k < len(buf); k++ {
		buf[k] = 0
	}
	d.overlay(buf, off)
	return fuse.ReadResultData(buf), 0
}

func (h *file) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	faults, _ := h.ffs.currentFaults()
	if faults.EIO == "write" || faults.EIO == "both" {
		return 0, syscall.EIO
	}
	if faults.ENOSPC {
		return 0, syscall.ENOSPC
	}
	var d *dirtyFile
	for {
		var errno syscall.Errno
		if d, errno = h.entry(true); errno != 0 {
			return 0, errno
		}
		d.mu.Lock()
		if !d.closed {
			break
		}
		// An fsync or a cut took this entry out of the map meanwhile: take the file's new one.
		d.mu.Unlock()
	}
	d.extents = append(d.extents, extent{off, append([]byte(nil), data...)})
	d.bytes += int64(len(data))
	d.size = max64(d.size, off+int64(len(data)))
	d.modified = time.Now()
	d.mu.Unlock()
	h.ffs.mu.Lock()
	h.ffs.writes++
	h.ffs.mu.Unlock()
	return uint32(len(data)), 0
}

func (h *file) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	faults, stall := h.ffs.currentFaults()
	if faults.FsyncDelayMs > 0 {
		select {
		case <-time.After(time.Duration(faults.FsyncDelayMs) * time.Millisecond):
		case <-ctx.Done():
			return syscall.EINTR
		}
	}
	if faults.FsyncStall {
		select {
		case <-stall:
		case <-ctx.Done():
			return syscall.EINTR
		case <-time.After(maxStall):
			return syscall.EIO
		}
		faults, _ = h.ffs.currentFaults()
	}
	h.ffs.mu.Lock()
	d := h.ffs.dirty[h.ino]
	if faults.EIO == "fsync" || faults.EIO == "both" {
		// The writeback failed: the dirty data is gone (Linux drops the pages), the error reported once.
		delete(h.ffs.dirty, h.ino)
		h.ffs.mu.Unlock()
		if d != nil {
			d.mu.Lock()
			d.closed = true
			syscall.Close(d.fd)
			d.mu.Unlock()
		}
		return syscall.EIO
	}
	h.ffs.fsyncs++
	h.ffs.mu.Unlock()
	if d != nil {
		// Written back and taken out of the map under the entry's lock: a write that comes meanwhile
		// waits, finds the entry closed, and starts a new one (nothing it writes is dropped).
		d.mu.Lock()
		err := d.writeBack()
		if err != nil {
			d.mu.Unlock()
			return fs.ToErrno(err)
		}
		h.ffs.mu.Lock()
		if h.ffs.dirty[h.ino] == d {
			delete(h.ffs.dirty, h.ino)
		}
		h.ffs.mu.Unlock()
		d.closed = true
		syscall.Close(d.fd)
		d.mu.Unlock()
	}
	if err := syscall.Fsync(h.fd); err != nil {
		return fs.ToErrno(err)
	}
	return 0
}

func (h *file) Flush(ctx context.Context) syscall.Errno {
	if fl, ok := h.inner.(fs.FileFlusher); ok {
		return fl.Flush(ctx)
	}
	return 0
}

func (h *file) Release(ctx context.Context) syscall.Errno {
	if r, ok := h.inner.(fs.FileReleaser); ok {
		return r.Release(ctx)
	}
	return 0
}

func (h *file) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	if g, ok := h.inner.(fs.FileGetattrer); ok {
		if errno := g.Getattr(ctx, out); errno != 0 {
			return errno
		}
	}
	h.ffs.adjustAttr(h.ino, &out.Attr)
	return 0
}

func (h *file) Setattr(ctx context.Context, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if s, ok := h.inner.(fs.FileSetattrer); ok {
		if errno := s.Setattr(ctx, in, out); errno != 0 {
			return errno
		}
	}
	if size, ok := in.GetSize(); ok {
		h.ffs.truncated(h.ino, int64(size))
	}
	return h.Getattr(ctx, out)
}

func (h *file) Lseek(ctx context.Context, off uint64, whence uint32) (uint64, syscall.Errno) {
	if l, ok := h.inner.(fs.FileLseeker); ok {
		return l.Lseek(ctx, off, whence)
	}
	return 0, syscall.ENOTSUP
}

func (h *file) Allocate(ctx context.Context, off uint64, size uint64, mode uint32) syscall.Errno {
	faults, _ := h.ffs.currentFaults()
	if faults.ENOSPC {
		return syscall.ENOSPC
	}
	if a, ok := h.inner.(fs.FileAllocater); ok {
		return a.Allocate(ctx, off, size, mode)
	}
	return syscall.ENOTSUP
}

// writeBackAll writes every cached write back and fsyncs it (a clean shutdown, POST /sync).
func (f *faultFS) writeBackAll() {
	f.writeBackOlderThan(-1)
}

// writeBackOlderThan writes back the files dirty for longer than age (all of them when age < 0): the
// kernel's periodic writeback (dirty_expire_centisecs, 30 s by default on Linux).
func (f *faultFS) writeBackOlderThan(age time.Duration) int {
	f.mu.Lock()
	files := map[uint64]*dirtyFile{}
	for ino, d := range f.dirty {
		if age < 0 || time.Since(d.since) > age {
			files[ino] = d
			delete(f.dirty, ino)
		}
	}
	f.mu.Unlock()
	for _, d := range files {
		d.mu.Lock()
		if err := d.writeBack(); err != nil {
			fmt.Fprintf(os.Stderr, "faultfs: write-back of %s: %v\n", d.path, err)
		}
		syscall.Fsync(d.fd)
		syscall.Close(d.fd)
		d.closed = true
		d.mu.Unlock()
	}
	return len(files)
}

func (f *faultFS) powerCut(mode string, seed int64) ([]cutResult, error) {
	f.mu.Lock()
	files := f.dirty
	f.dirty = map[uint64]*dirtyFile{}
	f.powerCuts++
	f.mu.Unlock()
	rng := rand.New(rand.NewSource(seed))
	results := []cutResult{}
	var firstErr error
	// In a fixed order, so that a seed gives the same choices.
	inos := make([]uint64, 0, len(files))
	for ino := range files {
		inos = append(inos, ino)
	}
	sortUint64(inos)
	for _, ino := range inos {
		d := files[ino]
		d.mu.Lock()
		result, err := d.powerCut(mode, rng)
		if err == nil {
			err = syscall.Fsync(d.fd)
		}
		syscall.Close(d.fd)
		d.closed = true
		d.mu.Unlock()
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("%s: %v", d.path, err)
		}
		results = append(results, result)
	}
	return results, firstErr
}

func (f *faultFS) serveControl(listener net.Listener) {
	mux := http.NewServeMux()
	writeJSON := func(w http.ResponseWriter, status int, value any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(value)
	}
	fail := func(w http.ResponseWriter, status int, format string, args ...any) {
		writeJSON(w, status, map[string]string{"error": fmt.Sprintf(format, args...)})
	}
	mux.HandleFunc("/status", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			fail(w, http.StatusMethodNotAllowed, "GET /status")
			return
		}
		// The entries are read after f.mu is released: an fsync holds an entry's lock while it takes f.mu.
		f.mu.Lock()
		files := make([]*dirtyFile, 0, len(f.dirty))
		for _, d := range f.dirty {
			files = append(files, d)
		}
		status := map[string]any{"dirtyFiles": len(f.dirty), "writes": f.writes, "fsyncs": f.fsyncs, "powerCuts": f.powerCuts, "faults": f.faults}
		f.mu.Unlock()
		var bytes int64
		for _, d := range files {
			d.mu.Lock()
			bytes += d.bytes
			d.mu.Unlock()
		}
		status["dirtyBytes"] = bytes
		writeJSON(w, http.StatusOK, status)
	})
	mux.HandleFunc("/sync", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			fail(w, http.StatusMethodNotAllowed, "POST /sync")
			return
		}
		writeJSON(w, http.StatusOK, map[string]int{"files": f.writeBackOlderThan(-1)})
	})
	mux.HandleFunc("/power-cut", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			fail(w, http.StatusMethodNotAllowed, "POST /power-cut?mode=lose|torn|reorder&seed=N")
			return
		}
		mode := r.URL.Query().Get("mode")
		if mode == "" {
			mode = "lose"
		}
		if mode != "lose" && mode != "torn" && mode != "reorder" {
			fail(w, http.StatusBadRequest, "mode must be lose, torn or reorder, got %q", mode)
			return
		}
		seed, err := strconv.ParseInt(r.URL.Query().Get("seed"), 10, 64)
		if err != nil && r.URL.Query().Get("seed") != "" {
			fail(w, http.StatusBadRequest, "seed must be an integer: %v", err)
			return
		}
		results, err := f.powerCut(mode, seed)
		if err != nil {
			fail(w, http.StatusInternalServerError, "power cut: %v", err)
			return
		}
		var lost, kept int64
		for _, result := range results {
			lost += result.LostBytes
			kept += result.KeptBytes
		}
		writeJSON(w, http.StatusOK, map[string]any{"mode": mode, "files": results, "lostBytes": lost, "keptBytes": kept})
	})
	mux.HandleFunc("/faults", func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPut:
			var faults Faults
			decoder := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
			decoder.DisallowUnknownFields()
			if err := decoder.Decode(&faults); err != nil {
				fail(w, http.StatusBadRequest, "faults: %v", err)
				return
			}
			if faults.FsyncDelayMs < 0 || faults.FsyncDelayMs > maxFsyncDelayMs {
				fail(w, http.StatusBadRequest, "fsyncDelayMs must be from 0 to %d", maxFsyncDelayMs)
				return
			}
			if faults.EIO != "" && faults.EIO != "write" && faults.EIO != "fsync" && faults.EIO != "both" {
				fail(w, http.StatusBadRequest, "eio must be write, fsync or both, got %q", faults.EIO)
				return
			}
			f.mu.Lock()
			if f.faults.FsyncStall && !faults.FsyncStall {
				close(f.stall)
				f.stall = make(chan struct{})
			}
			f.faults = faults
			f.mu.Unlock()
			writeJSON(w, http.StatusOK, faults)
		case http.MethodDelete:
			f.mu.Lock()
			if f.faults.FsyncStall {
				close(f.stall)
				f.stall = make(chan struct{})
			}
			f.faults = Faults{}
			f.mu.Unlock()
			writeJSON(w, http.StatusOK, Faults{})
		default:
			fail(w, http.StatusMethodNotAllowed, "PUT or DELETE /faults")
		}
	})
	server := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	server.Serve(listener)
}

func sortUint64(items []uint64) {
	for i := 1; i < len(items); i++ {
		for j := i; j > 0 && items[j] < items[j-1]; j-- {
			items[j], items[j-1] = items[j-1], items[j]
		}
	}
}

func main() {
	backing := flag.String("backing", "", "the directory whose files the mount shows (required)")
	mountpoint := flag.String("mount", "", "where to mount (required; an empty directory)")
	control := flag.String("control", "127.0.0.1:0", "the control API's address (127.0.0.1 only)")
	writeback := flag.Duration("writeback", 30*time.Second, "write back what has been dirty this long, as the kernel does (0: never)")
	flag.Parse()
	if *backing == "" || *mountpoint == "" {
		fmt.Fprintln(os.Stderr, "faultfs: -backing and -mount are required")
		os.Exit(2)
	}
	host, _, err := net.SplitHostPort(*control)
	if err != nil || host != "127.0.0.1" {
		fmt.Fprintf(os.Stderr, "faultfs: -control must be 127.0.0.1:PORT, got %q\n", *control)
		os.Exit(2)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(*backing, &st); err != nil {
		fmt.Fprintf(os.Stderr, "faultfs: -backing %s: %v\n", *backing, err)
		os.Exit(2)
	}
	ffs := newFaultFS()
	root := &fs.LoopbackRoot{Path: *backing, Dev: uint64(st.Dev)}
	root.NewNode = func(rootData *fs.LoopbackRoot, parent *fs.Inode, name string, st *syscall.Stat_t) fs.InodeEmbedder {
		return &node{LoopbackNode: fs.LoopbackNode{RootData: rootData}, ffs: ffs}
	}
	rootNode := root.NewNode(root, nil, "", &st)
	root.RootNode = rootNode
	zero := time.Duration(0)
	server, err := fs.Mount(*mountpoint, rootNode, &fs.Options{
		EntryTimeout:    &zero,
		AttrTimeout:     &zero,
		NegativeTimeout: &zero,
		MountOptions: fuse.MountOptions{
			FsName:      "faultfs",
			Name:        "faultfs",
			DirectMount: true,
			AllowOther:  os.Geteuid() == 0,
		},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "faultfs: mount %s: %v\n", *mountpoint, err)
		os.Exit(1)
	}
	listener, err := net.Listen("tcp", *control)
	if err != nil {
		server.Unmount()
		fmt.Fprintf(os.Stderr, "faultfs: control %s: %v\n", *control, err)
		os.Exit(1)
	}
	go ffs.serveControl(listener)
	if *writeback > 0 {
		go func() {
			for range time.Tick(time.Second) {
				ffs.writeBackOlderThan(*writeback)
			}
		}()
	}
	ready, _ := json.Marshal(map[string]any{"mount": *mountpoint, "backing": *backing, "control": listener.Addr().String(), "pid": os.Getpid()})
	fmt.Println(string(ready))

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-signals
		// Release stalled fsyncs, sync what is cached (a clean shutdown), then unmount.
		ffs.mu.Lock()
		if ffs.faults.FsyncStall {
			close(ffs.stall)
			ffs.stall = make(chan struct{})
		}
		ffs.faults = Faults{}
		ffs.mu.Unlock()
		ffs.writeBackAll()
		for attempt := 0; attempt < 50; attempt++ {
			if err := server.Unmount(); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		os.Exit(0)
	}()
	server.Wait()
}
