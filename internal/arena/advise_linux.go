//go:build linux

package arena

import "golang.org/x/sys/unix"

// adviseHuge asks the kernel to back the whole huge pages of b with
// transparent huge pages. Failure (THP disabled, an old kernel) only
// leaves ordinary pages, so the error is ignored.
func adviseHuge(b []byte) {
	n := len(b) / HugePage * HugePage
	if n == 0 {
		return
	}
	_ = unix.Madvise(b[:n], unix.MADV_HUGEPAGE)
}
