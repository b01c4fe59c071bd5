package system

import (
	"testing"

	"golang.org/x/sys/unix"
)

// Entropy goes through one descriptor, opened once and kept. (Only a
// write here, which mixes without crediting: the test must not credit
// known bytes to the host's pool.)
func TestURandomKeepsItsDescriptor(t *testing.T) {
	first, err := urandom()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unix.Write(first, []byte("volant test bytes")); err != nil {
		t.Fatalf("writing to the kept descriptor: %v", err)
	}
	if again, _ := urandom(); again != first {
		t.Errorf("descriptor %d, then %d: want one kept", first, again)
	}
}
