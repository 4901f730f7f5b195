package hashing

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestCanonicalEncodingGolden pins the manifest encoding and root of a
// small tree. Cache keys built from roots must not change between runner
// versions unless the key-schema version is bumped: if this test fails,
// the encoding changed.
func TestCanonicalEncodingGolden(t *testing.T) {
	root := writeTree(t, map[string]node{
		"b.txt":       {content: "bravo\n"},
		"a/run.sh":    {content: "#!/bin/sh\n", exec: true},
		"a/empty":     {dir: true},
		"link":        {link: "b.txt"},
		"odd name\t":  {content: ""},
		"Ünïcode":     {content: "u"},
		"bad\xffutf8": {content: "x"},
	})
	m := hashTree(t, testHasher(t, ""), root)
	text, err := m.MarshalText()
	must(t, err)
	const want = `nnrunner-manifest 1
d 755 0 0000000000000000000000000000000000000000000000000000000000000000 "a/empty"
f 755 10 bc1f407a11c9377c8b9b13f956b279c8462775105eb958fc9ae3c40de87cc96e "a/run.sh"
f 644 6 2001794aa22d2ae9bbe5fa5d095bce9ac553636b1ea69b4f038962b010339fe7 "b.txt"
f 644 1 3ae7d805f6789a6402acb70ad4096a85a56bf6804eaf25c0493ac697548d30b5 "bad\xffutf8"
l 777 5 94c60f97ed63cd196a08aa2a07d4161b606bd26cffe4577dc5219511b4b78683 "link"
f 644 0 af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262 "odd name\t"
f 644 1 135e48e7e8a6c46c54b691dc13e3ce20b8426755ed52ad5f93ebb4b66215b318 "\u00dcn\u00efcode"
`
	if d := cmp.Diff(want, string(text)); d != "" {
		t.Errorf("canonical text (-want +got):\n%s", d)
	}
	var back Manifest
	must(t, back.UnmarshalText(text))
	if d := cmp.Diff(m, &back); d != "" {
		t.Errorf("decoded manifest (-want +got):\n%s", d)
	}
	const wantRoot = "c4ae7b994fdd3a7257e2e8ce8b13edeb037e83b45ebb1bc0a6853841175130c8"
	if got := m.Root().String(); got != wantRoot {
		t.Errorf("Root = %s, want %s", got, wantRoot)
	}
}

// TestFileDigestsMatchBLAKE3Vectors hashes files holding the inputs of the
// official BLAKE3 test vectors (byte i is i mod 251) through the Hasher's
// streaming path and compares with the official 256-bit hashes.
func TestFileDigestsMatchBLAKE3Vectors(t *testing.T) {
	tests := []struct {
		n    int
		want string
	}{
		{0, "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"},
		{1, "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213"},
		{1025, "d00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444"},
		{8193, "bab6c09cb8ce8cf459261398d2e7aef35700bf488116ceb94a36d0f5f1b7bc3b"},
		{31744, "62b6960e1a44bcc1eb1a611a8d6235b6b4b78f32e7abc4fb4c6cdcce94895c47"},
	}
	dir := t.TempDir()
	h := testHasher(t, "")
	for _, tt := range tests {
		in := make([]byte, tt.n)
		for i := range in {
			in[i] = byte(i % 251)
		}
		p := filepath.Join(dir, "in")
		must(t, os.WriteFile(p, in, 0o644))
		m := hashTree(t, h, p)
		if got := m.Entries[0].Digest.String(); got != tt.want {
			t.Errorf("len %d: digest %s, want %s", tt.n, got, tt.want)
		}
	}
}

// TestLargeFileDigest covers the pipelined path for large files (a reader
// goroutine feeding the hasher, full buffers then a partial one) against a
// one-shot digest.
func TestLargeFileDigest(t *testing.T) {
	size := pipelineMinSize + readBufSize + 7
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i*7 + i>>11)
	}
	p := filepath.Join(t.TempDir(), "big")
	must(t, os.WriteFile(p, data, 0o644))
	h := testHasher(t, "")
	m := hashTree(t, h, p)
	if m.Entries[0].Digest != Sum(data) {
		t.Error("digest differs from the one-shot digest")
	}
	if s := h.Stats(); s.BytesRead != int64(size) {
		t.Errorf("read %d bytes, want %d", s.BytesRead, size)
	}
}
