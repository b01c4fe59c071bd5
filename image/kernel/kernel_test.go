package kernel

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/pierrec/lz4/v4"

	"github.com/volant-sh/volant/errdefs"
)

// fakeELF returns a minimal ELF64 file with one PT_NOTE segment holding
// the given notes.
func fakeELF(notes []byte, padTo int) []byte {
	const ehsize, phsize = 64, 56
	le := binary.LittleEndian
	b := make([]byte, ehsize+phsize)
	copy(b, "\x7fELF")
	b[4], b[5], b[6] = 2, 1, 1 // 64-bit, little endian, version 1
	le.PutUint16(b[16:], 2)    // ET_EXEC
	le.PutUint16(b[18:], 62)   // EM_X86_64
	le.PutUint32(b[20:], 1)
	le.PutUint64(b[32:], ehsize) // phoff
	le.PutUint16(b[52:], ehsize)
	le.PutUint16(b[54:], phsize)
	le.PutUint16(b[56:], 1) // phnum
	ph := b[ehsize:]
	le.PutUint32(ph[0:], 4)                   // PT_NOTE
	le.PutUint64(ph[8:], ehsize+phsize)       // offset
	le.PutUint64(ph[32:], uint64(len(notes))) // filesz
	le.PutUint64(ph[40:], uint64(len(notes))) // memsz
	b = append(b, notes...)
	// Compressible filler so the payload spans several LZ4 blocks.
	for len(b) < padTo {
		b = append(b, "volant filler "...)
	}
	return b
}

func note(name string, typ uint32, desc []byte) []byte {
	le := binary.LittleEndian
	var b []byte
	b = le.AppendUint32(b, uint32(len(name)+1))
	b = le.AppendUint32(b, uint32(len(desc)))
	b = le.AppendUint32(b, typ)
	n := append([]byte(name), 0)
	for len(n)%4 != 0 {
		n = append(n, 0)
	}
	b = append(b, n...)
	b = append(b, desc...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func pvhELF(padTo int) []byte {
	notes := append(note("GNU", 3, []byte{1, 2, 3, 4, 5}), note("Xen", 18, []byte{0x00, 0x10, 0x00, 0x01})...)
	return fakeELF(notes, padTo)
}

// lz4Legacy compresses p the way the kernel build does: legacy frame of
// 8 MiB blocks, then the uncompressed size.
func lz4Legacy(t *testing.T, p []byte, block int) []byte {
	t.Helper()
	le := binary.LittleEndian
	out := le.AppendUint32(nil, legacyMagic)
	for len(p) > 0 {
		n := min(block, len(p))
		dst := make([]byte, lz4.CompressBlockBound(n))
		c, err := lz4.CompressBlock(p[:n], dst, nil)
		if err != nil || c == 0 {
			t.Fatalf("CompressBlock: %d, %v", c, err)
		}
		out = le.AppendUint32(out, uint32(c))
		out = append(out, dst[:c]...)
		p = p[n:]
	}
	return out
}

// fakeBzImage wraps a payload in a setup header with setup_sects = 2.
func fakeBzImage(payload []byte) []byte {
	le := binary.LittleEndian
	b := make([]byte, 3*512+100) // setup + 100 bytes of "decompressor"
	b[offSetupSects] = 2
	copy(b[offHeaderMagic:], headerMagic)
	le.PutUint32(b[offPayloadOffset:], 100)
	le.PutUint32(b[offPayloadLength:], uint32(len(payload)))
	b = append(b, payload...)
	return append(b, "tail after payload"...)
}

func TestExtract(t *testing.T) {
	elf := pvhELF(3 << 20)
	le := binary.LittleEndian
	lz := lz4Legacy(t, elf, 1<<20)
	twoFrames := append(lz4Legacy(t, elf[:1<<20], 1<<20), lz4Legacy(t, elf[1<<20:], 1<<20)...)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(elf)
	zw.Close()

	tests := []struct {
		name    string
		payload []byte
	}{
		{"lz4 with size trailer", le.AppendUint32(bytes.Clone(lz), uint32(len(elf)))},
		{"lz4 without trailer", lz},
		{"lz4 concatenated frames", le.AppendUint32(twoFrames, uint32(len(elf)))},
		{"gzip with size trailer", le.AppendUint32(gz.Bytes(), uint32(len(elf)))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Extract(fakeBzImage(tt.payload))
			if err != nil {
				t.Fatalf("Extract: %v", err)
			}
			if !bytes.Equal(got, elf) {
				t.Fatalf("Extract returned %d bytes, want the %d-byte ELF", len(got), len(elf))
			}
			entry, err := PVHEntry(got)
			if err != nil || entry != 0x01001000 {
				t.Errorf("PVHEntry = %#x, %v; want 0x1001000", entry, err)
			}
		})
	}
}

func TestExtractErrors(t *testing.T) {
	le := binary.LittleEndian
	noPVH := fakeELF(note("GNU", 3, []byte{1, 2, 3, 4}), 0)
	badTrailer := le.AppendUint32(lz4Legacy(t, noPVH, 1<<20), 12345)
	tests := []struct {
		name string
		bz   []byte
	}{
		{"too short", []byte("MZ")},
		{"no HdrS", make([]byte, 4096)},
		{"payload past end", func() []byte {
			b := fakeBzImage([]byte{0x02, 0x21, 0x4c, 0x18})
			le.PutUint32(b[offPayloadLength:], 1<<20)
			return b
		}()},
		{"xz payload", fakeBzImage([]byte{0xfd, '7', 'z', 'X', 'Z', 0, 1, 2})},
		{"zstd payload", fakeBzImage([]byte{0x28, 0xb5, 0x2f, 0xfd, 1, 2})},
		{"no PVH note", fakeBzImage(lz4Legacy(t, noPVH, 1<<20))},
		{"wrong size trailer", fakeBzImage(badTrailer)},
		{"truncated block", fakeBzImage(lz4Legacy(t, noPVH, 1<<20)[:20])},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Extract(tt.bz)
			if err == nil {
				t.Fatal("Extract succeeded, want an error")
			}
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Errorf("Extract error %v is not ErrInvalidArgument", err)
			}
			t.Log(err)
		})
	}
}

func TestFormat(t *testing.T) {
	for _, tt := range []struct {
		p    []byte
		want string
	}{
		{[]byte{0x02, 0x21, 0x4c, 0x18, 0}, "lz4"},
		{[]byte{0x1f, 0x8b, 8}, "gzip"},
		{[]byte{0xfd, '7', 'z', 'X', 'Z', 0}, "xz"},
		{[]byte("BZh9"), "bzip2"},
		{[]byte("nope"), "unknown"},
	} {
		if got := Format(tt.p); got != tt.want {
			t.Errorf("Format(% x) = %q, want %q", tt.p, got, tt.want)
		}
	}
}
