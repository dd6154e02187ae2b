//go:build linux

package fovea

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fovea-ml/fovea/internal/safetensors"
	"github.com/fovea-ml/fovea/internal/tensor"
)

// The hostile-input suite: model folders and images that once allocated
// gigabytes, blocked forever, panicked or loaded silently wrong. Each is
// loaded in a child process under `ulimit -v` (2 GB of address space) so
// that an allocation bomb fails the test instead of crashing the test
// binary, and the child reports the error and the bytes Load allocated
// (runtime.MemStats.TotalAlloc). TestHostileExamples runs the
// examples/describe and examples/logits commands on the same folders.

const (
	hostileAddressSpaceKB = 2_000_000        // ulimit -v: 2 GB
	hostileTimeout        = 10 * time.Second // per command
	hostileMaxAlloc       = 256 << 20        // bytes a refused load may allocate
	envHostileDir         = "FOVEA_HOSTILE_DIR"
	envHostileImage       = "FOVEA_HOSTILE_IMAGE"
	envHostileInputs      = "FOVEA_HOSTILE_INPUTS"
)

// hostileCase is one generated folder (a copy of a golden one, altered)
// and, optionally, an image or inputs file to run it on.
type hostileCase struct {
	name  string
	base  string                                        // golden folder copied first
	alter func(t *testing.T, dir string) (image string) // may return an image path
	want  string                                        // in the error message
}

func copyGolden(t *testing.T, base, dir string) {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join("testdata", base))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "golden") || strings.HasSuffix(e.Name(), ".txt") || e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join("testdata", base, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// editJSON rewrites dir/name through fn (a missing file starts empty).
func editJSON(t *testing.T, dir, name string, fn func(m map[string]any)) {
	t.Helper()
	m := map[string]any{}
	if data, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
	}
	fn(m)
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// editWeights rewrites dir/model.safetensors through fn.
func editWeights(t *testing.T, dir string, fn func(ts map[string]*tensor.Tensor)) {
	t.Helper()
	path := filepath.Join(dir, safetensors.SingleFileName)
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ts := map[string]*tensor.Tensor{}
	for _, n := range f.Names() {
		if ts[n], err = f.Float32(n); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	fn(ts)
	if err := safetensors.Write(path, ts, nil); err != nil {
		t.Fatal(err)
	}
}

func mkfifo(t *testing.T, path string) {
	t.Helper()
	os.Remove(path)
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
}

func sparseFile(t *testing.T, path string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
}

func writePNG(t *testing.T, path string, w, h int) string {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, buf.String())
	return path
}

const tinyTokenizerJSON = `{"pre_tokenizer":{"type":"ByteLevel"},"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}%s}`

func hostileCases() []hostileCase {
	llamaCfg := func(m map[string]any) func(*testing.T, string) string {
		return func(t *testing.T, dir string) string {
			editJSON(t, dir, "config.json", func(c map[string]any) { clear(c); maps.Copy(c, m) })
			return ""
		}
	}
	cfgEdit := func(fn func(map[string]any)) func(*testing.T, string) string {
		return func(t *testing.T, dir string) string { editJSON(t, dir, "config.json", fn); return "" }
	}
	preEdit := func(fn func(map[string]any)) func(*testing.T, string) string {
		return func(t *testing.T, dir string) string { editJSON(t, dir, "preprocessor_config.json", fn); return "" }
	}
	fifo := func(name string) func(*testing.T, string) string {
		return func(t *testing.T, dir string) string { mkfifo(t, filepath.Join(dir, name)); return "" }
	}
	const refuse = "refusing to allocate"
	return []hostileCase{
		// 1. Configs whose absent keys take HF's large defaults.
		{"llama-bare-config", "llama_tiny", llamaCfg(map[string]any{"model_type": "llama"}), refuse},
		{"llava-no-text-config", "llava_tiny", cfgEdit(func(c map[string]any) { delete(c, "text_config") }), refuse},
		{"llava-null-text-config", "llava_tiny", cfgEdit(func(c map[string]any) { c["text_config"] = nil }), refuse},
		{"llava-no-vision-config", "llava_tiny", cfgEdit(func(c map[string]any) { delete(c, "vision_config") }), refuse},
		{"mllama-bare-config", "mllama_tiny", llamaCfg(map[string]any{"model_type": "mllama"}), refuse},
		{"llama-sizes-under-caps", "llama_tiny", llamaCfg(map[string]any{"model_type": "llama",
			"hidden_size": 1 << 16, "num_attention_heads": 64, "num_key_value_heads": 64, "intermediate_size": 1 << 18,
			"num_hidden_layers": 1 << 10, "vocab_size": 1 << 22}), refuse},
		// 8. Special files where Load reads.
		{"fifo-weights", "llama_tiny", fifo(safetensors.SingleFileName), "not a regular file"},
		{"fifo-config", "llama_tiny", fifo("config.json"), "not a regular file"},
		{"fifo-generation-config", "llama_tiny", fifo("generation_config.json"), "not a regular file"},
		{"fifo-tokenizer", "llama_tiny", fifo("tokenizer.json"), "not a regular file"},
		{"fifo-preprocessor", "llava_tiny", fifo("preprocessor_config.json"), "not a regular file"},
		{"fifo-shard", "llama_tiny", func(t *testing.T, dir string) string {
			f, err := safetensors.Open(filepath.Join(dir, safetensors.SingleFileName))
			if err != nil {
				t.Fatal(err)
			}
			wm := map[string]string{}
			for _, n := range f.Names() {
				wm[n] = "model-00001-of-00001.safetensors"
			}
			f.Close()
			os.Remove(filepath.Join(dir, safetensors.SingleFileName))
			editJSON(t, dir, safetensors.IndexFileName, func(m map[string]any) { m["weight_map"] = wm })
			mkfifo(t, filepath.Join(dir, "model-00001-of-00001.safetensors"))
			return ""
		}, "not a regular file"},
		// 7. Unbounded reads.
		{"tokenizer-dev-zero", "llama_tiny", func(t *testing.T, dir string) string {
			if err := os.Symlink("/dev/zero", filepath.Join(dir, "tokenizer.json")); err != nil {
				t.Skip(err)
			}
			return ""
		}, "not a regular file"},
		{"tokenizer-3GiB", "llama_tiny", func(t *testing.T, dir string) string {
			sparseFile(t, filepath.Join(dir, "tokenizer.json"), 3<<30)
			return ""
		}, "byte limit"},
		{"tokenizer-config-3GiB", "llama_tiny", func(t *testing.T, dir string) string {
			writeFile(t, filepath.Join(dir, "tokenizer.json"), fmt.Sprintf(tinyTokenizerJSON, ""))
			sparseFile(t, filepath.Join(dir, "tokenizer_config.json"), 3<<30)
			return ""
		}, "byte limit"},
		{"preprocessor-3GiB", "llava_tiny", func(t *testing.T, dir string) string {
			sparseFile(t, filepath.Join(dir, "preprocessor_config.json"), 3<<30)
			return ""
		}, "byte limit"},
		// 3. Preprocessor sizes.
		{"crop-20000", "llava_tiny", preEdit(func(m map[string]any) { m["crop_size"] = map[string]any{"height": 20000, "width": 20000} }), "crop_size.height 20000 exceeds"},
		{"crop-not-tower", "llava_tiny", preEdit(func(m map[string]any) { m["crop_size"] = map[string]any{"height": 64, "width": 64} }), "image_size is 32"},
		{"mllama-size-20000", "mllama_tiny", preEdit(func(m map[string]any) { m["size"] = map[string]any{"height": 20000, "width": 20000} }), "size.height 20000 exceeds"},
		// 5. Float32 overflow and non-finite weights.
		{"image-std-1e-300", "llava_tiny", preEdit(func(m map[string]any) { m["image_std"] = []float64{1e-300, 0.5, 0.5} }), "image_std[0]"},
		{"rescale-1e300", "llava_tiny", preEdit(func(m map[string]any) { m["rescale_factor"] = 1e300 }), "rescale_factor"},
		{"nan-lm-head", "llama_tiny", func(t *testing.T, dir string) string {
			editWeights(t, dir, func(ts map[string]*tensor.Tensor) { ts["lm_head.weight"].Data[7] = float32(math.NaN()) })
			return ""
		}, "weight lm_head.weight holds NaN"},
		{"inf-q-proj", "llava_tiny", func(t *testing.T, dir string) string {
			editWeights(t, dir, func(ts map[string]*tensor.Tensor) {
				for n, w := range ts {
					if strings.HasSuffix(n, "layers.1.self_attn.q_proj.weight") && strings.Contains(n, "language_model") {
						w.Data[3] = float32(math.Inf(1))
					}
				}
			})
			return ""
		}, "q_proj.weight holds +Inf"},
		// 11. A stray tensor.
		{"extra-tensor", "llama_tiny", func(t *testing.T, dir string) string {
			editWeights(t, dir, func(ts map[string]*tensor.Tensor) { ts["evil.weight"] = tensor.New(2) })
			return ""
		}, "evil.weight"},
		// 9./10. Tokenizer bombs and corrupt vocabularies.
		{"tokenizer-replace-bomb", "llama_tiny", func(t *testing.T, dir string) string {
			var parts []string
			for range 16 {
				parts = append(parts, `{"type":"Replace","pattern":{"String":"a"},"content":"aaaa"}`)
			}
			writeFile(t, filepath.Join(dir, "tokenizer.json"), fmt.Sprintf(tinyTokenizerJSON,
				`,"normalizer":{"type":"Sequence","normalizers":[`+strings.Join(parts, ",")+`]}`))
			return ""
		}, "MaxNormalizerGrowth"},
		{"tokenizer-id-reuse", "llama_tiny", func(t *testing.T, dir string) string {
			writeFile(t, filepath.Join(dir, "tokenizer.json"), fmt.Sprintf(tinyTokenizerJSON,
				`,"added_tokens":[{"id":2,"content":"<evil>","special":true}]`))
			return ""
		}, "model.vocab gives to"},
		// 2. Images.
		{"strip-65536x1", "llava_tiny", func(t *testing.T, dir string) string {
			editJSON(t, dir, "preprocessor_config.json", func(m map[string]any) { m["size"] = map[string]any{"shortest_edge": 336} })
			return writePNG(t, filepath.Join(dir, "strip.png"), 1<<16, 1)
		}, "would resize to"},
		{"mllama-strip", "mllama_tiny", func(t *testing.T, dir string) string {
			return writePNG(t, filepath.Join(dir, "strip.png"), 1<<16, 1)
		}, "too elongated"},
	}
}

// TestHostileChild is the child process of TestHostileLoad: it loads the
// folder named by the environment and reports the outcome.
func TestHostileChild(t *testing.T) {
	dir := os.Getenv(envHostileDir)
	if dir == "" {
		t.Skip("run by TestHostileLoad")
	}
	ctx, cancel := context.WithTimeout(context.Background(), hostileTimeout)
	defer cancel()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	m, err := Load(ctx, dir)
	if err == nil && os.Getenv(envHostileImage) != "" {
		var img image.Image
		if img, err = LoadImage(os.Getenv(envHostileImage)); err == nil {
			_, err = m.PreprocessImages([]image.Image{img})
		}
	}
	runtime.ReadMemStats(&after)
	msg := "<nil>"
	if err != nil {
		msg = strings.ReplaceAll(err.Error(), "\n", " | ")
	}
	fmt.Printf("HOSTILE-ALLOC %d\nHOSTILE-ERR %s\n", after.TotalAlloc-before.TotalAlloc, msg)
}

// limited runs argv under the address-space limit and a timeout.
func limited(t *testing.T, env []string, argv ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*hostileTimeout)
	defer cancel()
	script := fmt.Sprintf(`ulimit -v %d || exit 99; exec "$@"`, hostileAddressSpaceKB)
	cmd := exec.CommandContext(ctx, "sh", append([]string{"-c", script, "sh"}, argv...)...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Errorf("%v did not finish in %v", argv, time.Since(start))
	}
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 99 {
		t.Skip("the shell cannot set ulimit -v")
	}
	if d := time.Since(start); d > hostileTimeout {
		t.Errorf("%v took %v, over %v", argv, d, hostileTimeout)
	}
	return out.String(), err
}

func checkNoCrash(t *testing.T, out string) {
	t.Helper()
	for _, bad := range []string{"panic:", "fatal error", "goroutine ", "SIGSEGV", "out of memory"} {
		if strings.Contains(out, bad) {
			t.Fatalf("output contains %q:\n%s", bad, out)
		}
	}
}

func buildHostile(t *testing.T) map[string][2]string {
	t.Helper()
	root := t.TempDir()
	dirs := map[string][2]string{}
	for _, c := range hostileCases() {
		dir := filepath.Join(root, c.name)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		copyGolden(t, c.base, dir)
		dirs[c.name] = [2]string{dir, c.alter(t, dir)}
	}
	return dirs
}

// TestHostileLoad loads every hostile folder in a child process under
// the memory limit: each must fail with its error, without a crash, within
// the time limit, having allocated little.
func TestHostileLoad(t *testing.T) {
	if os.Getenv(envHostileDir) != "" {
		t.Skip("child")
	}
	if raceEnabled {
		t.Skip("the race detector cannot run under ulimit -v")
	}
	dirs := buildHostile(t)
	for _, c := range hostileCases() {
		t.Run(c.name, func(t *testing.T) {
			d := dirs[c.name]
			out, err := limited(t, []string{envHostileDir + "=" + d[0], envHostileImage + "=" + d[1]},
				os.Args[0], "-test.run=^TestHostileChild$", "-test.count=1")
			checkNoCrash(t, out)
			if err != nil {
				t.Fatalf("child failed: %v\n%s", err, out)
			}
			_, rest, ok := strings.Cut(out, "HOSTILE-ALLOC ")
			if !ok {
				t.Fatalf("no report:\n%s", out)
			}
			allocStr, msg, _ := strings.Cut(rest, "\nHOSTILE-ERR ")
			msg, _, _ = strings.Cut(msg, "\n")
			alloc, _ := strconv.ParseUint(allocStr, 10, 64)
			if msg == "<nil>" || !strings.Contains(msg, c.want) {
				t.Fatalf("error %q, want one containing %q", msg, c.want)
			}
			if alloc > hostileMaxAlloc {
				t.Fatalf("allocated %d bytes (limit %d) before: %s", alloc, hostileMaxAlloc, msg)
			}
			t.Logf("%d bytes allocated; %s", alloc, msg)
		})
	}
}

// TestHostileExamples runs examples/describe and examples/logits on every
// hostile folder (and image): each must exit 1 with a clear error, no
// panic or fatal error, within 10 s and 2 GB of address space.
func TestHostileExamples(t *testing.T) {
	if os.Getenv(envHostileDir) != "" {
		t.Skip("child")
	}
	if testing.Short() {
		t.Skip("builds two commands")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	bin := t.TempDir()
	for _, cmd := range []string{"describe", "logits"} {
		out, err := exec.Command(goTool, "build", "-o", filepath.Join(bin, cmd), "./examples/"+cmd).CombinedOutput()
		if err != nil {
			t.Fatalf("building %s: %v\n%s", cmd, err, out)
		}
	}
	dirs := buildHostile(t)
	names := slices.Sorted(maps.Keys(dirs))
	for _, name := range names {
		d := dirs[name]
		for _, cmd := range []string{"describe", "logits"} {
			t.Run(name+"/"+cmd, func(t *testing.T) {
				argv := []string{filepath.Join(bin, cmd), "-model", d[0]}
				if cmd == "describe" && d[1] != "" {
					argv = append(argv, "-image", d[1])
				}
				if cmd == "logits" {
					argv = append(argv, "-out", filepath.Join(t.TempDir(), "out.safetensors"))
					if d[1] != "" {
						argv = append(argv, "-images", d[1])
					}
				}
				out, err := limited(t, nil, argv...)
				checkNoCrash(t, out)
				ee, ok := err.(*exec.ExitError)
				if !ok || ee.ExitCode() != 1 || !strings.HasPrefix(out, cmd+": ") {
					t.Fatalf("%s: exit %v, want 1 with a \"%s: ...\" error:\n%s", cmd, err, cmd, out)
				}
			})
		}
	}
}
