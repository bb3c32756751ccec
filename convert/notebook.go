package convert

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Notebook is the part of an .ipynb file that conversion needs. Outputs and
// attachments are never decoded: the JSON v2 decoder (the module that mirrors
// encoding/json/v2) validates and skips fields the structs do not name in one
// pass, so a notebook that is mostly images costs little more than its bytes.
type Notebook struct {
	Path     string
	Format   int // nbformat major version, 3 or 4
	Kernel   Kernel
	Cells    []Cell
	Metadata jsontext.Value // metadata.nbpipe, when present
}

// Kernel identifies the language a notebook was written for.
type Kernel struct {
	Name     string // kernelspec.name
	Language string // kernelspec.language, else language_info.name, lower case
	// Synapse is true for a notebook saved by Azure Synapse Studio, whose
	// cells run in a Spark pool in the notebook's language.
	Synapse bool
}

// Cell is one notebook cell. Index is its position among all cells (0-based).
type Cell struct {
	Index  int
	Type   string // code, markdown, raw
	Source string
	Tags   []string
	// MetaTagError is set when metadata.tags is not a list of strings.
	MetaTagError string
}

// source accepts both encodings nbformat allows: a string or a list of lines.
type source string

func (s *source) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	switch dec.PeekKind() {
	case '"':
		tok, err := dec.ReadToken()
		if err != nil {
			return err
		}
		*s = source(tok.String())
		return nil
	case '[':
		if _, err := dec.ReadToken(); err != nil {
			return err
		}
		var b strings.Builder
		for dec.PeekKind() == '"' {
			tok, err := dec.ReadToken()
			if err != nil {
				return err
			}
			b.WriteString(tok.String())
		}
		if dec.PeekKind() != ']' {
			return errors.New("source must be a string or a list of strings")
		}
		if _, err := dec.ReadToken(); err != nil {
			return err
		}
		*s = source(b.String())
		return nil
	}
	return errors.New("source must be a string or a list of strings")
}

type rawCell struct {
	CellType *string        `json:"cell_type"`
	Source   *source        `json:"source"`
	Input    *source        `json:"input"` // nbformat 3 code cells
	Metadata jsontext.Value `json:"metadata"`
}

type rawMeta struct {
	Kernelspec   jsontext.Value `json:"kernelspec"`
	LanguageInfo jsontext.Value `json:"language_info"`
	Nbpipe       jsontext.Value `json:"nbpipe"`
	// Azure Synapse Studio writes these (and often no kernelspec).
	SaveOutput    jsontext.Value `json:"saveOutput"`
	SynapseWidget jsontext.Value `json:"synapse_widget"`
}

type rawNotebook struct {
	NBFormat   jsontext.Value `json:"nbformat"`
	Metadata   jsontext.Value `json:"metadata"`
	Cells      *[]rawCell     `json:"cells"`
	Worksheets *[]struct {
		Cells []rawCell `json:"cells"`
	} `json:"worksheets"`
}

// ParseNotebook decodes an .ipynb file. Errors name the file and, for JSON
// syntax errors, the line and column.
func ParseNotebook(path string, data []byte) (*Notebook, error) {
	var raw rawNotebook
	if err := json.Unmarshal(data, &raw, jsonOptions); err != nil {
		return nil, fmt.Errorf("%s: not a notebook: %s", path, describeJSONError(data, err))
	}
	if len(raw.NBFormat) == 0 {
		return nil, fmt.Errorf("%s: not a notebook: no nbformat field", path)
	}
	var major int64
	if err := json.Unmarshal(raw.NBFormat, &major); err != nil || (major != 3 && major != 4) {
		return nil, fmt.Errorf("%s: unsupported nbformat %s (nbpipe reads nbformat 3 and 4)", path, clip(string(raw.NBFormat), 40))
	}
	nb := &Notebook{Path: path, Format: int(major)}
	if err := nb.readMetadata(raw.Metadata); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var cells []rawCell
	switch major {
	case 4:
		if raw.Cells == nil {
			return nil, fmt.Errorf("%s: invalid nbformat 4 notebook: no cells list", path)
		}
		cells = *raw.Cells
	case 3:
		if raw.Worksheets == nil {
			return nil, fmt.Errorf("%s: invalid nbformat 3 notebook: no worksheets list", path)
		}
		for _, ws := range *raw.Worksheets {
			cells = append(cells, ws.Cells...)
		}
	}
	nb.Cells = make([]Cell, 0, len(cells))
	for i, rc := range cells {
		c, err := decodeCell(int(major), i, rc)
		if err != nil {
			return nil, fmt.Errorf("%s: cell %d: %w", path, i+1, err)
		}
		nb.Cells = append(nb.Cells, c)
	}
	return nb, nil
}

func decodeCell(major, index int, rc rawCell) (Cell, error) {
	if rc.CellType == nil {
		return Cell{}, errors.New("invalid cell: no cell_type")
	}
	c := Cell{Index: index, Type: *rc.CellType}
	src := rc.Source
	switch c.Type {
	case "code":
		if major == 3 {
			src = rc.Input
		}
	case "markdown", "raw":
	case "heading": // nbformat 3 only
		if major != 3 {
			return Cell{}, fmt.Errorf("invalid cell_type %q", c.Type)
		}
		c.Type = "markdown"
	default:
		return Cell{}, fmt.Errorf("invalid cell_type %q (want code, markdown or raw)", c.Type)
	}
	if src == nil {
		if major == 3 && c.Type == "code" {
			return Cell{}, errors.New("invalid code cell: no input")
		}
		return Cell{}, errors.New("invalid cell: no source")
	}
	c.Source = string(*src)
	if len(rc.Metadata) > 0 && !bytes.Equal(rc.Metadata, []byte("null")) {
		var md struct {
			Tags jsontext.Value `json:"tags"`
		}
		if err := json.Unmarshal(rc.Metadata, &md, jsonOptions); err != nil {
			return Cell{}, errors.New("invalid cell metadata: not an object")
		}
		if len(md.Tags) > 0 {
			if err := json.Unmarshal(md.Tags, &c.Tags); err != nil {
				c.MetaTagError = "metadata.tags is not a list of strings; tags ignored"
				c.Tags = nil
			}
		}
	}
	return c, nil
}

func (nb *Notebook) readMetadata(b jsontext.Value) error {
	if len(b) == 0 || bytes.Equal(b, []byte("null")) {
		return nil
	}
	var md rawMeta
	if err := json.Unmarshal(b, &md, jsonOptions); err != nil {
		return errors.New("invalid notebook metadata: not an object")
	}
	// Kernel fields are advisory; odd shapes are read leniently.
	var ks struct {
		Name     string `json:"name"`
		Language string `json:"language"`
	}
	_ = json.Unmarshal(md.Kernelspec, &ks)
	var li struct {
		Name string `json:"name"`
	}
	_ = json.Unmarshal(md.LanguageInfo, &li)
	nb.Kernel.Name = ks.Name
	nb.Kernel.Synapse = len(md.SaveOutput) > 0 || len(md.SynapseWidget) > 0 || strings.HasPrefix(strings.ToLower(ks.Name), "synapse_")
	nb.Kernel.Language = strings.ToLower(ks.Language)
	if nb.Kernel.Language == "" {
		nb.Kernel.Language = strings.ToLower(li.Name)
	}
	if len(md.Nbpipe) > 0 && !bytes.Equal(md.Nbpipe, []byte("null")) {
		nb.Metadata = md.Nbpipe
	}
	return nil
}

// jsonOptions accept what Python's json module accepts: later duplicate keys win.
var jsonOptions = json.JoinOptions(jsontext.AllowDuplicateNames(true), json.MatchCaseInsensitiveNames(false))

func describeJSONError(data []byte, err error) string {
	var se *jsontext.SyntacticError
	if errors.As(err, &se) {
		line, col := lineCol(data, se.ByteOffset)
		return fmt.Sprintf("invalid JSON at line %d, column %d: %v", line, col, se.Err)
	}
	var te *json.SemanticError
	if errors.As(err, &te) {
		line, col := lineCol(data, te.ByteOffset)
		where := string(te.JSONPointer)
		if where == "" {
			where = "the document"
		}
		return fmt.Sprintf("invalid notebook at line %d, column %d: %s has the wrong type (%v)", line, col, where, te.Err)
	}
	return "invalid notebook: " + err.Error()
}

func lineCol(data []byte, offset int64) (int, int) {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	before := data[:offset]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(offset) - bytes.LastIndexByte(before, '\n')
	return line, col
}
