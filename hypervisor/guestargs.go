package hypervisor

// GuestKernelArgs are the kernel arguments every driver gives a guest,
// whatever its VMM: they shape what the guest kernel does, not how the VMM
// runs it. Each cuts work the guest would do for nobody, and under TCG a
// restored guest's first requests run, and translate, every such path
// anew.
var GuestKernelArgs = []string{
	// The crypto self-tests at boot (~0.2 s under TCG).
	"cryptomgr.notests",
	// Pressure-stall accounting on every context switch and wake-up:
	// nothing in a sandbox reads /proc/pressure.
	"psi=0",
	// Debian's kernel also stacks AppArmor, TOMOYO, IMA/EVM, LoadPin and
	// SafeSetID, whose hooks (path names built on every exec, open and
	// mmap) checked policies no guest loads: the sandbox boundary is the
	// VM. These stay: Landlock (programs inside sandbox themselves with
	// it), Yama's ptrace limits, lockdown and BPF LSM programs.
	"lsm=landlock,lockdown,yama,bpf",
}
