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
	MaxFriendsPerCall = 20 // few, so that no call can test many ids for existence
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
	// net/mail takes any UTF-8, invisible and bidi characters too: an
	// address that looks like another's would be another account.
	if strings.ContainsFunc(email, func(r rune) bool { return unicode.IsControl(r) || invisible(r) }) {
		return Errorf(CodeInvalid, "email %q holds invisible or control characters", email)
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || a.Name != "" || len(email) > MaxEmailLen || !strings.Contains(email[strings.LastIndexByte(email, '@'):], ".") {
		return Errorf(CodeInvalid, "email %q is not a valid address", email)
	}
	return nil
}

// textField is a free-text field of a request and what it may hold.
type textField struct {
	name      string
	max       int // characters
	required  bool
	multiline bool // newline and tab allowed (messages)
	// prose is free writing (messages, status messages), where the bidi
	// marks that right-to-left writing needs (LRM, RLM, ALM) may stand;
	// names and ids hold no bidi control at all.
	prose bool
}

// The text fields.
var (
	userNameField    = textField{name: "userName", max: MaxNameLen, required: true}
	userStatusField  = textField{name: "userStatus", max: MaxStatusLen, prose: true}
	roomNameField    = textField{name: "roomName", max: MaxRoomNameLen}
	messageField     = textField{name: "message", max: MaxMessageLen, required: true, multiline: true, prose: true}
	clientMsgIDField = textField{name: "clientMsgId", max: MaxClientMsgIDLen}
)

// check checks s: valid UTF-8, at most max characters, no control
// characters, no bidi controls (but the marks, in prose), and — when it is
// not empty — something visible: a name of zero-width spaces shows as
// nothing, as "   " does.
//
// Bidi controls reorder the text shown around them: U+202E in a name can
// make "alice (txt.exe)" read otherwise, and in a message hide what a link
// or a file name really is. Embeddings, overrides and isolates
// (U+202A–U+202E, U+2066–U+2069) are refused everywhere: people do not type
// them, and right-to-left writing does not need them, since the UI isolates
// every piece of user text (dir="auto", <bdi>). The marks (U+200E, U+200F,
// U+061C) change no order beyond their neighbours and are how RTL writers
// place punctuation, so prose keeps them.
func (f textField) check(s string) error {
	switch {
	case !utf8.ValidString(s):
		return Errorf(CodeInvalid, "%s is not valid UTF-8", f.name)
	case f.required && strings.TrimSpace(s) == "":
		return Errorf(CodeInvalid, "%s is required", f.name)
	case utf8.RuneCountInString(s) > f.max:
		return Errorf(CodeInvalid, "%s is longer than %d characters", f.name, f.max)
	}
	visible := false
	for _, r := range s {
		switch {
		case unicode.IsControl(r) && !(f.multiline && (r == '\n' || r == '\t')):
			return Errorf(CodeInvalid, "%s holds a control character", f.name)
		case unicode.Is(unicode.Bidi_Control, r) && !(f.prose && bidiMark(r)):
			return Errorf(CodeInvalid, "%s holds a bidirectional control character (U+%04X)", f.name, r)
		case !invisible(r):
			visible = true
		}
	}
	if s != "" && !visible {
		return Errorf(CodeInvalid, "%s has nothing visible: only blanks and invisible characters", f.name)
	}
	return nil
}

// bidiMark tells the bidi controls that set no embedding: LRM, RLM, ALM.
func bidiMark(r rune) bool { return r == '\u200e' || r == '\u200f' || r == '\u061c' }

// invisible tells whether r shows as nothing: white space, format
// characters (Cf: zero-width spaces and joiners, U+2060–U+2064, the BOM,
// soft hyphens, tags, bidi controls), variation selectors, the other
// default-ignorable characters (Hangul fillers, the combining grapheme
// joiner) and the blank Braille pattern.
func invisible(r rune) bool {
	return unicode.IsSpace(r) || r == '\u2800' ||
		unicode.In(r, unicode.Cf, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point)
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
