// Package jsonstrict refuses what encoding/json lets pass in a request: a
// field name that matches only when case is ignored ("USERID" for
// "userId", even "uſerId"), and a name given twice, of which encoding/json
// takes the last. Both adapters (the Kafka backend and the web gateway)
// check with it before they decode, so that a record and an HTTP body are
// read by one rule: field names are exact, and each is given once.
package jsonstrict

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
)

// Error is a request that breaks the rule. Its message names a field as the
// Go type spells it, never what the request holds (which may be a password).
type Error struct{ msg string }

func (e *Error) Error() string { return e.msg }

// maxDepth is where checking stops: encoding/json refuses deeper values
// itself.
const maxDepth = 10_000

// Check reads the first JSON value of data alongside the type v points to
// (what data is about to be decoded into) and returns an *Error for an
// object that names a field twice, or that names a struct field in another
// case than its own. It leaves everything else — syntax errors, unknown
// fields, wrong types, trailing data — to json.Unmarshal, which says what is
// wrong; a type with its own UnmarshalJSON is checked for names given twice
// only (and checks the rest itself).
func Check(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	err := (&walker{dec: dec}).value(reflect.TypeOf(v), 0)
	if e, ok := err.(*Error); ok {
		return e
	}
	return nil // a syntax error: json.Unmarshal reports it
}

// errTrailing is data that holds more than one JSON value.
var errTrailing = errors.New("more than one JSON value")

// Unmarshal decodes data, which must hold one JSON value, into v: Check's
// rules first, then encoding/json's, with unknown fields refused unless
// ignoreUnknown. Describe says what its errors mean.
func Unmarshal(data []byte, v any, ignoreUnknown bool) error {
	if err := Check(data, v); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if !ignoreUnknown {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errTrailing
	}
	return nil
}

type walker struct{ dec *json.Decoder }

// errStop ends a walk that cannot go on (bad syntax, too deep) without a
// verdict.
var errStop = errors.New("stop")

// value reads one value whose Go type is t (nil: any, unchecked names).
func (w *walker) value(t reflect.Type, depth int) error {
	if depth > maxDepth {
		return errStop
	}
	tok, err := w.dec.Token()
	if err != nil {
		return errStop
	}
	t = concrete(t)
	switch tok {
	case json.Delim('{'):
		return w.object(t, depth)
	case json.Delim('['):
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for w.dec.More() {
			if err := w.value(elem, depth+1); err != nil {
				return err
			}
		}
		_, err := w.dec.Token() // ]
		if err != nil {
			return errStop
		}
	}
	return nil
}

func (w *walker) object(t reflect.Type, depth int) error {
	var fields map[string]field
	var elem reflect.Type
	if t != nil {
		switch t.Kind() {
		case reflect.Struct:
			fields = fieldsOf(t)
		case reflect.Map:
			elem = t.Elem()
		}
	}
	seen := map[string]bool{}
	for w.dec.More() {
		tok, err := w.dec.Token()
		if err != nil {
			return errStop
		}
		name, _ := tok.(string)
		f, known := fields[name]
		if seen[name] {
			if known {
				return &Error{fmt.Sprintf("%q is given twice", f.name)}
			}
			return &Error{"a field name is given twice"}
		}
		seen[name] = true
		if !known && fields != nil {
			for _, f := range fields {
				if strings.EqualFold(f.name, name) {
					return &Error{fmt.Sprintf("field names are case-sensitive: write %q", f.name)}
				}
			}
		}
		next := elem
		if known {
			next = f.typ
		}
		if err := w.value(next, depth+1); err != nil {
			return err
		}
	}
	if _, err := w.dec.Token(); err != nil { // }
		return errStop
	}
	return nil
}

var (
	unmarshaler     = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// concrete is t without pointers; nil for a type that decodes itself or
// takes anything.
func concrete(t reflect.Type) reflect.Type {
	for t != nil {
		if reflect.PointerTo(t).Implements(unmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
			return nil
		}
		switch t.Kind() {
		case reflect.Pointer:
			t = t.Elem()
		case reflect.Interface:
			return nil
		default:
			return t
		}
	}
	return nil
}

type field struct {
	name string
	typ  reflect.Type
}

var cache sync.Map // reflect.Type → map[string]field

// fieldsOf returns a struct's JSON fields by name, those of embedded
// structs included, as encoding/json names them.
func fieldsOf(t reflect.Type) map[string]field {
	if m, ok := cache.Load(t); ok {
		return m.(map[string]field)
	}
	m := map[string]field{}
	addFields(m, t)
	cache.Store(t, m)
	return m
}

// addFields adds t's fields, its own before those of its embedded structs
// (which encoding/json lets them hide).
func addFields(m map[string]field, t reflect.Type) {
	var embedded []reflect.Type
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if sf.Anonymous && name == "" {
			et := sf.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				embedded = append(embedded, et)
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		m[name] = field{name, sf.Type}
	}
	for _, et := range embedded {
		inner := map[string]field{}
		addFields(inner, et)
		for name, f := range inner {
			if _, ok := m[name]; !ok {
				m[name] = f
			}
		}
	}
}
