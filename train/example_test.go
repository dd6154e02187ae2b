package train_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/fovea-ml/fovea"
	"github.com/fovea-ml/fovea/internal/traintest"
	"github.com/fovea-ml/fovea/train"
)

// Example trains the projector of a tiny LLaVA folder for two steps.
func Example() {
	ctx := context.Background()
	tmp, _ := os.MkdirTemp("", "fovea-train-example-")
	defer os.RemoveAll(tmp)
	dir := traintest.Folder(exampleTB{tmp}, "llava_tiny") // a tiny LLaVA folder with a tokenizer
	m, err := fovea.Load(ctx, dir, fovea.ForTraining())
	if err != nil {
		fmt.Println(err)
		return
	}
	data, err := train.LoadDataset(filepath.Join(traintest.DataDir(), "data.jsonl"), train.DataOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	recipe, _ := train.Builtin(train.RecipeProjector)
	tr, err := train.New(m, data, nil, train.Config{Recipe: recipe, Steps: 2, Batch: 4, Seed: 1}, filepath.Join(dir, "out"))
	if err != nil {
		fmt.Println(err)
		return
	}
	tr.OnStep = func(s train.StepInfo) { fmt.Printf("step %d of %d (%s)\n", s.Step, s.Total, s.StageName) }
	sum, err := tr.Run(ctx, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("projector parameters trained:", sum.Trained[train.Projector])
	// Output:
	// step 1 of 2 (projector)
	// step 2 of 2 (projector)
	// projector parameters trained: 8320
}

// exampleTB lets the Example build its folder outside a test.
type exampleTB struct{ dir string }

func (exampleTB) Helper()           {}
func (exampleTB) Fatal(args ...any) { panic(fmt.Sprint(args...)) }
func (e exampleTB) TempDir() string { return e.dir }
