package web_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chatbus/chatbus/web"
)

// wantMessage checks an error answer's status and code and that its message
// holds want.
func wantErrorMessage(t testing.TB, r *result, status int, code, want string) {
	t.Helper()
	wantError(t, r, status, code)
	m := wantJSON(t, r, status)
	if msg := m["error"].(map[string]any)["message"].(string); !strings.Contains(msg, want) {
		t.Fatalf("%v: message %q, want it to hold %q", r, msg, want)
	}
}

// Field names are exact and given once: encoding/json alone would log in
// {"USERID":…} as alice and {"userId":"alice","userId":"bob",…} as bob.
func TestStrictFieldNames(t *testing.T) {
	t.Parallel()
	e := newEnv(t, web.Config{})
	e.signUp("alice")
	e.signUp("bob")
	b := e.browser()
	wantErrorMessage(t, b.do("POST", "/api/login", `{"USERID":"alice","USERPW":"`+password+`"}`),
		http.StatusBadRequest, "invalid", `field names are case-sensitive: write "userId"`)
	wantErrorMessage(t, b.do("POST", "/api/login", `{"userId":"alice","userId":"bob","userPw":"`+password+`"}`),
		http.StatusBadRequest, "invalid", `"userId" is given twice`)
	if b.cookie("chatbus_session", "/") != "" {
		t.Fatal("a refused login set a session")
	}
	wantJSON(t, b.do("POST", "/api/login", `{"userId":"alice","userPw":"`+password+`"}`), http.StatusOK)
}
