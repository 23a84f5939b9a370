package chatbus

import (
	"errors"
	"fmt"
)

// Code is a stable, machine-readable error class. Adapters map it to their
// own vocabulary in exactly one table each (the wire's errorCode, the HTTP
// status), so a code must never be renamed once published.
type Code string

// The error codes of the domain. Every error an operation returns either is an
// *Error with one of these codes, or is unexpected and reported as CodeInternal.
const (
	CodeInvalid         Code = "invalid"         // the request is malformed or breaks a rule
	CodeUnauthenticated Code = "unauthenticated" // wrong user id or password
	CodeForbidden       Code = "forbidden"       // the caller may not do this (e.g. not a member)
	CodeNotFound        Code = "not_found"       // a user or room does not exist
	CodeConflict        Code = "conflict"        // it exists already (user id, e-mail, friend)
	CodeUnavailable     Code = "unavailable"     // a dependency did not answer in time
	CodeRateLimited     Code = "rate_limited"    // too many attempts; try later
	CodeInternal        Code = "internal"        // a bug or an outage; details are logged, never shown
)

// Codes lists every code, so that adapters can test that their tables are whole.
var Codes = []Code{CodeInvalid, CodeUnauthenticated, CodeForbidden, CodeNotFound,
	CodeConflict, CodeUnavailable, CodeRateLimited, CodeInternal}

// Error is the domain's error: a code for machines and a message for people.
// The message is safe to show to the caller; it never holds secrets.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Errorf returns an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, "" for nil
// and CodeInternal for any other error.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ErrorMessage returns the message of the first *Error in err's chain, or a
// generic text for any other error: internal details are for logs only.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
