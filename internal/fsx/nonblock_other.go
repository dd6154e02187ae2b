//go:build !unix

package fsx

// openNonBlock is 0 where the platform has no FIFOs to block on.
const openNonBlock = 0
