// Package tail cuts the end off a log: the console route and the
// Kubernetes provider's logs both answer "the last n lines".
package tail

// Lines returns the last n lines of b (all of b when n <= 0). A final
// newline ends the last line rather than starting an empty one.
func Lines(b []byte, n int) []byte {
	if n <= 0 {
		return b
	}
	end := len(b)
	if end > 0 && b[end-1] == '\n' {
		end--
	}
	for i := end - 1; i >= 0; i-- {
		if b[i] == '\n' {
			n--
			if n == 0 {
				return b[i+1:]
			}
		}
	}
	return b
}
