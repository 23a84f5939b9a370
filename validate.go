package chatbus

import (
	"net/mail"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits of what users may enter. They are part of the contract (docs/wire.md).
const (
	MaxUserIDLen      = 32
	MinPasswordLen    = 4 // the seed's own example uses "1234"; the gateway may ask more
	MaxPasswordLen    = 256
	MaxEmailLen       = 254
	MaxNameLen        = 50
	MaxStatusLen      = 150
	MaxMessageLen     = 4000
	MaxPreviewLen     = 100 // of the last message in the room list
	MaxClientMsgIDLen = 64
	MaxRoomNameLen    = 100
	MaxFriendsPerCall = 100
	MaxRoomMembers    = 100
	MaxPageLimit      = 200
	DefaultPageLimit  = 50
)

// User ids are lower-case so that "Alice" and "alice" are one account.
var userIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)

// NormalizeUserID lower-cases and trims an id as typed.
func NormalizeUserID(id string) string { return strings.ToLower(strings.TrimSpace(id)) }

// ValidateUserID checks a normalized user id.
func ValidateUserID(id string) error {
	switch {
	case id == "":
		return Errorf(CodeInvalid, "userId is required")
	case len(id) > MaxUserIDLen:
		return Errorf(CodeInvalid, "userId is longer than %d characters", MaxUserIDLen)
	case !userIDPattern.MatchString(id):
		return Errorf(CodeInvalid, "userId may hold only a-z, 0-9, '_', '.' and '-', and must start with a letter or digit")
	}
	return nil
}

func validatePassword(pw string) error {
	n := utf8.RuneCountInString(pw)
	switch {
	case n < MinPasswordLen:
		return Errorf(CodeInvalid, "userPw must be at least %d characters", MinPasswordLen)
	case n > MaxPasswordLen:
		return Errorf(CodeInvalid, "userPw must be at most %d characters", MaxPasswordLen)
	}
	return nil
}

func validateEmail(email string) error {
	if email == "" {
		return Errorf(CodeInvalid, "email is required")
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || a.Name != "" || len(email) > MaxEmailLen || !strings.Contains(email[strings.LastIndexByte(email, '@'):], ".") {
		return Errorf(CodeInvalid, "email %q is not a valid address", email)
	}
	return nil
}

// validateText checks a free-text field: valid UTF-8, no control characters
// other than newline and tab when multiline, at most max runes.
func validateText(field, s string, max int, required, multiline bool) error {
	switch {
	case !utf8.ValidString(s):
		return Errorf(CodeInvalid, "%s is not valid UTF-8", field)
	case required && strings.TrimSpace(s) == "":
		return Errorf(CodeInvalid, "%s is required", field)
	case utf8.RuneCountInString(s) > max:
		return Errorf(CodeInvalid, "%s is longer than %d characters", field, max)
	}
	for _, r := range s {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\t')) {
			return Errorf(CodeInvalid, "%s holds a control character", field)
		}
	}
	return nil
}

// normalizeIDs normalizes, validates and de-duplicates a list of user ids,
// keeping their order.
func normalizeIDs(field string, ids []string, max int) ([]string, error) {
	if len(ids) == 0 {
		return nil, Errorf(CodeInvalid, "%s must name at least one user", field)
	}
	if len(ids) > max {
		return nil, Errorf(CodeInvalid, "%s names more than %d users", field, max)
	}
	out := make([]string, 0, len(ids))
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		id = NormalizeUserID(id)
		if err := ValidateUserID(id); err != nil {
			return nil, Errorf(CodeInvalid, "%s: %s", field, err.(*Error).Message)
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out, nil
}
