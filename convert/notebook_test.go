package convert

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// nbTestDoc marshals a notebook document built from Go values, so the tests
// below describe notebooks structurally instead of as hand-escaped JSON.
func nbTestDoc(t *testing.T, doc map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatalf("marshal test notebook: %v", err)
	}
	return b
}

func nbTestParse(t *testing.T, doc map[string]any) *Notebook {
	t.Helper()
	nb, err := ParseNotebook("dir/test.ipynb", nbTestDoc(t, doc))
	if err != nil {
		t.Fatalf("ParseNotebook: unexpected error: %v", err)
	}
	return nb
}

func TestParseNotebookV4Source(t *testing.T) {
	tests := []struct {
		name   string
		source any
		want   string
	}{
		{"string", "x = 1\ny = 2", "x = 1\ny = 2"},
		{"list of lines", []string{"x = 1\n", "y = 2"}, "x = 1\ny = 2"},
		{"list joined without separators", []string{"a", "b", "c"}, "abc"},
		{"empty string", "", ""},
		{"empty list", []string{}, ""},
		{"unicode kept", []string{"s = 'é😀'\n"}, "s = 'é😀'\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nb := nbTestParse(t, map[string]any{
				"nbformat": 4, "nbformat_minor": 5, "metadata": map[string]any{},
				"cells": []any{map[string]any{"cell_type": "code", "source": tc.source, "metadata": map[string]any{}, "outputs": []any{}, "execution_count": nil}},
			})
			if nb.Format != 4 {
				t.Errorf("Format = %d, want 4", nb.Format)
			}
			if nb.Path != "dir/test.ipynb" {
				t.Errorf("Path = %q", nb.Path)
			}
			if len(nb.Cells) != 1 {
				t.Fatalf("got %d cells, want 1", len(nb.Cells))
			}
			if got := nb.Cells[0].Source; got != tc.want {
				t.Errorf("Source = %q, want %q", got, tc.want)
			}
			if nb.Cells[0].Type != "code" {
				t.Errorf("Type = %q, want code", nb.Cells[0].Type)
			}
		})
	}
}

func TestParseNotebookV4Cells(t *testing.T) {
	nb := nbTestParse(t, map[string]any{
		"nbformat": 4, "nbformat_minor": 4, "metadata": map[string]any{},
		"cells": []any{
			map[string]any{"cell_type": "markdown", "source": "# Title", "metadata": map[string]any{}},
			map[string]any{"cell_type": "raw", "source": []string{"---\n", "dag_id: x\n", "---\n"}, "metadata": map[string]any{}},
			map[string]any{"cell_type": "code", "source": "x = 1", "metadata": map[string]any{"tags": []string{"task:load", "retries:2"}}, "outputs": []any{}},
			map[string]any{"cell_type": "code", "source": "y = 2", "metadata": nil, "outputs": []any{}},
			map[string]any{"cell_type": "code", "source": "z = 3"}, // no metadata at all
		},
	})
	want := []Cell{
		{Index: 0, Type: "markdown", Source: "# Title"},
		{Index: 1, Type: "raw", Source: "---\ndag_id: x\n---\n"},
		{Index: 2, Type: "code", Source: "x = 1", Tags: []string{"task:load", "retries:2"}},
		{Index: 3, Type: "code", Source: "y = 2"},
		{Index: 4, Type: "code", Source: "z = 3"},
	}
	if len(nb.Cells) != len(want) {
		t.Fatalf("got %d cells, want %d", len(nb.Cells), len(want))
	}
	for i, w := range want {
		t.Run(w.Type+"_"+string(rune('0'+i)), func(t *testing.T) {
			got := nb.Cells[i]
			if len(got.Tags) == 0 {
				got.Tags = nil
			}
			if !reflect.DeepEqual(got, w) {
				t.Errorf("cell %d = %+v, want %+v", i, got, w)
			}
		})
	}
}

func TestParseNotebookV3(t *testing.T) {
	doc := map[string]any{
		"nbformat": 3, "nbformat_minor": 0,
		"metadata": map[string]any{"name": "old"},
		"worksheets": []any{
			map[string]any{"cells": []any{
				map[string]any{"cell_type": "heading", "level": 1, "source": []string{"My title"}, "metadata": map[string]any{}},
				map[string]any{"cell_type": "code", "language": "python", "input": []string{"x = 1\n", "y = 2"}, "outputs": []any{}, "metadata": map[string]any{}},
				map[string]any{"cell_type": "markdown", "source": "Some *text*", "metadata": map[string]any{}},
			}},
			map[string]any{"cells": []any{
				map[string]any{"cell_type": "code", "input": "z = 3", "outputs": []any{}, "metadata": map[string]any{"tags": []string{"skip"}}},
				map[string]any{"cell_type": "raw", "source": "raw text"},
			}},
		},
	}
	nb := nbTestParse(t, doc)
	t.Run("format", func(t *testing.T) {
		if nb.Format != 3 {
			t.Errorf("Format = %d, want 3", nb.Format)
		}
	})
	t.Run("cells from all worksheets in order", func(t *testing.T) {
		var types, sources []string
		for i, c := range nb.Cells {
			if c.Index != i {
				t.Errorf("cell %d has Index %d", i, c.Index)
			}
			types = append(types, c.Type)
			sources = append(sources, c.Source)
		}
		wantTypes := []string{"markdown", "code", "markdown", "code", "raw"}
		wantSources := []string{"My title", "x = 1\ny = 2", "Some *text*", "z = 3", "raw text"}
		if !reflect.DeepEqual(types, wantTypes) {
			t.Errorf("types = %q, want %q", types, wantTypes)
		}
		if !reflect.DeepEqual(sources, wantSources) {
			t.Errorf("sources = %q, want %q", sources, wantSources)
		}
	})
	t.Run("tags read in v3", func(t *testing.T) {
		if got := nb.Cells[3].Tags; !reflect.DeepEqual(got, []string{"skip"}) {
			t.Errorf("Tags = %q, want [skip]", got)
		}
	})
	t.Run("code cell source field is ignored in v3", func(t *testing.T) {
		_, err := ParseNotebook("old.ipynb", nbTestDoc(t, map[string]any{
			"nbformat": 3,
			"worksheets": []any{map[string]any{"cells": []any{
				map[string]any{"cell_type": "code", "source": "x = 1"},
			}}},
		}))
		if err == nil || !strings.Contains(err.Error(), "no input") || !strings.Contains(err.Error(), "old.ipynb") || !strings.Contains(err.Error(), "cell 1") {
			t.Errorf("err = %v, want a 'no input' error naming old.ipynb and cell 1", err)
		}
	})
	t.Run("no worksheets", func(t *testing.T) {
		_, err := ParseNotebook("old.ipynb", []byte(`{"nbformat": 3, "metadata": {}}`))
		if err == nil || !strings.Contains(err.Error(), "old.ipynb") || !strings.Contains(err.Error(), "worksheets") {
			t.Errorf("err = %v, want a worksheets error naming the file", err)
		}
	})
	t.Run("heading is rejected in v4", func(t *testing.T) {
		_, err := ParseNotebook("new.ipynb", []byte(`{"nbformat": 4, "cells": [{"cell_type": "heading", "source": "x"}]}`))
		if err == nil || !strings.Contains(err.Error(), `"heading"`) || !strings.Contains(err.Error(), "new.ipynb") {
			t.Errorf("err = %v, want invalid cell_type \"heading\" naming the file", err)
		}
	})
}

func TestParseNotebookErrors(t *testing.T) {
	tests := []struct {
		name string
		data string
		want []string // substrings of the error, besides the file name
	}{
		{"invalid JSON names line and column", "{\n  \"nbformat\": 4,\n  \"cells\": ]\n}", []string{"invalid JSON", "line 3", "column 12"}},
		{"invalid JSON on first line", "}", []string{"invalid JSON", "line 1, column 1"}},
		{"invalid JSON deep in a line", `{"nbformat": 4, "cells": [}`, []string{"invalid JSON", "line 1, column 27"}},
		{"truncated file", "{\n  \"nbformat\": 4,\n  \"cells\": [\n", []string{"invalid JSON", "unexpected", "line "}},
		{"empty file", "", []string{"invalid JSON", "unexpected"}},
		{"not an object", "[]", []string{"not a notebook", "wrong type"}},
		{"cells of the wrong type", `{"nbformat": 4, "cells": 5}`, []string{"cells", "wrong type", "line 1"}},
		{"nbformat 5", `{"nbformat": 5, "nbformat_minor": 0, "cells": []}`, []string{"unsupported nbformat 5"}},
		{"nbformat 2", `{"nbformat": 2, "cells": []}`, []string{"unsupported nbformat 2"}},
		{"missing nbformat", `{"cells": [], "metadata": {}}`, []string{"no nbformat field"}},
		{"v4 without cells", `{"nbformat": 4, "metadata": {}}`, []string{"no cells list"}},
		{"v4 with null cells", `{"nbformat": 4, "cells": null}`, []string{"no cells list"}},
		{"malformed cell type", `{"nbformat": 4, "cells": [{"cell_type": "code", "source": ""}, {"cell_type": "malformed", "source": "x"}]}`, []string{"cell 2", `invalid cell_type "malformed"`}},
		{"missing cell type", `{"nbformat": 4, "cells": [{"source": "x"}]}`, []string{"cell 1", "no cell_type"}},
		{"missing source", `{"nbformat": 4, "cells": [{"cell_type": "markdown", "metadata": {}}]}`, []string{"cell 1", "no source"}},
		{"null source", `{"nbformat": 4, "cells": [{"cell_type": "code", "source": null}]}`, []string{"cell 1", "no source"}},
		{"source of the wrong type", `{"nbformat": 4, "cells": [{"cell_type": "code", "source": 42}]}`, []string{"source must be a string or a list of strings"}},
		{"source list with a number", `{"nbformat": 4, "cells": [{"cell_type": "code", "source": ["a", 1]}]}`, []string{"source must be a string or a list of strings"}},
		{"notebook metadata not an object", `{"nbformat": 4, "metadata": [], "cells": []}`, []string{"metadata", "not an object"}},
		{"cell metadata not an object", `{"nbformat": 4, "cells": [{"cell_type": "code", "source": "", "metadata": "x"}]}`, []string{"cell 1", "metadata", "not an object"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nb, err := ParseNotebook("path/to/bad.ipynb", []byte(tc.data))
			if err == nil {
				t.Fatalf("no error; parsed %+v", nb)
			}
			if nb != nil {
				t.Errorf("notebook returned with error: %+v", nb)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "path/to/bad.ipynb: ") {
				t.Errorf("error %q does not start with the file name", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
}

func TestParseNotebookTags(t *testing.T) {
	tests := []struct {
		name     string
		metadata any
		wantTags []string
		wantErr  bool
	}{
		{"list of strings", map[string]any{"tags": []string{"a", "task:b"}}, []string{"a", "task:b"}, false},
		{"empty list", map[string]any{"tags": []string{}}, nil, false},
		{"null tags", map[string]any{"tags": nil}, nil, false},
		{"no tags key", map[string]any{"collapsed": true}, nil, false},
		{"string instead of list", map[string]any{"tags": "task:x"}, nil, true},
		{"list of numbers", map[string]any{"tags": []int{1, 2}}, nil, true},
		{"mixed list", map[string]any{"tags": []any{"ok", 3}}, nil, true},
		{"object", map[string]any{"tags": map[string]any{"task": "x"}}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nb := nbTestParse(t, map[string]any{
				"nbformat": 4,
				"cells":    []any{map[string]any{"cell_type": "code", "source": "x = 1", "metadata": tc.metadata}},
			})
			c := nb.Cells[0]
			if len(c.Tags) == 0 {
				c.Tags = nil
			}
			if !reflect.DeepEqual(c.Tags, tc.wantTags) {
				t.Errorf("Tags = %q, want %q", c.Tags, tc.wantTags)
			}
			if got := c.MetaTagError != ""; got != tc.wantErr {
				t.Errorf("MetaTagError = %q, want set: %v", c.MetaTagError, tc.wantErr)
			}
			if tc.wantErr && !strings.Contains(c.MetaTagError, "metadata.tags") {
				t.Errorf("MetaTagError %q does not name metadata.tags", c.MetaTagError)
			}
			if c.Source != "x = 1" {
				t.Errorf("Source = %q: a bad tag list must not lose the cell", c.Source)
			}
		})
	}
}

func TestParseNotebookIgnoresOutputs(t *testing.T) {
	huge := strings.Repeat("iVBORw0KGgo", 200000) // about 2 MB of fake base64
	tests := []struct {
		name    string
		outputs any
		extra   map[string]any
	}{
		{"huge image output", []any{map[string]any{"output_type": "display_data", "data": map[string]any{"image/png": huge}, "metadata": map[string]any{}}}, nil},
		{"outputs is a number", 42, nil},
		{"outputs is a string", "not a list", nil},
		{"outputs with odd nesting", []any{[]any{[]any{map[string]any{"x": []any{nil, true, 1.5}}}}}, nil},
		{"attachments and unknown fields", []any{}, map[string]any{"attachments": map[string]any{"a.png": map[string]any{"image/png": huge}}, "execution_count": "seven", "id": 12}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cell := map[string]any{"cell_type": "code", "source": "x = 1", "metadata": map[string]any{}, "outputs": tc.outputs}
			for k, v := range tc.extra {
				cell[k] = v
			}
			nb := nbTestParse(t, map[string]any{"nbformat": 4, "cells": []any{cell}})
			if len(nb.Cells) != 1 || nb.Cells[0].Source != "x = 1" {
				t.Errorf("cells = %+v", nb.Cells)
			}
		})
	}
}

func TestParseNotebookKernel(t *testing.T) {
	tests := []struct {
		name     string
		metadata any
		want     Kernel
	}{
		{"kernelspec name and language", map[string]any{"kernelspec": map[string]any{"name": "python3", "display_name": "Python 3", "language": "python"}}, Kernel{Name: "python3", Language: "python"}},
		{"language lower-cased", map[string]any{"kernelspec": map[string]any{"name": "PySparkKernel", "language": "PySpark"}}, Kernel{Name: "PySparkKernel", Language: "pyspark"}},
		{"language_info when kernelspec has none", map[string]any{"kernelspec": map[string]any{"name": "ir"}, "language_info": map[string]any{"name": "R"}}, Kernel{Name: "ir", Language: "r"}},
		{"kernelspec language wins over language_info", map[string]any{"kernelspec": map[string]any{"name": "k", "language": "scala"}, "language_info": map[string]any{"name": "python"}}, Kernel{Name: "k", Language: "scala"}},
		{"only language_info", map[string]any{"language_info": map[string]any{"name": "Python", "version": "3.11"}}, Kernel{Language: "python"}},
		{"kernelspec of an odd shape", map[string]any{"kernelspec": "python3", "language_info": map[string]any{"name": "python"}}, Kernel{Language: "python"}},
		{"language_info of an odd shape", map[string]any{"kernelspec": map[string]any{"name": "python3"}, "language_info": []any{1}}, Kernel{Name: "python3"}},
		{"no metadata", nil, Kernel{}},
		{"empty metadata", map[string]any{}, Kernel{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := map[string]any{"nbformat": 4, "cells": []any{}}
			if tc.metadata != nil {
				doc["metadata"] = tc.metadata
			}
			nb := nbTestParse(t, doc)
			if nb.Kernel != tc.want {
				t.Errorf("Kernel = %+v, want %+v", nb.Kernel, tc.want)
			}
		})
	}
}

// Jupyter reads notebooks with Python's json module: names are case-sensitive
// and a repeated name keeps its last value.
func TestParseNotebookJSONLikePython(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		source  string // first cell's source; "" with wantErr
		wantErr string
	}{
		{"duplicate cells key: last wins", `{"nbformat": 4, "cells": [{"cell_type": "code", "source": "A"}], "cells": [{"cell_type": "code", "source": "B"}]}`, "B", ""},
		{"duplicate source key: last wins", `{"nbformat": 4, "cells": [{"cell_type": "code", "source": "A", "source": "B"}]}`, "B", ""},
		{"names are case-sensitive", `{"nbformat": 4, "Cells": [{"cell_type": "code", "source": "A"}]}`, "", "no cells list"},
		{"cell_type is case-sensitive", `{"nbformat": 4, "cells": [{"Cell_Type": "code", "source": "A"}]}`, "", "no cell_type"},
		{"text after the document", `{"nbformat": 4, "cells": []} trailing`, "", "invalid JSON at line 1, column 30"},
		{"nbformat as a string", `{"nbformat": "4", "cells": []}`, "", `unsupported nbformat "4"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nb, err := ParseNotebook("py.ipynb", []byte(tc.data))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseNotebook: %v", err)
			}
			if len(nb.Cells) != 1 || nb.Cells[0].Source != tc.source {
				t.Errorf("cells = %+v, want one with source %q", nb.Cells, tc.source)
			}
		})
	}
}

func TestParseNotebookNbpipeMetadata(t *testing.T) {
	t.Run("present", func(t *testing.T) {
		nb := nbTestParse(t, map[string]any{"nbformat": 4, "cells": []any{}, "metadata": map[string]any{"nbpipe": map[string]any{"dag_id": "x", "retries": 1}}})
		var got map[string]any
		if err := json.Unmarshal(nb.Metadata, &got); err != nil {
			t.Fatalf("Metadata %q is not JSON: %v", nb.Metadata, err)
		}
		if got["dag_id"] != "x" || got["retries"] != float64(1) {
			t.Errorf("Metadata = %v", got)
		}
	})
	t.Run("null is absent", func(t *testing.T) {
		nb := nbTestParse(t, map[string]any{"nbformat": 4, "cells": []any{}, "metadata": map[string]any{"nbpipe": nil}})
		if nb.Metadata != nil {
			t.Errorf("Metadata = %q, want nil", nb.Metadata)
		}
	})
	t.Run("absent", func(t *testing.T) {
		nb := nbTestParse(t, map[string]any{"nbformat": 4, "cells": []any{}, "metadata": map[string]any{"kernelspec": map[string]any{"name": "python3"}}})
		if nb.Metadata != nil {
			t.Errorf("Metadata = %q, want nil", nb.Metadata)
		}
	})
}
