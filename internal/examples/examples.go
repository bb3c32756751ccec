// Package examples bundles the example notebooks that `nbpipe convert` converts
// when it is given no path. They build their own small data, so the files
// generated from them run anywhere PySpark runs; the tests run them.
package examples

import "embed"

// FS holds the example notebooks.
//
//go:embed *.ipynb
var FS embed.FS
