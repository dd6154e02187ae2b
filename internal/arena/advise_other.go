//go:build !linux

package arena

// adviseHuge is a no-op where transparent huge pages cannot be requested.
func adviseHuge([]byte) {}
