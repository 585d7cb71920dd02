//go:build windows || plan9 || solaris || aix || android

package boltstore

import "os"

// unlock does nothing here: bbolt's lock on these systems goes with the
// file's handle, which the caller closes.
func unlock(*os.File) {}
