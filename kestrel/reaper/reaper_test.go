package reaper

import (
	"os"
	"sync"
	"testing"
)

func TestStartProcessDeliversStatus(t *testing.T) {
	r := New(false)
	t.Cleanup(func() { r.Close() })
	tests := []struct {
		name string
		argv []string
		want int
	}{
		{"true", []string{"/bin/sh", "-c", "true"}, 0},
		{"exit 3", []string{"/bin/sh", "-c", "exit 3"}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ch, err := r.StartProcess(tt.argv[0], tt.argv, &os.ProcAttr{})
			if err != nil {
				t.Fatal(err)
			}
			ws := <-ch
			if got := ws.ExitStatus(); got != tt.want {
				t.Errorf("exit status = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestManyConcurrentChildren(t *testing.T) {
	r := New(false)
	t.Cleanup(func() { r.Close() })
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, ch, err := r.StartProcess("/bin/sh", []string{"sh", "-c", "exit $0", string(rune('0' + i%10))}, &os.ProcAttr{})
			if err != nil {
				t.Error(err)
				return
			}
			if got, want := (<-ch).ExitStatus(), i%10; got != want {
				t.Errorf("child %d: exit status = %d, want %d", i, got, want)
			}
		}()
	}
	wg.Wait()
}
