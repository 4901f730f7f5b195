// Package hashing computes BLAKE3 content digests of files and directory
// trees. A tree is described by a Manifest: the sorted list of its files,
// empty directories and symlinks with their content digests, whose Merkle
// root identifies the tree. A Hasher hashes with all cores and remembers
// the digests of unchanged files in a persistent stat cache, so re-hashing
// an unchanged tree does not read file contents.
package hashing

import (
	"encoding/hex"
	"fmt"

	"github.com/zeebo/blake3"
)

// Digest is a BLAKE3-256 digest.
type Digest [32]byte

// Sum returns the BLAKE3-256 digest of b.
func Sum(b []byte) Digest {
	return blake3.Sum256(b)
}

// String returns the digest as lowercase hex.
func (d Digest) String() string {
	return hex.EncodeToString(d[:])
}

// IsZero reports whether d is the zero digest (no digest).
func (d Digest) IsZero() bool {
	return d == Digest{}
}

// MarshalText encodes the digest as lowercase hex.
func (d Digest) MarshalText() ([]byte, error) {
	b := make([]byte, hex.EncodedLen(len(d)))
	hex.Encode(b, d[:])
	return b, nil
}

// UnmarshalText decodes a digest written by MarshalText.
func (d *Digest) UnmarshalText(b []byte) error {
	p, err := ParseDigest(string(b))
	if err != nil {
		return err
	}
	*d = p
	return nil
}

// ParseDigest parses a digest written as 64 hex digits.
func ParseDigest(s string) (Digest, error) {
	var d Digest
	if len(s) != hex.EncodedLen(len(d)) {
		return d, fmt.Errorf("parse digest %q: want %d hex digits, got %d", s, hex.EncodedLen(len(d)), len(s))
	}
	if _, err := hex.Decode(d[:], []byte(s)); err != nil {
		return d, fmt.Errorf("parse digest %q: %w", s, err)
	}
	return d, nil
}
