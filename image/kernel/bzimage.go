package kernel

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"io"

	"github.com/pierrec/lz4/v4"

	"github.com/volant-sh/volant/errdefs"
)

// Offsets in the x86 boot protocol's setup header
// (Documentation/arch/x86/boot.rst).
const (
	offSetupSects    = 0x1f1
	offHeaderMagic   = 0x202
	offPayloadOffset = 0x248
	offPayloadLength = 0x24c
	headerMagic      = "HdrS"
)

// Payload returns the compressed kernel inside a bzImage and the name of
// its compression format.
func Payload(bz []byte) ([]byte, string, error) {
	if len(bz) < offPayloadLength+4 {
		return nil, "", errdefs.Invalid("bzImage: %d bytes is too short for a setup header", len(bz))
	}
	if string(bz[offHeaderMagic:offHeaderMagic+4]) != headerMagic {
		return nil, "", errdefs.Invalid("bzImage: no %q setup header magic at 0x%x", headerMagic, offHeaderMagic)
	}
	sects := int(bz[offSetupSects])
	if sects == 0 {
		sects = 4
	}
	pm := (sects + 1) * 512
	off := int(binary.LittleEndian.Uint32(bz[offPayloadOffset:]))
	n := int(binary.LittleEndian.Uint32(bz[offPayloadLength:]))
	start, end := pm+off, pm+off+n
	if n == 0 || start > len(bz) || end > len(bz) || end < start {
		return nil, "", errdefs.Invalid("bzImage: payload [%d, %d) lies outside the %d-byte file", start, end, len(bz))
	}
	p := bz[start:end]
	return p, Format(p), nil
}

// Format names the compression of a kernel payload by its magic bytes.
func Format(p []byte) string {
	for _, f := range []struct {
		name  string
		magic []byte
	}{
		{"gzip", []byte{0x1f, 0x8b}},
		{"xz", []byte{0xfd, '7', 'z', 'X', 'Z', 0}},
		{"zstd", []byte{0x28, 0xb5, 0x2f, 0xfd}},
		{"lz4", []byte{0x02, 0x21, 0x4c, 0x18}},
		{"bzip2", []byte("BZh")},
		{"lzo", []byte{0x89, 'L', 'Z', 'O'}},
		{"lzma", []byte{0x5d, 0, 0}},
		{"elf", []byte("\x7fELF")},
	} {
		if bytes.HasPrefix(p, f.magic) {
			return f.name
		}
	}
	return "unknown"
}

// Extract returns the vmlinux inside a bzImage. It supports LZ4 (the
// kernel's legacy-frame variant, Debian's choice) and gzip payloads, and
// checks that the result is an ELF with a PVH entry note.
func Extract(bz []byte) ([]byte, error) {
	p, format, err := Payload(bz)
	if err != nil {
		return nil, err
	}
	var out []byte
	switch format {
	case "lz4":
		out, err = unlz4Legacy(p)
	case "gzip":
		out, err = gunzip(p)
	case "elf":
		out = bytes.Clone(p)
	default:
		return nil, errdefs.Invalid("bzImage: %s-compressed payload is not supported; use a kernel built with CONFIG_KERNEL_LZ4 or CONFIG_KERNEL_GZIP", format)
	}
	if err != nil {
		return nil, errdefs.Invalid("bzImage: decompressing %s payload: %v", format, err)
	}
	if _, err := PVHEntry(out); err != nil {
		return nil, err
	}
	return out, nil
}

// legacyMagic starts an LZ4 legacy frame; legacyBlock is the most one
// block decompresses to.
const (
	legacyMagic = 0x184c2102
	legacyBlock = 8 << 20
)

// unlz4Legacy decompresses the kernel's LZ4 format: legacy frames (magic,
// then blocks each prefixed by their compressed size), possibly several
// concatenated, followed by the 4-byte uncompressed size the kernel build
// appends (size_append).
func unlz4Legacy(p []byte) ([]byte, error) {
	var out []byte
	buf := make([]byte, legacyBlock)
	pos := 0
	for pos < len(p) {
		if len(p)-pos < 4 {
			return nil, errdefs.Invalid("%d stray bytes at offset %d", len(p)-pos, pos)
		}
		v := binary.LittleEndian.Uint32(p[pos:])
		switch {
		case v == legacyMagic:
			pos += 4
			continue
		case len(p)-pos == 4 && pos > 0:
			// The appended uncompressed size.
			if int(v) != len(out) {
				return nil, errdefs.Invalid("decompressed %d bytes, the trailer says %d", len(out), v)
			}
			return out, nil
		case pos == 0:
			return nil, errdefs.Invalid("no LZ4 legacy frame magic")
		}
		pos += 4
		if int(v) > len(p)-pos {
			return nil, errdefs.Invalid("block of %d bytes at offset %d overruns the %d-byte payload", v, pos, len(p))
		}
		n, err := lz4.UncompressBlock(p[pos:pos+int(v)], buf)
		if err != nil {
			return nil, errdefs.Invalid("block at offset %d: %v", pos, err)
		}
		out = append(out, buf[:n]...)
		pos += int(v)
	}
	return out, nil
}

func gunzip(p []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(p))
	if err != nil {
		return nil, err
	}
	// The kernel's gzip payload is followed by the appended size; read
	// only the first member.
	zr.Multistream(false)
	return io.ReadAll(zr)
}
