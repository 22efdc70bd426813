package db

import (
	"net/url"
	"regexp"
	"strings"
)

// Redact returns a connection string safe to print: the password of a URI
// or a keyword/value string is replaced by "xxxxx".
func Redact(conn string) string {
	if strings.Contains(conn, "://") {
		u, err := url.Parse(conn)
		if err == nil {
			if _, has := u.User.Password(); has {
				u.User = url.UserPassword(u.User.Username(), "xxxxx")
			}
			q := u.Query()
			if q.Has("password") {
				q.Set("password", "xxxxx")
				u.RawQuery = q.Encode()
			}
			return u.String()
		}
		return uriPassword.ReplaceAllString(conn, "${1}xxxxx@")
	}
	return kvPassword.ReplaceAllString(conn, "${1}xxxxx")
}

var (
	// scheme://user:password@ — for strings url.Parse rejects.
	uriPassword = regexp.MustCompile(`(://[^:/@\s]*:)[^@\s]*@`)
	// password=secret or password='se cret' in keyword/value strings.
	kvPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)
)

// RedactError returns err's message with anything that looks like a
// password removed; pgx parse errors may echo the connection string.
func RedactError(err error) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	msg = uriPassword.ReplaceAllString(msg, "${1}xxxxx@")
	return kvPassword.ReplaceAllString(msg, "${1}xxxxx")
}
