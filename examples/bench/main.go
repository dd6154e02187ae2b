// Command bench measures Fovea on the reference shapes of the performance
// issue, with random weights, and prints one JSON object (-json) or a table.
//
//	go run ./examples/bench -json
//
// Shapes: sgemm 1024³; CLIP ViT-B/16 at 224 px (12 layers, width 768, 197
// tokens); a SmolLM2-135M-shaped decoder (30 layers, width 576, 9/3 heads,
// FFN 1536, vocab 49152, tied); the unified (LLaVA) pipeline = ViT-B/16 +
// MLP projector + 196 image tokens + 32 text tokens to the first token; the
// cross-attention pipeline = the same image through the vision tower and a
// linear projector into 4 gated cross-attention layers, 32 text tokens;
// train = one forward + backward + AdamW step of a small Llama on the
// graph backend (train_step_tok_s); stage1 = one LLaVA stage-1 step
// (cached features of a frozen small CLIP, a trained MLP2 projector, the
// same Llama frozen: train_stage1_tok_s). Both training steps run on
// -replicas graph replicas (default GOMAXPROCS, at most the batch's rows),
// each on its shard of the batch and one thread, gradients summed
// (graph.Replicas); -replicas 1 is one graph whose kernels use every
// thread. train_step_cpu_ms and train_stage1_cpu_ms are the process's CPU
// time per step, train_replicas the replica count. torchref.py times the
// same shapes in PyTorch.
// Every figure is the best of -reps runs (after one warm-up) so that noise
// from a shared machine shows as spread, not as bias.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fovea-ml/fovea/crossattn"
	"github.com/fovea-ml/fovea/decoder"
	"github.com/fovea-ml/fovea/internal/arena"
	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/backend/graph"
	"github.com/fovea-ml/fovea/internal/blas"
	"github.com/fovea-ml/fovea/internal/config"
	"github.com/fovea-ml/fovea/internal/quant"
	"github.com/fovea-ml/fovea/internal/tensor"
	"github.com/fovea-ml/fovea/internal/weights"
	"github.com/fovea-ml/fovea/projector"
	"github.com/fovea-ml/fovea/vision"
)

// Benchmark shapes from the performance issue.
const (
	sgemmSize      = 1024
	prefillTokens  = 256
	decodeTokens   = 64
	decodePrompt   = 16
	textTokens     = 32
	initStd        = 0.02
	imageTokenID   = 49151 // last id of the SmolLM2 vocabulary stands in for <image>
	randomSeed     = 42
	bytesPerMiB    = 1 << 20
	kibPerMiB      = 1 << 10
	flopsPerMulAdd = 2
	minSgemmReps   = 10
	memBWFloats    = 128 << 20 // 512 MiB, about one F32 SmolLM2-135M
	floatBytes     = 4
	clockTicks     = 100 // USER_HZ, the unit of /proc/self/stat's times
)

type result map[string]float64

func main() {
	asJSON := flag.Bool("json", false, "print one JSON object")
	reps := flag.Int("reps", 3, "timed repetitions per figure (best is reported)")
	only := flag.String("only", "", "comma-separated subset: sgemm,membw,vit,prefill,decode,unified,crossattn,train,stage1")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	replicas := flag.Int("replicas", 0, "training steps (train, stage1) on this many graph replicas, each on its share of the batch and one thread "+
		"(0: GOMAXPROCS, at most the batch; 1: one graph whose kernels use every thread, the single-graph path)")
	flag.Parse()
	if *cpuProfile != "" {
		stop, err := startProfile(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		defer stop()
	}
	if err := run(*asJSON, *reps, *only, *replicas); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(asJSON bool, reps int, only string, replicas int) error {
	if reps < 1 {
		return fmt.Errorf("-reps %d must be at least 1", reps)
	}
	if replicas < 0 {
		return fmt.Errorf("-replicas %d must not be negative", replicas)
	}
	if replicas == 0 {
		replicas = runtime.GOMAXPROCS(0)
	}
	replicas = min(replicas, trainBatch)
	want := func(name string) bool {
		if only == "" {
			return true
		}
		for _, s := range strings.Split(only, ",") {
			if strings.TrimSpace(s) == name {
				return true
			}
		}
		return false
	}
	res := result{"threads": float64(runtime.GOMAXPROCS(0))}
	var steps []func() error
	add := func(name string, fn func() error) {
		if want(name) {
			steps = append(steps, fn)
		}
	}
	add("sgemm", func() error { benchSgemm(res, reps); return nil })
	add("membw", func() error { benchMemBW(res, reps); return nil })
	add("vit", func() error { return benchViT(res, reps) })
	add("prefill", func() error { return benchDecoder(res, reps, true, false) })
	add("decode", func() error {
		if err := benchDecoder(res, reps, false, false); err != nil {
			return err
		}
		return benchDecoder(res, reps, false, true)
	})
	add("unified", func() error { return benchUnified(res, reps) })
	add("crossattn", func() error { return benchCrossAttn(res, reps) })
	add("train", func() error { return benchTrain(res, reps, replicas) })
	add("stage1", func() error { return benchStage1(res, reps, replicas) })
	for _, s := range steps {
		if err := s(); err != nil {
			return err
		}
		// Hand the finished step's models back to the OS, so that peak
		// RSS is the largest step's, not the sum of garbage.
		debug.FreeOSMemory()
	}
	res["peak_rss_mb"] = peakRSSMiB()
	return report(res, asJSON)
}

// startProfile starts a CPU profile into path and returns its stop func.
func startProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

func report(res result, asJSON bool) error {
	if asJSON {
		out := map[string]float64{}
		for k, v := range res {
			out[k] = math.Round(v*100) / 100
		}
		enc := json.NewEncoder(os.Stdout)
		return enc.Encode(out)
	}
	keys := make([]string, 0, len(res))
	for k := range res {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Printf("%-22s %10.2f\n", k, res[k])
	}
	return nil
}

// best runs fn once to warm up, then reps times, and returns the fastest.
// Each timed run starts after a garbage collection, so it does not pay
// for the previous run's garbage.
func best(reps int, fn func() error) (time.Duration, error) {
	if err := fn(); err != nil {
		return 0, err
	}
	bestD := time.Duration(math.MaxInt64)
	for i := 0; i < reps; i++ {
		runtime.GC()
		t0 := time.Now()
		if err := fn(); err != nil {
			return 0, err
		}
		bestD = min(bestD, time.Since(t0))
	}
	return bestD, nil
}

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

func benchSgemm(res result, reps int) {
	n := sgemmSize
	rng := rand.New(rand.NewPCG(randomSeed, 1))
	a, b, c := randSlice(rng, n*n), randSlice(rng, n*n), make([]float32, n*n)
	// One product takes tens of ms: time more of them than the other
	// figures (as the PyTorch reference does) so that noise shows less.
	d, _ := best(max(reps, minSgemmReps), func() error {
		blas.Sgemm(false, false, n, n, n, 1, a, n, b, n, 0, c, n)
		return nil
	})
	res["sgemm_1024_gflops"] = flopsPerMulAdd * float64(n*n*n) / d.Seconds() / 1e9
}

// benchMemBW measures the memory read bandwidth the decode figures are
// bound by: every thread streams its share of a buffer four times the
// size of any cache, laid out as the model weights are (internal/arena:
// huge pages where the OS allows). A decode step reads every weight once,
// so mem_read_gbs / (weight bytes per token) is its roofline.
func benchMemBW(res result, reps int) {
	buf := arena.New(arena.FloatsSize(memBWFloats)).Floats(memBWFloats)
	for i := range buf {
		buf[i] = float32(i & 0xff)
	}
	threads := runtime.GOMAXPROCS(0)
	sink := make([]float32, threads) // keeps the reads live
	d, _ := best(reps, func() error {
		blas.Parallel(threads, func(t int) {
			sink[t] += blas.Max(buf[len(buf)*t/threads : len(buf)*(t+1)/threads])
		})
		return nil
	})
	res["mem_read_gbs"] = float64(len(buf)*floatBytes) / d.Seconds() / 1e9
}

// newViT builds a CLIP ViT-B/16 with random weights.
func newViT() (*vision.CLIPVision, error) {
	cfg := config.CLIPViTB16()
	v, err := vision.NewCLIPVision(&cfg)
	if err != nil {
		return nil, err
	}
	return v, weights.Randomize(randomSeed, initStd, v)
}

func randomImage(cfg config.CLIPVision) *tensor.Tensor {
	rng := rand.New(rand.NewPCG(randomSeed, 2))
	s := cfg.ImageSize
	return tensor.FromData(randSlice(rng, 3*s*s), 1, 3, s, s)
}

func benchViT(res result, reps int) error {
	v, err := newViT()
	if err != nil {
		return err
	}
	px := randomImage(v.Config())
	be, err := prepared(v)
	if err != nil {
		return err
	}
	d, err := best(reps, func() error {
		v.Forward(be, be.Const(px))
		return nil
	})
	res["vit_b16_encode_ms"] = ms(d)
	return err
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }

// newDecoder builds the SmolLM2-135M-shaped decoder with random weights.
func newDecoder() (*decoder.Model, error) {
	cfg := config.SmolLM2_135M()
	m, err := decoder.New(&cfg)
	if err != nil {
		return nil, err
	}
	return m, randomizeDecoder(m)
}

func tokens(n, offset int) []int {
	ids := make([]int, n)
	for i := range ids {
		ids[i] = (offset + i*7919) % imageTokenID
	}
	return ids
}

// lastToken runs the LM head on the last position and returns its argmax.
func lastToken(be backend.Backend, m *decoder.Model, h backend.Value) int {
	s := be.Shape(h)
	last := be.Slice(h, 1, s[1]-1, s[1])
	logits := backend.T(m.Logits(be, last))
	arg := 0
	for i, v := range logits.Data {
		if v > logits.Data[arg] {
			arg = i
		}
	}
	return arg
}

func benchDecoder(res result, reps int, prefill, q8 bool) error {
	m, err := newDecoder()
	if err != nil {
		return err
	}
	key := "decode_64_tok_s"
	var be backend.Eager
	if q8 {
		table, err := quantizeDecoder(m)
		if err != nil {
			return err
		}
		be.Prepared = table
		key = "decode_64_tok_s_q8"
	} else if be, err = prepared(decoderParts(m)...); err != nil {
		return err
	}
	if prefill {
		ids := tokens(prefillTokens, 1)
		d, err := best(reps, func() error {
			st := m.NewState(1)
			x, err := m.Embed(be, [][]int{ids})
			if err != nil {
				return err
			}
			h, err := m.Hidden(be, x, st)
			if err != nil {
				return err
			}
			lastToken(be, m, h)
			return nil
		})
		res["prefill_256_tok_s"] = float64(prefillTokens) / d.Seconds()
		return err
	}
	prompt := tokens(decodePrompt, 3)
	bestLoop := time.Duration(math.MaxInt64)
	_, err = best(reps, func() error {
		loop, err := decodeOnce(be, m, prompt)
		bestLoop = min(bestLoop, loop)
		return err
	})
	res[key] = float64(decodeTokens) / bestLoop.Seconds()
	return err
}

// decodeOnce prefills prompt, then times decodeTokens greedy steps.
func decodeOnce(be backend.Backend, m *decoder.Model, prompt []int) (time.Duration, error) {
	st := m.NewState(1)
	x, err := m.Embed(be, [][]int{prompt})
	if err != nil {
		return 0, err
	}
	h, err := m.Hidden(be, x, st)
	if err != nil {
		return 0, err
	}
	next := lastToken(be, m, h)
	t0 := time.Now()
	for i := 0; i < decodeTokens; i++ {
		x, err := m.Embed(be, [][]int{{next}})
		if err != nil {
			return 0, err
		}
		h, err := m.Hidden(be, x, st)
		if err != nil {
			return 0, err
		}
		next = lastToken(be, m, h)
	}
	return time.Since(t0), nil
}

func benchUnified(res result, reps int) error {
	v, err := newViT()
	if err != nil {
		return err
	}
	m, err := newDecoder()
	if err != nil {
		return err
	}
	vcfg := v.Config()
	pc := projector.Config{
		VisionHidden: vcfg.HiddenSize, TextHidden: m.Config().HiddenSize, HiddenAct: "gelu",
		FeatureLayers: []int{-2}, SelectStrategy: config.StrategyDefault, NumHiddenStates: vcfg.NumHiddenLayers + 1,
	}
	proj, err := projector.New(pc, projector.MLP2)
	if err != nil {
		return err
	}
	if err := weights.Randomize(randomSeed, initStd, proj); err != nil {
		return err
	}
	px := randomImage(vcfg)
	patches := vcfg.NumPatches()
	ids := append(append(tokens(textTokens/2, 5), repeat(imageTokenID, patches)...), tokens(textTokens/2, 11)...)
	be, err := prepared(append(decoderParts(m), v, proj)...)
	if err != nil {
		return err
	}
	d, err := best(reps, func() error {
		hidden := v.HiddenStates(be, be.Const(px), pc.MaxLayer())
		feats, err := projector.SelectFeatures(be, hidden, pc)
		if err != nil {
			return err
		}
		imgEmb := proj.Forward(be, feats) // [1, P, D]
		emb, err := m.Embed(be, [][]int{ids})
		if err != nil {
			return err
		}
		d := m.Config().HiddenSize
		merged, err := projector.Splice(be, be.Reshape(emb, len(ids), d), ids, imageTokenID, imgEmb)
		if err != nil {
			return err
		}
		st := m.NewState(1)
		h, err := m.Hidden(be, be.Reshape(merged, 1, len(ids), d), st)
		if err != nil {
			return err
		}
		lastToken(be, m, h)
		return nil
	})
	res["unified_ttft_ms"] = ms(d)
	return err
}

func repeat(v, n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = v
	}
	return s
}

// peakRSSMiB reads the high-water mark of resident memory (Linux).
func peakRSSMiB() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kib, _ := strconv.ParseFloat(f[1], 64)
			return kib / kibPerMiB
		}
	}
	return 0
}

// decoderParts lists a decoder's weight structs and its LM head.
func decoderParts(m *decoder.Model) []any {
	parts := []any{m.LMHead}
	for _, l := range m.Layers {
		parts = append(parts, l)
	}
	return parts
}

// randomizeDecoder fills every weight of m (embeddings, norms, layers, an
// untied LM head) with seeded random values.
func randomizeDecoder(m *decoder.Model) error {
	return weights.Randomize(randomSeed, initStd, append([]any{m.EmbedTokens, m.Norm}, decoderParts(m)...)...)
}

// prepared packs the Linear weights of the given parts (tagged structs or
// bare LM-head tensors) once for sgemm, as fovea.Load does by default.
func prepared(parts ...any) (backend.Eager, error) {
	var lin []*tensor.Tensor
	for _, p := range parts {
		if t, ok := p.(*tensor.Tensor); ok {
			lin = append(lin, t)
			continue
		}
		ts, err := quant.TensorsOf("", p)
		if err != nil {
			return backend.Eager{}, err
		}
		for _, nt := range ts {
			if quant.Quantizable(nt.Name) {
				lin = append(lin, nt.W)
			}
		}
	}
	table, err := backend.PrepareF32(lin)
	return backend.Eager{Prepared: table}, err
}

// quantizeDecoder stores the decoder's projections and (tied) LM head as
// Q8_0, the way fovea.Load(…, WithQuantization(Q8_0)) does.
func quantizeDecoder(m *decoder.Model) (map[*tensor.Tensor]backend.PreparedMatrix, error) {
	ts := []quant.NamedTensor{{Name: "lm_head.weight", W: m.LMHead}}
	for i, l := range m.Layers {
		lt, err := quant.TensorsOf(fmt.Sprintf("model.layers.%d.", i), l)
		if err != nil {
			return nil, err
		}
		ts = append(ts, lt...)
	}
	return quant.QuantizeModel(ts)
}

// crossLayers is where the cross-attention bench inserts its 4 gated
// layers into the 30-layer decoder (Llama-3.2-Vision puts one every 5
// layers; here every 8th of the 34).
var crossLayers = []int{3, 11, 19, 27}

func benchCrossAttn(res result, reps int) error {
	v, err := newViT()
	if err != nil {
		return err
	}
	base := config.SmolLM2_135M()
	tc := config.MllamaText{
		VocabSize: base.VocabSize, HiddenSize: base.HiddenSize, IntermediateSize: base.IntermediateSize,
		NumHiddenLayers: base.NumHiddenLayers + len(crossLayers), NumAttentionHeads: base.NumAttentionHeads,
		NumKeyValueHeads: base.NumKeyValueHeads, HiddenAct: base.HiddenAct,
		MaxPositionEmbeddings: base.MaxPositionEmbeddings, RMSNormEps: base.RMSNormEps, RopeTheta: base.RopeTheta,
		CrossAttentionLayers: crossLayers, TieWordEmbeddings: true, EOSTokenID: base.EOSTokenID,
	}
	layers, err := crossattn.NewLayers(&tc)
	if err != nil {
		return err
	}
	lc := tc.AsLlama()
	m, err := decoder.NewWithLayers(&lc, layers)
	if err != nil {
		return err
	}
	if err := randomizeDecoder(m); err != nil {
		return err
	}
	vcfg := v.Config()
	proj := tensor.New(tc.HiddenSize, vcfg.HiddenSize) // Mllama-style single linear projection
	if err := weights.Randomize(randomSeed, initStd, proj); err != nil {
		return err
	}
	px := randomImage(vcfg)
	ids := append(append(tokens(1, 5), imageTokenID), tokens(textTokens-1, 11)...)
	be, err := prepared(append(decoderParts(m), v)...)
	if err != nil {
		return err
	}
	d, err := best(reps, func() error {
		_, last, _ := v.Forward(be, be.Const(px))       // [1, P+1, Dv]
		states := be.Linear(last, be.Weight(proj), nil) // [1, P+1, D]
		mask, err := crossattn.BuildTokenMask([][]int{ids}, imageTokenID, [][]int{{1}}, 1)
		if err != nil {
			return err
		}
		st := m.NewState(1)
		if err := crossattn.SetImages(be, m, st, states, mask, crossattn.Options{}); err != nil {
			return err
		}
		x, err := m.Embed(be, [][]int{ids})
		if err != nil {
			return err
		}
		h, err := m.Hidden(be, x, st)
		if err != nil {
			return err
		}
		lastToken(be, m, h)
		return nil
	})
	res["crossattn_ttft_ms"] = ms(d)
	return err
}

// Training bench: a small Llama (width 256, 4 layers, 8/2 heads, FFN 704,
// vocab 2048) on batch 4 × 64 tokens, one forward + backward + AdamW step.
// Both training figures are the best of at least minTrainReps steps after
// one warm-up step, as torchref.py times PyTorch's.
const (
	trainBatch   = 4
	trainSeq     = 64
	trainLR      = 1e-3
	trainVocab   = 2048
	minTrainReps = 10
	ignoreTarget = -100
)

// Stage-1 (LLaVA feature alignment) bench: a small CLIP tower (width 384,
// 4 layers, 6 heads, FFN 1536, 112 px images in 14 px patches: 64 image
// tokens) frozen, its layer −2 features computed once and cached; an MLP2
// projector (384 → 256 → 256, GELU) trained; the train bench's Llama
// frozen. Each step: 4 sequences of 64 image + 64 text tokens (512
// tokens), loss on the text tokens' next-token targets, gradients only
// for the projector (and through the frozen decoder to its output).
const (
	stage1Image   = 112
	stage1Patch   = 14
	stage1Width   = 384
	stage1FFN     = 1536
	stage1Layers  = 4
	stage1Heads   = 6
	stage1TextLen = 64
)

// newTrainLlama builds the training benches' Llama with random weights.
func newTrainLlama() (*decoder.Model, error) {
	cfg := config.DefaultLlama()
	cfg.VocabSize, cfg.HiddenSize, cfg.IntermediateSize = trainVocab, 256, 704
	cfg.NumHiddenLayers, cfg.NumAttentionHeads, cfg.NumKeyValueHeads = 4, 8, 2
	cfg.MaxPositionEmbeddings = 2 * trainSeq
	cfg.BOSTokenID, cfg.EOSTokenID, cfg.PadTokenID = nil, nil, nil
	m, err := decoder.New(&cfg)
	if err != nil {
		return nil, err
	}
	return m, randomizeDecoder(m)
}

// trainBatchIDs returns trainBatch sequences of n token ids and their
// next-token targets (n per sequence, flattened).
func trainBatchIDs(n int) (batch [][]int, targets []int) {
	batch = make([][]int, trainBatch)
	for i := range batch {
		seq := tokens(n+1, 13*i+1)
		for j := range seq {
			seq[j] %= trainVocab
		}
		batch[i] = seq[:n]
		targets = append(targets, seq[1:]...)
	}
	return batch, targets
}

// buildRows builds the training loss of batch rows [lo, hi) on be.
type buildRows func(be *graph.Backend, lo, hi int) (backend.Value, error)

// trainStep is one compiled training step: a single graph (replicas 1)
// or graph.Replicas over shards of the batch's rows.
type trainStep struct {
	run    func(context.Context) error
	params func() []graph.Param
	close  func() error
}

// compileStep builds and compiles the step of trainBatch rows.
func compileStep(replicas int, opt graph.Options, build buildRows) (*trainStep, error) {
	if replicas <= 1 {
		be := graph.New(opt)
		loss, err := build(be, 0, trainBatch)
		if err != nil {
			return nil, err
		}
		if err := be.Backward(loss); err != nil {
			return nil, err
		}
		mach, err := be.Compile()
		if err != nil {
			return nil, err
		}
		return &trainStep{run: mach.Run, params: be.Params, close: mach.Close}, nil
	}
	r, err := graph.NewReplicas(replicas, opt, func(be *graph.Backend, s int) (backend.Value, error) {
		return build(be, trainBatch*s/replicas, trainBatch*(s+1)/replicas)
	})
	if err != nil {
		return nil, err
	}
	return &trainStep{run: r.Run, params: r.Params, close: r.Close}, nil
}

// timeSteps times one compiled training step (Run + AdamW): the best
// wall time, then the process's CPU time per step over as many steps
// again, back to back (a steadier guide than wall time on a shared
// machine; 0 where /proc/self/stat is missing).
func timeSteps(reps int, st *trainStep) (wall time.Duration, cpuMs float64, err error) {
	opt := graph.NewAdamW(trainLR, 0)
	ctx := context.Background()
	step := func() error {
		if err := st.run(ctx); err != nil {
			return err
		}
		return opt.Step(st.params())
	}
	n := max(reps, minTrainReps)
	if wall, err = best(n, step); err != nil {
		return 0, 0, err
	}
	c0 := cpuTime()
	for range n {
		if err := step(); err != nil {
			return 0, 0, err
		}
	}
	return wall, ms(cpuTime()-c0) / float64(n), nil
}

// cpuTime is the user + system CPU time of the process so far, from
// /proc/self/stat (0 where there is none).
func cpuTime() time.Duration {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:]) // f[0] is field 3, state
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / clockTicks
}

func benchTrain(res result, reps, replicas int) error {
	m, err := newTrainLlama()
	if err != nil {
		return err
	}
	batch, targets := trainBatchIDs(trainSeq)
	st, err := compileStep(replicas, graph.Options{}, func(be *graph.Backend, lo, hi int) (backend.Value, error) {
		x, err := m.Embed(be, batch[lo:hi])
		if err != nil {
			return nil, err
		}
		logits, err := m.Forward(be, x, m.NewTrainState(hi-lo))
		if err != nil {
			return nil, err
		}
		return be.CrossEntropy(logits, targets[lo*trainSeq:hi*trainSeq], -1), nil
	})
	if err != nil {
		return err
	}
	defer st.close()
	d, cpu, err := timeSteps(reps, st)
	res["train_step_tok_s"] = float64(trainBatch*trainSeq) / d.Seconds()
	res["train_step_cpu_ms"] = cpu
	res["train_replicas"] = float64(replicas)
	return err
}

// stage1CLIP is the stage-1 bench's small CLIP tower.
func stage1CLIP() config.CLIPVision {
	c := config.DefaultCLIPVision()
	c.HiddenSize, c.IntermediateSize = stage1Width, stage1FFN
	c.NumHiddenLayers, c.NumAttentionHeads = stage1Layers, stage1Heads
	c.ImageSize, c.PatchSize = stage1Image, stage1Patch
	return c
}

// stage1Step returns the stage-1 step's options, its builder of batch
// rows and its tokens per step.
func stage1Step() (graph.Options, buildRows, int, error) {
	m, err := newTrainLlama()
	if err != nil {
		return graph.Options{}, nil, 0, err
	}
	vcfg := stage1CLIP()
	v, err := vision.NewCLIPVision(&vcfg)
	if err != nil {
		return graph.Options{}, nil, 0, err
	}
	if err := weights.Randomize(randomSeed, initStd, v); err != nil {
		return graph.Options{}, nil, 0, err
	}
	pc := projector.Config{
		VisionHidden: vcfg.HiddenSize, TextHidden: m.Config().HiddenSize, HiddenAct: "gelu",
		FeatureLayers: []int{-2}, SelectStrategy: config.StrategyDefault, NumHiddenStates: vcfg.NumHiddenLayers + 1,
	}
	proj, err := projector.New(pc, projector.MLP2)
	if err != nil {
		return graph.Options{}, nil, 0, err
	}
	if err := weights.Randomize(randomSeed, initStd, proj); err != nil {
		return graph.Options{}, nil, 0, err
	}
	// The frozen tower runs once; its features are the cached input.
	rng := rand.New(rand.NewPCG(randomSeed, 3))
	px := tensor.FromData(randSlice(rng, trainBatch*3*stage1Image*stage1Image), trainBatch, 3, stage1Image, stage1Image)
	var eager backend.Eager
	feats, err := projector.SelectFeatures(eager, v.HiddenStates(eager, eager.Const(px), pc.MaxLayer()), pc)
	if err != nil {
		return graph.Options{}, nil, 0, err
	}
	cached := backend.T(feats) // [B, P, Dv]
	pts, err := quant.TensorsOf("", proj)
	if err != nil {
		return graph.Options{}, nil, 0, err
	}
	trainable := map[*tensor.Tensor]bool{}
	for _, nt := range pts {
		trainable[nt.W] = true
	}
	patches := vcfg.NumPatches()
	batch, next := trainBatchIDs(stage1TextLen)
	var targets []int
	for i := range batch {
		targets = append(targets, repeat(ignoreTarget, patches)...)
		targets = append(targets, next[i*stage1TextLen:(i+1)*stage1TextLen]...)
	}
	opt := graph.Options{Trainable: func(t *tensor.Tensor) bool { return trainable[t] }}
	row := patches * vcfg.HiddenSize // cached features per batch row
	seq := patches + stage1TextLen
	build := func(be *graph.Backend, lo, hi int) (backend.Value, error) {
		feats := tensor.FromData(cached.Data[lo*row:hi*row], hi-lo, patches, vcfg.HiddenSize)
		img := proj.Forward(be, be.Const(feats)) // [b, P, D]
		txt, err := m.Embed(be, batch[lo:hi])    // [b, T, D]
		if err != nil {
			return nil, err
		}
		logits, err := m.Forward(be, be.Concat(1, img, txt), m.NewTrainState(hi-lo)) // [b, P+T, V]
		if err != nil {
			return nil, err
		}
		if n := len(be.Params()); n != len(pts) {
			return nil, fmt.Errorf("stage 1: %d trainable parameters, want the projector's %d", n, len(pts))
		}
		return be.CrossEntropy(logits, targets[lo*seq:hi*seq], ignoreTarget), nil
	}
	return opt, build, trainBatch * seq, nil
}

func benchStage1(res result, reps, replicas int) error {
	opt, build, tokens, err := stage1Step()
	if err != nil {
		return err
	}
	st, err := compileStep(replicas, opt, build)
	if err != nil {
		return err
	}
	defer st.close()
	d, cpu, err := timeSteps(reps, st)
	res["train_stage1_cpu_ms"] = cpu
	res["train_stage1_tok_s"] = float64(tokens) / d.Seconds()
	return err
}
