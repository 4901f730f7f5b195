package hashing

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/nnrunner/nnrunner/internal/sharedtest"
)

// The benchmark dataset: 10,000 files, 1 GiB in all, in 100 folders; ten of
// the files are 16 MiB (large-file streaming), the rest random sizes up to
// twice the mean. It is generated once (deterministically) and kept in the
// system temp dir so runs are comparable.
const (
	benchFiles    = 10_000
	benchBytes    = 1 << 30
	benchBigFiles = 10
	benchBigSize  = 16 << 20
	benchDirName  = "nnrunner-bench-hashing-10k-1g-v1"
)

func benchDataset(b *testing.B) (root string, total int64) {
	b.Helper()
	root = filepath.Join(os.TempDir(), benchDirName)
	sizes := benchSizes()
	for _, s := range sizes {
		total += s
	}
	marker := root + ".complete" // outside the tree, so it is not hashed
	if _, err := os.Stat(marker); err == nil {
		return root, total
	}
	b.Logf("generating %d files, %d bytes in %s (kept for later runs)", benchFiles, total, root)
	tmp, err := os.MkdirTemp(os.TempDir(), benchDirName+".tmp-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	rng := rand.New(rand.NewChaCha8([32]byte{1}))
	buf := make([]byte, benchBigSize)
	for i, size := range sizes {
		dir := filepath.Join(tmp, fmt.Sprintf("d%03d", i%100))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		data := buf[:size]
		for j := 0; j+8 <= len(data); j += 8 {
			v := rng.Uint64()
			for k := range 8 {
				data[j+k] = byte(v >> (8 * k))
			}
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%05d.bin", i)), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	os.RemoveAll(root)
	if err := os.Rename(tmp, root); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		b.Fatal(err)
	}
	return root, total
}

// benchSizes returns the deterministic file sizes of the dataset.
func benchSizes() []int64 {
	rng := rand.New(rand.NewPCG(7, 7))
	sizes := make([]int64, benchFiles)
	small := benchFiles - benchBigFiles
	mean := (int64(benchBytes) - benchBigFiles*benchBigSize) / int64(small)
	var sum int64
	for i := range sizes {
		if i%(benchFiles/benchBigFiles) == 0 {
			sizes[i] = benchBigSize
			continue
		}
		sizes[i] = 1 + rng.Int64N(2*mean)
		sum += sizes[i]
	}
	// Adjust one file so the total is exactly benchBytes.
	sizes[1] += int64(benchBytes) - benchBigFiles*benchBigSize - sum
	return sizes
}

// aheadClock makes freshly generated files count as older than the racy
// window, so the warm benchmarks measure cache hits on the first run too.
func aheadClock() time.Time { return time.Now().Add(time.Hour) }

// reportGBs reports wall time and throughput per hash, and the process's
// CPU time per hash (user+system), which is less sensitive to other load on
// a shared machine. Call startCPU before the loop.
func reportGBs(b *testing.B, bytes int64, cpu0 time.Duration) {
	sec := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(sec*1e3, "ms/hash")
	b.ReportMetric(float64(bytes)/sec/1e9, "GB/s")
	b.ReportMetric((cpuTime()-cpu0).Seconds()*1e3/float64(b.N), "cpu-ms/hash")
}

// cpuTime returns the user+system CPU time used by this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkHashCold hashes the 1 GiB dataset without a stat cache: every
// byte is read (from the page cache, which is warm after the first run).
func BenchmarkHashCold(b *testing.B) {
	root, total := benchDataset(b)
	cpu0 := cpuTime()
	for b.Loop() {
		h, err := NewHasher("", 0)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := h.Hash(context.Background(), root); err != nil {
			b.Fatal(err)
		}
		if s := h.Stats(); s.BytesRead != total {
			b.Fatalf("read %d bytes, want %d", s.BytesRead, total)
		}
	}
	reportGBs(b, total, cpu0)
}

// BenchmarkHashBigFile hashes one 512 MiB file (kept in the system temp
// dir) without a stat cache: the case where file-level parallelism cannot
// help.
func BenchmarkHashBigFile(b *testing.B) {
	const size = 512 << 20
	path := filepath.Join(os.TempDir(), "nnrunner-bench-hashing-512m-v1.bin")
	if fi, err := os.Stat(path); err != nil || fi.Size() != size {
		data := make([]byte, size)
		if _, err := rand.NewChaCha8([32]byte{2}).Read(data); err != nil {
			b.Fatal(err)
		}
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, data, 0o644); err != nil {
			b.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			b.Fatal(err)
		}
	}
	cpu0 := cpuTime()
	for b.Loop() {
		h, err := NewHasher("", 0)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := h.Hash(context.Background(), path); err != nil {
			b.Fatal(err)
		}
	}
	reportGBs(b, size, cpu0)
}

// BenchmarkHashWarm re-hashes the unchanged dataset the way a no-op apply
// does: a new Hasher loads the stat cache file, hashes, saves (a no-op).
func BenchmarkHashWarm(b *testing.B) {
	root, total := benchDataset(b)
	warmNoop(b, root, total, benchFiles)
}

// BenchmarkHashHippocampusWarm is the warm no-op over the 260-case
// MSD hippocampus dataset in ../shared/data (skipped when absent).
func BenchmarkHashHippocampusWarm(b *testing.B) {
	root := sharedtest.Path(b, "data", "msd-hippocampus")
	warmNoop(b, root, 0, 0)
}

func warmNoop(b *testing.B, root string, total, files int64) {
	cache := filepath.Join(b.TempDir(), "stat.cache")
	h, err := NewHasher(cache, 0)
	if err != nil {
		b.Fatal(err)
	}
	h.now = aheadClock
	m, err := h.Hash(context.Background(), root)
	if err != nil {
		b.Fatal(err)
	}
	if err := h.Save(); err != nil {
		b.Fatal(err)
	}
	if total == 0 {
		total, files = m.TotalSize(), h.Stats().Files
	}
	cpu0 := cpuTime()
	for b.Loop() {
		h, err := NewHasher(cache, 0)
		if err != nil {
			b.Fatal(err)
		}
		h.now = aheadClock
		if _, err := h.Hash(context.Background(), root); err != nil {
			b.Fatal(err)
		}
		if err := h.Save(); err != nil {
			b.Fatal(err)
		}
		if s := h.Stats(); s.FilesRead != 0 || s.CacheHits != files {
			b.Fatalf("warm run read files: %+v", s)
		}
	}
	reportGBs(b, total, cpu0)
}
