package sandbox

// reverter undoes the steps of a multi-step operation that failed half way,
// newest first. Success() disarms it.
type reverter struct {
	undo []func()
}

// add registers an undo step.
func (r *reverter) add(f func()) { r.undo = append(r.undo, f) }

// fail runs every undo step, newest first.
func (r *reverter) fail() {
	for i := len(r.undo) - 1; i >= 0; i-- {
		r.undo[i]()
	}
	r.undo = nil
}

// success disarms the reverter.
func (r *reverter) success() { r.undo = nil }
