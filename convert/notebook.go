package convert

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Notebook is the part of an .ipynb file that conversion needs. Outputs and
// attachments are never decoded: encoding/json skips fields the structs do not
// name, so a notebook that is mostly images costs little more than its bytes.
type Notebook struct {
	Path     string
	Format   int // nbformat major version, 3 or 4
	Kernel   Kernel
	Cells    []Cell
	Metadata json.RawMessage // metadata.nbpipe, when present
}

// Kernel identifies the language a notebook was written for.
type Kernel struct {
	Name     string // kernelspec.name
	Language string // kernelspec.language, else language_info.name, lower case
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

func (s *source) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = source(v)
		return nil
	}
	var lines []string
	if err := json.Unmarshal(b, &lines); err != nil {
		return errors.New("source must be a string or a list of strings")
	}
	*s = source(strings.Join(lines, ""))
	return nil
}

type rawCell struct {
	CellType *string         `json:"cell_type"`
	Source   *source         `json:"source"`
	Input    *source         `json:"input"` // nbformat 3 code cells
	Metadata json.RawMessage `json:"metadata"`
}

type rawMeta struct {
	Kernelspec   json.RawMessage `json:"kernelspec"`
	LanguageInfo json.RawMessage `json:"language_info"`
	Nbpipe       json.RawMessage `json:"nbpipe"`
}

type rawNotebook struct {
	NBFormat   *json.Number    `json:"nbformat"`
	Metadata   json.RawMessage `json:"metadata"`
	Cells      *[]rawCell      `json:"cells"`
	Worksheets *[]struct {
		Cells []rawCell `json:"cells"`
	} `json:"worksheets"`
}

// ParseNotebook decodes an .ipynb file. Errors name the file and, for JSON
// syntax errors, the line and column.
func ParseNotebook(path string, data []byte) (*Notebook, error) {
	var raw rawNotebook
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%s: not a notebook: %s", path, describeJSONError(data, err))
	}
	if raw.NBFormat == nil {
		return nil, fmt.Errorf("%s: not a notebook: no nbformat field", path)
	}
	major, err := raw.NBFormat.Int64()
	if err != nil || (major != 3 && major != 4) {
		return nil, fmt.Errorf("%s: unsupported nbformat %s (nbpipe reads nbformat 3 and 4)", path, raw.NBFormat.String())
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
			Tags json.RawMessage `json:"tags"`
		}
		if err := json.Unmarshal(rc.Metadata, &md); err != nil {
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

func (nb *Notebook) readMetadata(b json.RawMessage) error {
	if len(b) == 0 || bytes.Equal(b, []byte("null")) {
		return nil
	}
	var md rawMeta
	if err := json.Unmarshal(b, &md); err != nil {
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
	nb.Kernel.Language = strings.ToLower(ks.Language)
	if nb.Kernel.Language == "" {
		nb.Kernel.Language = strings.ToLower(li.Name)
	}
	if len(md.Nbpipe) > 0 && !bytes.Equal(md.Nbpipe, []byte("null")) {
		nb.Metadata = md.Nbpipe
	}
	return nil
}

func describeJSONError(data []byte, err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line, col := lineCol(data, se.Offset)
		return fmt.Sprintf("invalid JSON at line %d, column %d: %s", line, col, se.Error())
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		line, col := lineCol(data, te.Offset)
		field := te.Field
		if field == "" {
			field = "document"
		}
		return fmt.Sprintf("invalid notebook at line %d, column %d: %s has the wrong type (%s)", line, col, field, te.Value)
	}
	if errors.Is(err, errUnexpectedEOF) || strings.Contains(err.Error(), "unexpected end of JSON input") {
		return "invalid JSON: unexpected end of input (truncated file?)"
	}
	return "invalid notebook: " + err.Error()
}

var errUnexpectedEOF = errors.New("unexpected end of JSON input")

func lineCol(data []byte, offset int64) (int, int) {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	before := data[:offset]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(offset) - bytes.LastIndexByte(before, '\n')
	return line, col
}
