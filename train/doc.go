// Package train trains Fovea's two fusion styles — LLaVA (CLIP tower +
// projector + Llama decoder) and Mllama (vision encoder + projector +
// decoder with gated cross-attention layers) — with the literature's
// staged recipe, on the graph backend, through the same layer code as
// inference.
//
// # A run
//
// A run is a model, a dataset, a recipe and an output folder:
//
//	m, _ := fovea.Load(ctx, "llava-folder", fovea.ForTraining()) // or fovea.NewFromConfig
//	data, _ := train.LoadDataset("data.jsonl", train.DataOptions{})
//	recipe, _ := train.Builtin(train.RecipeLLaVA)
//	tr, _ := train.New(m, data, nil, train.Config{Recipe: recipe, Steps: 1000, Batch: 8}, "out")
//	summary, err := tr.Run(ctx, 0)
//
// The API names only public types (fovea.Model, Dataset, Recipe, Config).
// The model must hold its row-major float32 weights (fovea.ForTraining,
// or a fresh fovea.NewFromConfig); the trainer reaches its layers through
// fovea.Model.Parts and updates the tensors in place, so after training
// the same Model generates with the new weights. examples/train is the
// command-line front end.
//
// # Recipes, stages and groups
//
// A Recipe is a list of Stages; a stage names the parameter groups that
// train, each with its peak learning rate, and a length in steps or
// epochs. Groups are matched by checkpoint name: vision (vision_tower.*,
// vision_model.*), projector (multi_modal_projector.*), decoder
// (language_model.*: embeddings, self-attention blocks, norm, LM head) and
// crossattn (the layers at cross_attention_layers). Mllama's cross-
// attention layers train in every stage (DefaultCrossAttnLR unless a
// stage names them); a fresh model (NewFromConfig) starts with their gates
// at 0, so it equals its text-only decoder. Built-ins: projector (stage
// 1: projector at 1e-3), full (stage 2: projector and decoder at 2e-5),
// llava (both), pretrain-text (decoder) and pretrain-vision (vision
// encoder and projector). Each stage has its own AdamW
// (weight decay 0 by default) and schedule: linear warmup over 3 % of the
// stage, then cosine to 10 % of the peak; Config.Steps splits a total over
// the stages in proportion to their lengths. Gradients are accumulated
// over Config.Accum micro-batches, weighted by their target-token counts
// (the step's loss is the mean over all its target tokens), and clipped
// to a global norm of 1.0; the norm before clipping is logged.
//
// A frozen group is not a parameter of the graph (graph.Options.Trainable
// is false for its tensors): no weight gradient, no optimizer state, and
// it is bit-identical after the stage (a test checks every tensor). The
// stage-1 graph still differentiates through the frozen decoder to the
// projector (input gradients only).
//
// # Graphs and buckets
//
// Graph shapes are static, so the trainer compiles one graph per bucket —
// (stage, padded length, image slots, target rows) — and reuses it for
// every batch of that bucket, rebinding only its inputs (token ids,
// image features, splice indices, target rows, targets, masks). Lengths
// are padded on the right to the next of 16, 24, 32, 48, 64, 96, …;
// causal attention keeps pads from touching real positions and their
// labels are ignored. Rows are drawn in an order that is a pure function
// of (seed, epoch): shuffled, cut into groups of 8 batches sorted by
// length (LLaVA's length-grouped sampler), then the batches shuffled.
//
// LLaVA: the image features are spliced in with a row gather
// (graph.GatherRows over text rows ++ projector rows), so one graph
// serves every arrangement of images; with the vision group frozen the
// CLIP features (the selected layers, CLS dropped per
// vision_feature_select_strategy) are computed once per image on the
// eager backend and cached for the whole run; with it training, the
// pixels go through the CLIP tower on the graph. The LM head and the
// cross-entropy run only on the positions that have a target (a second
// row gather, padded to a power of two). Mllama: the frozen vision
// encoder's output is cached per image; the projector runs on the graph,
// and the cross-attention layers get a crossattn.TrainState (image keys
// and values as graph nodes, masks as graph inputs). A sequence without
// images in an Mllama batch passes the cross-attention layers unchanged,
// as HF's text-only forward skips them. When the Mllama vision encoder
// trains, the pixels, its attention mask and the aspect ratio ids of the
// tile-embedding lookups (found with graph.EmbeddingsOf) are graph inputs
// rebound per batch (vision.MllamaVision.ForwardValues).
//
// # Data
//
// LoadDataset reads LLaVA conversation records as a JSON array or JSONL;
// image paths are relative to the file, conversations may have many turns
// (every gpt turn is a target) and rows may have no image. Prompts are
// built in one function, renderConversation, with the model's own chat
// template — fovea.Model.RenderChat (the folder's Jinja template, else
// HF's LLaVA-1.5 or Llama-3.2-Vision template) tokenized with
// fovea.Model.EncodeChat — so training sees the prompt text inference
// renders. A row's human turns become user messages, its gpt turns
// assistant messages; the <image> markers of a turn become that
// message's images, shown before its text as the data spec and HF's
// processors lay them out. For the assistant message k the prompt part
// is the render of messages[:k] with the generation prompt, the target
// part the render of messages[:k+1] minus that prefix; a template (or a
// tokenizer merging across the boundary) that breaks this prefix
// property is an error naming the turn. When a target does not end in
// the tokenizer's EOS or an end-of-turn token (<|eot_id|>, ...) — HF's
// LLaVA-1.5 template ends assistant turns with a space and no </s> — the
// tokenizer's EOS id is appended as one more target, so the model learns
// to stop (a tokenizer without EOS is then an error). Labels are the
// target tokens; prompt, image and padding positions are IgnoreIndex. A
// template that renders the current date (strftime_now) makes the ids,
// and so a checkpoint's data fingerprint, depend on the day. A bad row
// — invalid JSON, turns out of order, a missing or unreadable image, more
// or fewer <image> placeholders than images, no answer token, a row past
// the context whose cut would remove image tokens (a text-only overlong
// row is cut) — is a *RowError naming the file and line, or, with
// SkipBad, is skipped and counted (Trainer.Skipped, Summary.Skipped).
//
// # Checkpoints and resume
//
// Checkpoint writes out/checkpoints/step-N with fovea.Model.Save — the
// same writer users save models with: an HF folder (config.json,
// model.safetensors in HF's legacy names with {"format": "pt"}, tokenizer
// and processor files) written to a temporary folder, fsynced and renamed
// into place, with trainer_state.json (step, stage, data position, loss
// history, best score, the run's Config and each optimizer's step count)
// and optimizer.safetensors (the AdamW moments) inside it. The HF files
// are then copied (each atomically) to out itself, so out always loads in
// fovea.Load and HF transformers as the latest model, and loss.png is
// redrawn (gonum plot v0.11.0, the version that keeps gorgonia's gonum
// v0.11.0). The last KeepLast checkpoints and the best (lowest eval loss,
// else train loss) are kept. Restore continues from a checkpoint with its
// weights, moments, step and data position: the data order and the
// schedule are pure functions of (seed, epoch) and of the step, so a
// resumed run reproduces the uninterrupted losses bit for bit, from a
// stage-1 or a stage-2 checkpoint (tests check both); two runs with one
// seed agree bit for bit. A non-finite loss or gradient norm stops the
// run with ErrNonFinite before any update, leaving the last good
// checkpoint.
//
// # Speed
//
// Nothing is rebuilt or recomputed per step: graphs are compiled once per
// bucket, frozen-encoder features once per image.
//
// Config.Replicas > 1 is data parallelism (replicas.go): each
// micro-batch's Batch rows are split into that many contiguous shards
// (the first ones larger when the count does not divide Batch; a shard
// past the batch's examples is padding with no targets), and each shard
// runs on its own replica of the compiled graph (graph.Replicas), the
// replicas side by side on one thread each, reading the same weights.
// Each shard's loss is weighted by its share of the micro-batch's
// targets, so the summed gradients are those of the micro-batch's mean
// loss, as one graph computes them; accumulation, clipping and AdamW are
// unchanged. On a small model this beats one graph whose every op is
// split over the threads (issue #11's examples/bench: see the README's
// performance section). One replica set is compiled per bucket (the
// micro-batch's token bucket, the largest shard's image slots and target
// rows). The result differs from one graph's by float32 rounding only
// (TestReplicasTrainAndResume: losses within 1e-5), and does not depend
// on GOMAXPROCS or scheduling (the reduction adds shard after shard): one
// seed gives one run, and a resumed run reproduces the uninterrupted one
// bit for bit, with the same Replicas (it is part of the saved Config). Measured on the shared
// 2-core AMD EPYC development machine (GOMAXPROCS=2, other jobs running,
// so treat the figures as rough): BenchmarkLLaVAStage1Step, one stage-1
// optimizer step of batch 4 of the test conversations (222 real tokens
// per step, padded to the 48/64 buckets), takes 163 ms on llava_tiny
// (1363 tok/s) and 1.06 s (209 tok/s) with a 256-wide 4-layer decoder;
// examples/bench's train_step_tok_s (a 256-wide 4-layer Llama, 4 × 64
// tokens, every weight trained) gave 346 tok/s in the same session. The
// profile is gorgonia's tape machine and sgemm (the graph ops are
// examples/bench's and issue #11's to speed up); the trainer's own work
// (layout, gradient accumulation, clipping, AdamW) does not show.
//
// # Watching
//
// Trainer.OnStep reports each step (loss, learning rate, pre-clip
// gradient norm, tokens/s); examples/train prints the contract line
// "step N loss X …" on stdout and a progress bar (schollz/progressbar) on
// stderr when it is a terminal; Run returns a Summary (parameters trained
// per group, steps, time, first and final loss, eval loss, where the model
// went).
package train
