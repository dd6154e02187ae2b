package weights

import (
	"errors"
	"slices"
	"testing"
)

// TestReportAllFlagsStrayTensors: a tensor outside every bound prefix is
// unexpected under ReportAll (and only ignored without it).
func TestReportAllFlagsStrayTensors(t *testing.T) {
	ck := checkpoint("model.", true, true)
	ck["evil.weight"] = filled(1, 2)
	ck["model.position_ids"] = filled(1, 2)
	src := mapSource(ck)
	if err := Bind(src, "model.", newModel(), Ignore("model.position_ids")); err != nil {
		t.Fatalf("without ReportAll: %v", err)
	}
	err := Bind(src, "model.", newModel(), ReportAll(), Ignore("model.position_ids"))
	var be *BindError
	if !errors.As(err, &be) || !slices.Equal(be.Unexpected, []string{"evil.weight"}) {
		t.Fatalf("ReportAll: %v, want evil.weight unexpected (and the ignored name not)", err)
	}
}
