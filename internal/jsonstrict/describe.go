package jsonstrict

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
)

// Describe says, in a client's terms, what is wrong with a value that
// encoding/json refused — "userId must be a JSON string", "the body must be
// a JSON object", "the body has a syntax error at byte 12" — never with a Go type's name;
// subject names the whole value ("the body"). It returns "" for an error it
// does not know, which the caller then describes in general words.
func Describe(err error, subject string) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var strict *Error
	switch msg := err.Error(); {
	case errors.As(err, &strict):
		return strict.msg
	case errors.Is(err, errTrailing):
		return subject + " holds more than one JSON value"
	case errors.As(err, &syntax):
		return fmt.Sprintf("%s has a syntax error at byte %d", subject, syntax.Offset)
	case errors.As(err, &typ) && typ.Field != "":
		return fmt.Sprintf("%s must be %s", typ.Field, kind(typ.Type))
	case errors.As(err, &typ):
		return fmt.Sprintf("%s must be %s", subject, kind(typ.Type))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return subject + " ends too soon"
	case strings.HasPrefix(msg, `json: unknown field "`):
		// encoding/json has no type for it; the name is the client's own,
		// cut short.
		name := strings.TrimSuffix(strings.TrimPrefix(msg, `json: unknown field "`), `"`)
		if len(name) > 64 {
			name = strings.ToValidUTF8(name[:64], "") + "…"
		}
		return fmt.Sprintf("%s has a field this call does not take: %q", subject, name)
	case strings.Contains(msg, "exceeded max depth"):
		return subject + " is nested too deeply"
	}
	return ""
}

// kind names what a Go type takes, as JSON.
func kind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a JSON string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "a JSON list"
	default:
		return "a JSON object"
	}
}
