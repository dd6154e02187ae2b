//go:build !amd64 || purego

package blas

// Without amd64 assembly only LevelGo exists.

func hasAVX2FMA() bool { return false }

func hasAVX512() bool { return false }

func bindAsm(*Impl) {}
