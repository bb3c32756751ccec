package main

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// setJupytextNbpipe is setNbpipeMetadata for a Jupytext percent script: the
// settings go under jupyter.nbpipe in its commented YAML header (where
// jupytext keeps the notebook's metadata), the other header keys are kept,
// and a script without a header gets one. It returns the script and the new
// settings as JSON.
func setJupytextNbpipe(data []byte, settings map[string]any, unsets []string) ([]byte, []byte, error) {
	text := string(data)
	bom := ""
	if strings.HasPrefix(text, "\ufeff") {
		bom, text = "\ufeff", text[len("\ufeff"):]
	}
	eol := "\n"
	if strings.Contains(text, "\r\n") {
		eol = "\r\n"
	}
	lines := strings.Split(text, eol)
	var doc yaml.Node
	end := -1 // index of the closing "# ---"
	if len(lines) > 0 && strings.TrimSpace(lines[0]) == "# ---" {
		for i := 1; i < len(lines); i++ {
			if strings.TrimSpace(lines[i]) == "# ---" {
				end = i
				break
			}
		}
		if end < 0 {
			return nil, nil, errors.New("the Jupytext header has no closing '# ---' line")
		}
		var b strings.Builder
		for _, l := range lines[1:end] {
			b.WriteString(strings.TrimPrefix(strings.TrimPrefix(l, "#"), " ") + "\n")
		}
		if err := yaml.Unmarshal([]byte(b.String()), &doc); err != nil {
			return nil, nil, fmt.Errorf("invalid Jupytext header: %v", err)
		}
	}
	if doc.Kind == 0 {
		doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode}}}
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, nil, errors.New("the Jupytext header is not a YAML mapping")
	}
	jupyter, _ := mappingValue(root, "jupyter")
	if jupyter.Kind != yaml.MappingNode {
		return nil, nil, errors.New("jupyter in the Jupytext header is not a mapping")
	}
	nbpipe, found := mappingValue(jupyter, "nbpipe")
	merged := map[string]any{}
	if found {
		if err := nbpipe.Decode(&merged); err != nil || merged == nil {
			return nil, nil, errors.New("jupyter.nbpipe in the Jupytext header is not a mapping")
		}
	}
	for _, k := range unsets {
		delete(merged, k)
	}
	for k, v := range settings {
		merged[k] = v
	}
	compact, err := marshalNoEscape(merged, "", "")
	if err != nil {
		return nil, nil, err
	}
	if end >= 0 && len(settings) == 0 && len(unsets) == 0 {
		return data, compact, nil
	}
	if err := nbpipe.Encode(merged); err != nil {
		return nil, nil, err
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2) // as jupytext writes it
	if err := enc.Encode(&doc); err != nil {
		return nil, nil, err
	}
	header := []string{"# ---"}
	for _, l := range strings.Split(strings.TrimRight(buf.String(), "\n"), "\n") {
		header = append(header, strings.TrimRight("# "+l, " "))
	}
	header = append(header, "# ---")
	rest := lines[end+1:]
	if end < 0 {
		rest = append([]string{""}, lines...)
	}
	return []byte(bom + strings.Join(append(header, rest...), eol)), compact, nil
}

// mappingValue returns key's value in a mapping node; a missing key is
// added with an empty mapping.
func mappingValue(m *yaml.Node, key string) (*yaml.Node, bool) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1], true
		}
	}
	v := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
	return v, false
}
