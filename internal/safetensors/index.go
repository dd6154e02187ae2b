package safetensors

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/fovea-ml/fovea/internal/fsx"
)

// maxIndexSize caps the size of a sharded checkpoint's index JSON.
const maxIndexSize = 64 << 20

// indexJSON is the layout of model.safetensors.index.json.
type indexJSON struct {
	Metadata  map[string]json.RawMessage `json:"metadata"`
	WeightMap map[string]string          `json:"weight_map"`
}

// openIndex opens every shard named by a sharded checkpoint's index and
// checks the index and the shards agree exactly: every mapped name is in
// its shard, and every tensor of every shard is mapped to that shard.
func openIndex(path string) (*File, error) {
	raw, err := fsx.ReadFile(path, maxIndexSize)
	if err != nil {
		return nil, fmt.Errorf("safetensors: index: %w", err)
	}
	var idx indexJSON
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, fmt.Errorf("safetensors: index %s: %w", path, err)
	}
	if idx.WeightMap == nil {
		return nil, fmt.Errorf("safetensors: index %s has no weight_map", path)
	}
	dir := filepath.Dir(path)
	shardNames := map[string]bool{}
	for name, shard := range idx.WeightMap {
		if shard == "" || shard != filepath.Base(shard) || shard == "." || shard == ".." || strings.ContainsAny(shard, `/\`) {
			return nil, fmt.Errorf("safetensors: index %s maps %q to %q, which is not a plain file name in the index directory", path, name, shard)
		}
		shardNames[shard] = true
	}
	order := make([]string, 0, len(shardNames))
	for s := range shardNames {
		order = append(order, s)
	}
	sort.Strings(order)

	out := &File{entries: map[string]*fileEntry{}, meta: map[string]string{}}
	for k, v := range idx.Metadata {
		var s string
		if err := json.Unmarshal(v, &s); err == nil {
			out.meta[k] = s
		} else {
			out.meta[k] = string(bytes.TrimSpace(v))
		}
	}
	for _, shard := range order {
		sf, err := openSingle(filepath.Join(dir, shard))
		if err != nil {
			_ = out.Close()
			return nil, fmt.Errorf("safetensors: index %s: shard %s: %w", path, shard, err)
		}
		out.releases = append(out.releases, sf.releases...)
		sf.releases = nil
		for n, e := range sf.entries {
			want, listed := idx.WeightMap[n]
			if !listed {
				_ = out.Close()
				return nil, fmt.Errorf("safetensors: index %s: shard %s holds tensor %q that the weight_map does not list", path, shard, n)
			}
			if want != shard {
				_ = out.Close()
				return nil, fmt.Errorf("safetensors: index %s: tensor %q is in shard %s but the weight_map says %s", path, n, shard, want)
			}
			out.entries[n] = e
		}
	}
	var missing []string
	for n := range idx.WeightMap {
		if _, ok := out.entries[n]; !ok {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		_ = out.Close()
		return nil, fmt.Errorf("safetensors: index %s: %d tensor(s) listed in the weight_map are absent from their shard: %s",
			path, len(missing), strings.Join(missing, ", "))
	}
	out.sortNames()
	return out, nil
}
