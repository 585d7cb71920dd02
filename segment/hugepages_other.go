//go:build !linux

package segment

// adviseHugePages and releaseHugePages do nothing where transparent huge
// pages cannot be asked for (see hugepages_linux.go).
func adviseHugePages(b []byte, collapse bool) {}

func releaseHugePages(b []byte) {}
