package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/chatbus/chatbus"
	"github.com/chatbus/chatbus/internal/jsonstrict"
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
		writeErrorBody(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the body is larger than %d bytes", tooLarge.limit))
		return
	}
	if errors.As(err, new(errMediaType)) {
		writeErrorBody(w, http.StatusUnsupportedMediaType, "unsupported_media_type", err.Error())
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
	writeErrorBody(w, status, string(code), chatbus.ErrorMessage(err))
}

// writeErrorBody answers with status and {"error":{"code","message"}}: the
// one shape of every error, the HTTP layer's own (405, 413, 415) included.
func writeErrorBody(w http.ResponseWriter, status int, code, message string) {
	var body errorBody
	body.Error.Code, body.Error.Message = code, message
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

// errMediaType is answered with 415: a body not declared JSON.
type errMediaType struct{}

func (errMediaType) Error() string { return "the body must be sent as Content-Type: application/json" }

// decodeBody reads a JSON body of at most MaxBody bytes, arriving within
// BodyTimeout, into v, strictly:
// declared application/json (charset, if given, utf-8), field names exact
// and given once, no unknown fields, no trailing data. Its errors say what
// is wrong in the client's terms, never with a Go type or a socket.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if cs, ok := params["charset"]; err != nil || mt != "application/json" || ok && !strings.EqualFold(cs, "utf-8") {
		return errMediaType{}
	}
	// A client that sends its body slowly does not hold the connection.
	http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.cfg.BodyTimeout))
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBody))
	var tooLarge *http.MaxBytesError
	var netErr net.Error
	switch {
	case errors.As(err, &tooLarge):
		return errTooLarge{tooLarge.Limit}
	case errors.As(err, &netErr) && netErr.Timeout():
		return chatbus.Errorf(chatbus.CodeInvalid, "the request body was not received in time")
	case err != nil:
		return chatbus.Errorf(chatbus.CodeInvalid, "the request body could not be read in full")
	}
	if err = jsonstrict.Unmarshal(data, v, false); err == nil {
		return nil
	}
	if what := jsonstrict.Describe(err, "the body"); what != "" {
		return chatbus.Errorf(chatbus.CodeInvalid, "%s", what)
	}
	return chatbus.Errorf(chatbus.CodeInvalid, "the body is not the JSON this call takes")
}
