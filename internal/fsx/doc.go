// Package fsx opens and reads the files of a model folder without trusting
// them: every open refuses what is not a regular file (a FIFO, a device, a
// socket) before it could block or stream forever, and every whole-file
// read is capped.
//
// Open stats the path first (following symlinks, which HF's cache uses),
// refuses a non-regular file, then opens it with O_NONBLOCK where the
// platform has it (so a FIFO swapped in between the two steps cannot block
// the open) and checks the opened descriptor again with fstat. ReadFile is
// Open plus a read of at most limit bytes; a larger file is an error naming
// the file and the limit, decided from its size before reading.
package fsx
