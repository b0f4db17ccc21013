package pubsub_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"strings"
	"testing"
)

// The README's quickstart is the body of Example, so it compiles, runs and cannot drift.
func TestReadmeQuickstartIsExample(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)## Quickstart\n\n```go\n(.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no Go block under ## Quickstart")
	}
	src, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "example_test.go", src, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	var body string
	for _, d := range f.Decls {
		if fn, ok := d.(*ast.FuncDecl); ok && fn.Name.Name == "Example" {
			body = string(src[fset.Position(fn.Body.Lbrace).Offset+1 : fset.Position(fn.Body.Rbrace).Offset])
		}
	}
	var lines []string
	for line := range strings.Lines(body) {
		line = strings.TrimSuffix(strings.TrimPrefix(line, "\t"), "\n")
		if strings.HasPrefix(line, "// Output:") || (len(lines) > 0 && strings.HasPrefix(lines[len(lines)-1], "// Output:")) {
			lines = append(lines, "// Output:") // the output comment and what follows are not in the README
			break
		}
		lines = append(lines, line)
	}
	want := strings.TrimSpace(strings.Join(lines[:len(lines)-1], "\n"))
	if got := strings.TrimSpace(string(m[1])); got != want {
		t.Errorf("README quickstart differs from Example's body.\nREADME:\n%s\n\nExample:\n%s", got, want)
	}
}
