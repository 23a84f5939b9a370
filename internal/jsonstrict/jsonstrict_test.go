package jsonstrict_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/chatbus/chatbus/internal/jsonstrict"
)

type inner struct {
	Name string `json:"name"`
}

type base struct {
	ID string `json:"id"`
}

type request struct {
	base
	UserID  string            `json:"userId"`
	Pw      *string           `json:"userPw,omitempty"`
	Members []inner           `json:"members"`
	Labels  map[string]inner  `json:"labels"`
	Any     any               `json:"any"`
	Raw     json.RawMessage   `json:"raw"`
	Plain   string            // no tag: its Go name
	Skipped string            `json:"-"`
	ByName  map[string]string `json:"byName"`
}

// TestCheck: what encoding/json takes and the contract does not — names in
// another case (with Unicode's folds too: ſ is s), and names given
// twice, at any depth — is refused with a message that names the field as
// the type spells it; everything else is left to encoding/json.
func TestCheck(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"userId":"a","userPw":"x"}`, ""},
		{`{"USERID":"a"}`, `field names are case-sensitive: write "userId"`},
		{`{"userid":"a"}`, `field names are case-sensitive: write "userId"`},
		{`{"uſerId":"a"}`, `field names are case-sensitive: write "userId"`}, // U+017F folds to s
		{`{"userPw":"x","UserPw":"y"}`, `write "userPw"`},
		{`{"user\u0049d":"a"}`, ""}, // an escape of the exact name is the exact name
		{`{"user\u0069d":"a"}`, `write "userId"`},
		{`{"userId":"a","userId":"b"}`, `"userId" is given twice`},
		{`{"user\u0049d":"a","userId":"b"}`, `"userId" is given twice`},
		{`{"members":[{"name":"a","name":"b"}]}`, `"name" is given twice`},
		{`{"members":[{"NAME":"a"}]}`, `write "name"`},
		{`{"labels":{"x":{"Name":"a"}}}`, `write "name"`},
		{`{"labels":{"x":{},"x":{}}}`, "a field name is given twice"},
		{`{"any":{"k":1,"k":2}}`, "a field name is given twice"},
		{`{"raw":{"k":1,"k":2}}`, "a field name is given twice"},
		{`{"any":{"UserId":1}}`, ""},          // any value: names are not the type's
		{`{"id":"a","ID":"b"}`, `write "id"`}, // an embedded struct's field
		{`{"Plain":"a"}`, ""},
		{`{"plain":"a"}`, `write "Plain"`},
		{`{"unknown":1,"unknown":2}`, "a field name is given twice"},
		{`{"Skipped":"a"}`, ""},             // unknown: encoding/json decides
		{`{"userId":`, ""},                  // a syntax error: encoding/json says so
		{`{"userId":"a"} {"userId":1}`, ""}, // trailing data: likewise
		{`[]`, ""},
		{strings.Repeat("[", 20000), ""},
	} {
		var v request
		err := jsonstrict.Check([]byte(tc.in), &v)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%.40s: %v", tc.in, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%.40s: %v, want %q", tc.in, err, tc.want)
		}
	}
}

type selfDecoding struct{ v string }

func (s *selfDecoding) UnmarshalJSON(b []byte) error { return nil }

// A type that decodes itself is checked for names given twice only.
func TestCheckUnmarshaler(t *testing.T) {
	var v struct {
		S selfDecoding `json:"s"`
	}
	if err := jsonstrict.Check([]byte(`{"s":{"Any":1}}`), &v); err != nil {
		t.Error(err)
	}
	if err := jsonstrict.Check([]byte(`{"s":{"a":1,"a":1}}`), &v); err == nil {
		t.Error("a name given twice inside a self-decoding value passed")
	}
}

// TestDescribe: encoding/json's refusals in the client's terms, with no Go
// type in them.
func TestDescribe(t *testing.T) {
	type req struct {
		UserID string   `json:"userId"`
		Seq    *int64   `json:"seq"`
		IDs    []string `json:"ids"`
		OK     bool     `json:"ok"`
	}
	for _, tc := range []struct{ in, want string }{
		{`[]`, "the body must be a JSON object"},
		{`"x"`, "the body must be a JSON object"},
		{`{"userId":1}`, "userId must be a JSON string"},
		{`{"seq":1.5}`, "seq must be a whole number"},
		{`{"seq":1.0}`, "seq must be a whole number"},
		{`{"seq":"2"}`, "seq must be a whole number"},
		{`{"ids":"a"}`, "ids must be a JSON list"},
		{`{"ok":1}`, "ok must be true or false"},
		{`{"userId":`, "the body ends too soon"},
		{`{"userId" 1}`, "the body has a syntax error at byte 11"},
		{`{"isAdmin":true}`, `the body has a field this call does not take: "isAdmin"`},
		{`{"userId":"a","userId":"b"}`, `"userId" is given twice`},
	} {
		var v req
		err := jsonstrict.Check([]byte(tc.in), &v)
		if err == nil {
			dec := json.NewDecoder(strings.NewReader(tc.in))
			dec.DisallowUnknownFields()
			err = dec.Decode(&v)
		}
		if got := jsonstrict.Describe(err, "the body"); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := jsonstrict.Describe(errors.New("read tcp 127.0.0.1:1->127.0.0.1:2: i/o timeout"), "the body"); got != "" {
		t.Errorf("an unknown error: %q", got)
	}
}
