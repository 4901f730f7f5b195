package store

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/nnrunner/nnrunner/pipeline/hashing"
)

// Stage-output-like tree for the store benchmarks: 1,000 files of 64 KiB
// (64 MiB) in 10 folders.
const (
	benchFiles    = 1000
	benchFileSize = 64 << 10
)

func benchTree(b *testing.B, root string, extraLinks bool) {
	b.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, benchFileSize)
	for i := range benchFiles {
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		p := filepath.Join(root, fmt.Sprintf("d%02d", i%10), fmt.Sprintf("f%04d", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			b.Fatal(err)
		}
		if extraLinks {
			if err := os.Link(p, p+".link"); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkPut ingests a fresh 64 MiB tree into an empty store per
// iteration: "link" hardlinks single-link files, "copy" copies files that
// have other links (as across file systems), with fsync per blob.
func BenchmarkPut(b *testing.B) {
	for _, mode := range []string{"link", "copy"} {
		b.Run(mode, func(b *testing.B) {
			b.SetBytes(benchFiles * benchFileSize)
			for range b.N {
				b.StopTimer()
				src := filepath.Join(b.TempDir(), "src")
				benchTree(b, src, mode == "copy")
				h, err := hashing.NewHasher("", 0)
				if err != nil {
					b.Fatal(err)
				}
				m, err := h.Hash(ctx, src)
				if err != nil {
					b.Fatal(err)
				}
				s, err := Open(filepath.Join(b.TempDir(), "store"))
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if _, err := s.Put(ctx, src, m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMaterialize restores a stored 64 MiB tree (re-hashing every
// blob, hardlinking it into place) per iteration.
func BenchmarkMaterialize(b *testing.B) {
	src := filepath.Join(b.TempDir(), "src")
	benchTree(b, src, false)
	h, err := hashing.NewHasher("", 0)
	if err != nil {
		b.Fatal(err)
	}
	m, err := h.Hash(ctx, src)
	if err != nil {
		b.Fatal(err)
	}
	s, err := Open(filepath.Join(b.TempDir(), "store"))
	if err != nil {
		b.Fatal(err)
	}
	id, err := s.Put(ctx, src, m)
	if err != nil {
		b.Fatal(err)
	}
	dsts := b.TempDir()
	b.SetBytes(benchFiles * benchFileSize)
	b.ResetTimer()
	for i := range b.N {
		if err := s.Materialize(ctx, id, filepath.Join(dsts, fmt.Sprint(i))); err != nil {
			b.Fatal(err)
		}
	}
}
