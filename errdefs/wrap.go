package errdefs

import "fmt"

// classed is an error with a user-facing message and a class, so that
// errors.Is(err, class) holds while Error() shows only the message.
type classed struct {
	class error
	msg   string
}

func (e *classed) Error() string { return e.msg }

func (e *classed) Unwrap() error { return e.class }

func wrap(class error, format string, args ...any) error {
	return &classed{class: class, msg: fmt.Sprintf(format, args...)}
}
