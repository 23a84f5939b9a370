package web_test

import (
	"os"
	"strings"
	"testing"

	"github.com/chatbus/chatbus/web"
)

// TestAPIDocumented: docs/api.md has a section for every route, and no
// section for a route that does not exist.
func TestAPIDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	routes := map[string]bool{}
	for _, r := range web.Routes() {
		routes[r] = true
		if !strings.Contains(string(doc), "### `"+r+"`") {
			t.Errorf("docs/api.md has no section ### `%s`", r)
		}
	}
	for _, line := range strings.Split(string(doc), "\n") {
		if name, ok := strings.CutPrefix(line, "### `"); ok {
			if r := strings.TrimSuffix(name, "`"); !routes[r] {
				t.Errorf("docs/api.md documents %q, which is not a route", r)
			}
		}
	}
}
