package kernel

import (
	"bytes"
	"debug/elf"
	"encoding/binary"

	"github.com/volant-sh/volant/errdefs"
)

// xenElfnotePhys32Entry is XEN_ELFNOTE_PHYS32_ENTRY, the note that holds a
// kernel's PVH entry point.
const xenElfnotePhys32Entry = 18

// PVHEntry returns the 32-bit PVH entry point of a vmlinux, read from its
// "Xen" note of type XEN_ELFNOTE_PHYS32_ENTRY.
func PVHEntry(vmlinux []byte) (uint32, error) {
	f, err := elf.NewFile(bytes.NewReader(vmlinux))
	if err != nil {
		return 0, errdefs.Invalid("vmlinux is not an ELF file: %v", err)
	}
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		b := make([]byte, p.Filesz)
		if _, err := p.ReadAt(b, 0); err != nil {
			return 0, errdefs.Invalid("vmlinux: reading note segment: %v", err)
		}
		if entry, ok := findPVHNote(b, f.ByteOrder); ok {
			return entry, nil
		}
	}
	return 0, errdefs.Invalid("vmlinux has no PVH entry note (Xen, type %d); the kernel needs CONFIG_PVH=y", xenElfnotePhys32Entry)
}

func findPVHNote(b []byte, bo binary.ByteOrder) (uint32, bool) {
	align4 := func(n int) int { return (n + 3) &^ 3 }
	for len(b) >= 12 {
		namesz := int(bo.Uint32(b[0:]))
		descsz := int(bo.Uint32(b[4:]))
		typ := bo.Uint32(b[8:])
		b = b[12:]
		if namesz > len(b) || align4(namesz)+descsz > len(b) {
			return 0, false
		}
		name := string(bytes.TrimRight(b[:namesz], "\x00"))
		desc := b[align4(namesz) : align4(namesz)+descsz]
		if name == "Xen" && typ == xenElfnotePhys32Entry && len(desc) >= 4 {
			return bo.Uint32(desc), true
		}
		if len(b) < align4(namesz)+align4(descsz) {
			return 0, false
		}
		b = b[align4(namesz)+align4(descsz):]
	}
	return 0, false
}
