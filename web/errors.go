package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/chatbus/chatbus"
)

// statuses is the one table from domain codes to HTTP statuses.
var statuses = map[chatbus.Code]int{
	chatbus.CodeInvalid:         http.StatusBadRequest,
	chatbus.CodeUnauthenticated: http.StatusUnauthorized,
	chatbus.CodeForbidden:       http.StatusForbidden,
	chatbus.CodeNotFound:        http.StatusNotFound,
	chatbus.CodeConflict:        http.StatusConflict,
	chatbus.CodeUnavailable:     http.StatusServiceUnavailable,
	chatbus.CodeRateLimited:     http.StatusTooManyRequests,
	chatbus.CodeInternal:        http.StatusInternalServerError,
}

// errorBody is the JSON of every error response.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// writeError answers with err's status and {"error":{"code","message"}}.
// An error that is not the domain's is logged and shown as "internal error".
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var tooLarge errTooLarge
	if errors.As(err, &tooLarge) {
		var body errorBody
		body.Error.Code, body.Error.Message = "too_large", fmt.Sprintf("the body is larger than %d bytes", tooLarge.limit)
		writeJSON(w, http.StatusRequestEntityTooLarge, body)
		return
	}
	code := chatbus.ErrorCode(err)
	if code == chatbus.CodeInternal {
		if errors.Is(err, r.Context().Err()) {
			return // the client went away
		}
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "requestId", requestID(r.Context()), "err", err)
	}
	status, ok := statuses[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	if code == chatbus.CodeUnavailable {
		// Kafka or the backend is down or behind: worth trying again soon.
		s.log.Warn("unavailable", "method", r.Method, "path", r.URL.Path, "requestId", requestID(r.Context()), "err", chatbus.ErrorMessage(err))
		w.Header().Set("Retry-After", "2")
	}
	var body errorBody
	body.Error.Code, body.Error.Message = string(code), chatbus.ErrorMessage(err)
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// errTooLarge is answered with 413.
type errTooLarge struct{ limit int64 }

func (e errTooLarge) Error() string { return "request body too large" }

// decodeBody reads a JSON body of at most limit bytes into v, strictly:
// unknown fields and trailing data are errors.
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	// A client that sends its body slowly does not hold the connection.
	http.NewResponseController(w).SetReadDeadline(time.Now().Add(30 * time.Second))
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		// Only the end may follow; reading on also meets a body that is
		// too large after a small value (padding).
		if _, terr := dec.Token(); terr != io.EOF {
			err = terr
			if err == nil {
				err = errors.New("more than one JSON value")
			}
		}
	}
	var tooLarge *http.MaxBytesError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &tooLarge):
		return errTooLarge{tooLarge.Limit}
	default:
		return chatbus.Errorf(chatbus.CodeInvalid, "the body is not the JSON this call takes: %v", err)
	}
}
