//go:build unix

package engine

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestLoadDefinitionsPipe: a pipe that never ends is refused once
// MaxFileSize bytes have been read from it.
func TestLoadDefinitionsPipe(t *testing.T) {
	path := filepath.Join(t.TempDir(), "defs.yaml")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skip(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		defer f.Close()
		for {
			if _, err := f.Write([]byte("# a pipe that never ends\n")); err != nil {
				return // the reader has closed it
			}
		}
	}()
	_, err := LoadDefinitions(path)
	if !errors.Is(err, ErrDefinition) || !strings.Contains(err.Error(), "longer than 2097152 bytes (MaxFileSize)") {
		t.Fatalf("err = %v", err)
	}
	<-done
}
