package tokenizer

import (
	"container/heap"
	"math"
)

// mergeTable maps an adjacent pair of token ids to the merge that joins
// them. Keys pack (left<<32 | right); values pack (rank<<32 | result id).
// Lower rank merges first; among equal ranks the leftmost pair merges first.
type mergeTable map[uint64]uint64

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

func packMerge(rank, id int32) uint64 { return uint64(uint32(rank))<<32 | uint64(uint32(id)) }

func unpackMerge(v uint64) (rank, id int32) { return int32(v >> 32), int32(uint32(v)) }

// noRank marks "no merge" in rank arrays.
const noRank = math.MaxInt32

// heapThreshold is the word length (in symbols) from which merging uses the
// O(n log n) heap instead of the O(n²) linear scan; both give the same
// result (TestMergeHeapMatchesLinear).
const heapThreshold = 48

// merge applies BPE merges to syms in place and returns the merged prefix.
func (m mergeTable) merge(syms []int32) []int32 {
	if len(syms) >= heapThreshold {
		return m.mergeHeap(syms)
	}
	return m.mergeLinear(syms)
}

func (m mergeTable) rank(a, b int32) (int32, int32) {
	if v, ok := m[pairKey(a, b)]; ok {
		return unpackMerge(v)
	}
	return noRank, -1
}

// mergeLinear is the plain reference: repeatedly merge the lowest-ranked,
// leftmost adjacent pair.
func (m mergeTable) mergeLinear(syms []int32) []int32 {
	if len(syms) < 2 {
		return syms
	}
	var stack [heapThreshold]int32
	ranks := stack[:0]
	if len(syms) > heapThreshold {
		ranks = make([]int32, 0, len(syms))
	}
	for i := 0; i+1 < len(syms); i++ {
		r, _ := m.rank(syms[i], syms[i+1])
		ranks = append(ranks, r)
	}
	for len(syms) > 1 {
		best, bi := int32(noRank), -1
		for i, r := range ranks {
			if r < best {
				best, bi = r, i
			}
		}
		if bi < 0 {
			break
		}
		_, id := m.rank(syms[bi], syms[bi+1])
		syms[bi] = id
		syms = append(syms[:bi+1], syms[bi+2:]...)
		ranks = append(ranks[:bi], ranks[bi+1:]...)
		if bi > 0 {
			ranks[bi-1], _ = m.rank(syms[bi-1], syms[bi])
		}
		if bi < len(ranks) {
			ranks[bi], _ = m.rank(syms[bi], syms[bi+1])
		}
	}
	return syms
}

// candidate is a possible merge of the symbol at left with its successor.
type candidate struct {
	rank, left int32
	a, b       int32 // the ids the pair had when queued
}

type candHeap []candidate

func (h candHeap) Len() int { return len(h) }
func (h candHeap) Less(i, j int) bool {
	return h[i].rank < h[j].rank || (h[i].rank == h[j].rank && h[i].left < h[j].left)
}
func (h candHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *candHeap) Push(x any)   { *h = append(*h, x.(candidate)) }
func (h *candHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// mergeHeap merges with a priority queue over a doubly linked symbol list.
// Stale queue entries (a side already merged away) are skipped on pop.
func (m mergeTable) mergeHeap(syms []int32) []int32 {
	n := len(syms)
	prev := make([]int32, n)
	next := make([]int32, n)
	alive := make([]bool, n)
	h := make(candHeap, 0, n)
	for i := range syms {
		prev[i], next[i], alive[i] = int32(i-1), int32(i+1), true
		if i+1 < n {
			if r, _ := m.rank(syms[i], syms[i+1]); r != noRank {
				h = append(h, candidate{rank: r, left: int32(i), a: syms[i], b: syms[i+1]})
			}
		}
	}
	next[n-1] = -1
	heap.Init(&h)
	push := func(l int32) {
		if l < 0 || next[l] < 0 {
			return
		}
		r := next[l]
		if rk, _ := m.rank(syms[l], syms[r]); rk != noRank {
			heap.Push(&h, candidate{rank: rk, left: l, a: syms[l], b: syms[r]})
		}
	}
	for h.Len() > 0 {
		c := heap.Pop(&h).(candidate)
		l := c.left
		r := next[l]
		if !alive[l] || r < 0 || syms[l] != c.a || syms[r] != c.b {
			continue
		}
		_, id := m.rank(c.a, c.b)
		syms[l] = id
		alive[r] = false
		next[l] = next[r]
		if next[r] >= 0 {
			prev[next[r]] = l
		}
		push(prev[l])
		push(l)
	}
	out := syms[:0]
	for i := int32(0); i >= 0 && int(i) < n; i = next[i] {
		out = append(out, syms[i])
	}
	return out
}
