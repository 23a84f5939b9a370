package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

const readyTimeout = 30 * time.Second

// stream is one user's open /api/events stream.
type stream struct {
	user *user
	body io.ReadCloser
	br   *bufio.Reader
	line []byte // a line longer than br's buffer
}

// openStream opens u's event stream and reads up to its "ready" event,
// which must say the session is known: the stream is then registered, and
// gets every event from now on.
func openStream(ctx context.Context, u *user) (*stream, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", u.api.base.String()+"/api/events", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cookie", u.session)
	resp, err := u.api.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Code, Message string }
		}
		json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&e)
		resp.Body.Close()
		return nil, &statusError{Method: "GET", Path: "/api/events", Status: resp.StatusCode, Code: e.Error.Code, Msg: e.Error.Message}
	}
	s := &stream{user: u, body: resp.Body, br: bufio.NewReaderSize(resp.Body, 4096)}
	// A gateway that answers but never says ready must not hang the setup.
	stuck := time.AfterFunc(readyTimeout, func() { resp.Body.Close() })
	defer stuck.Stop()
	var ready []byte
	err = s.read(func(name string, data []byte) bool {
		if name == "ready" {
			ready = data
			return false
		}
		return true
	})
	if ready == nil {
		resp.Body.Close()
		return nil, fmt.Errorf("%s's event stream ended before its ready event: %w", u.id, err)
	}
	var r struct {
		Authenticated bool `json:"authenticated"`
	}
	if json.Unmarshal(ready, &r); !r.Authenticated {
		resp.Body.Close()
		return nil, fmt.Errorf("%s's event stream is not logged in (the gateway does not know the session)", u.id)
	}
	return s, nil
}

func (s *stream) Close() error { return s.body.Close() }

// read parses the stream and calls f with each event's name and data (the
// data is only valid during the call) until f returns false or the stream
// ends. Comments (heartbeats), id: and retry: are skipped: the bench needs
// none of them.
func (s *stream) read(f func(name string, data []byte) bool) error {
	var name, data []byte
	hasData := false
	for {
		line, err := s.readLine()
		if err != nil {
			return err
		}
		switch {
		case len(line) == 0:
			if hasData && !f(string(name), data) {
				return nil
			}
			name, data, hasData = name[:0], data[:0], false
		case line[0] == ':':
		default:
			field, value, _ := bytes.Cut(line, []byte(":"))
			value = bytes.TrimPrefix(value, []byte(" "))
			switch string(field) {
			case "event":
				name = append(name[:0], value...)
			case "data":
				if hasData {
					data = append(data, '\n')
				}
				data, hasData = append(data, value...), true
			}
		}
	}
}

// readLine returns the next line without its end; valid until the next call.
func (s *stream) readLine() ([]byte, error) {
	line, err := s.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		s.line = append(s.line[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = s.br.ReadSlice('\n')
			s.line = append(s.line, line...)
		}
		line = s.line
	}
	if err != nil {
		return nil, err
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	return bytes.TrimSuffix(line, []byte("\r")), nil
}
