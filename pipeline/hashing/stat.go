package hashing

// fileID identifies a file on this machine.
type fileID struct {
	dev, ino uint64
}

// fileStat is the part of a file's metadata the hasher uses.
type fileStat struct {
	id      fileID
	size    int64
	mtimeNs int64
	ctimeNs int64
	perm    uint32
	nlink   uint64
	kind    EntryKind // 0 for sockets, devices and other unsupported types
}

// sameVersion reports whether a and b describe the same version of the same
// file as far as its metadata can tell.
func (a fileStat) sameVersion(b fileStat) bool {
	return a.id == b.id && a.size == b.size && a.mtimeNs == b.mtimeNs && a.ctimeNs == b.ctimeNs
}
