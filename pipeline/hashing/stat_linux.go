package hashing

import (
	"fmt"
	"os"
	"syscall"
)

// lstat returns the metadata of path without following a final symlink.
// It uses the raw system call so that the hot loop of a warm re-hash does
// not allocate an os.FileInfo per file.
func lstat(path string) (fileStat, error) {
	var st syscall.Stat_t
	for {
		err := syscall.Lstat(path, &st)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return fileStat{}, &os.PathError{Op: "lstat", Path: path, Err: err}
		}
		return fromStatT(&st), nil
	}
}

// fstat returns the metadata of an open file.
func fstat(f *os.File) (fileStat, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return fileStat{}, fmt.Errorf("fstat %s: %w", f.Name(), err)
	}
	return fromStatT(&st), nil
}

func fromStatT(st *syscall.Stat_t) fileStat {
	s := fileStat{
		id:      fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)},
		size:    st.Size,
		mtimeNs: st.Mtim.Nano(),
		ctimeNs: st.Ctim.Nano(),
		perm:    st.Mode & 0o7777,
		nlink:   uint64(st.Nlink),
	}
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFREG:
		s.kind = File
	case syscall.S_IFDIR:
		s.kind = Dir
	case syscall.S_IFLNK:
		s.kind = Symlink
	}
	return s
}

// lockFile takes an exclusive advisory lock on the file at path (created
// if missing) and returns the function that releases it.
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
