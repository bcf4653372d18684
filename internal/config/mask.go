package config

import "strings"

// mask replaces every secret. It is constant, so a masked string reveals
// neither a secret's content nor its length.
const mask = "xxxxx"

func maskToken(s string) string {
	if s == "" {
		return ""
	}
	return mask
}

// secretParams are query (postgres://h/db?password=...) and keyword/value DSN
// (host=h password=...) parameters whose values are masked.
var secretParams = [...]string{"password", "passwd", "pwd", "sslpassword", "token", "secret"}

// MaskURL returns s with the secrets of the URLs in it replaced by "xxxxx":
// the password in user:password@, a bare userinfo (nats://TOKEN@host) except
// for postgres:// where it is only the role name, and password-like
// parameters. It scans text rather than calling url.Parse so that lists
// ("nats://a,nats://u:p@b"), multi-host Postgres URLs and strings that do not
// parse are masked too; where the text is ambiguous it masks more, not less.
// Safe for any string, including ones that are not URLs.
func MaskURL(s string) string {
	return maskParams(maskUserinfo(s))
}

// maskUserinfo masks, for every authority in s (after each "://", or after a
// leading "//"), everything between its first ':' and its last '@' before the
// next "://". url.Parse takes the userinfo up to the last '@' of an authority
// that ends at the first '/', so this span always covers the password it sees.
func maskUserinfo(s string) string {
	var starts []int // where each authority's text begins
	if strings.HasPrefix(s, "//") {
		starts = append(starts, 2)
	}
	for i := 0; ; {
		j := strings.Index(s[i:], "://")
		if j < 0 {
			break
		}
		starts = append(starts, i+j+3)
		i += j + 3
	}
	var b strings.Builder
	done := 0
	for k, start := range starts {
		if start < done {
			continue
		}
		end := len(s)
		if k+1 < len(starts) {
			end = starts[k+1] - 3
			if end < start {
				end = start
			}
		}
		at := strings.LastIndexByte(s[start:end], '@')
		if at <= 0 {
			continue
		}
		userinfo := s[start : start+at]
		b.WriteString(s[done:start])
		if colon := strings.IndexByte(userinfo, ':'); colon >= 0 {
			b.WriteString(userinfo[:colon+1] + mask)
		} else if isPostgres(schemeBefore(s, start)) {
			b.WriteString(userinfo) // a role name, not a secret; useful when debugging
		} else {
			b.WriteString(mask) // nats://TOKEN@host and the like
		}
		done = start + at
	}
	b.WriteString(s[done:])
	return b.String()
}

// schemeBefore returns the scheme that ends just before the "://" preceding
// start, lower-cased; "" after a leading "//".
func schemeBefore(s string, start int) string {
	end := start - 3
	if end < 0 {
		return ""
	}
	i := end
	for i > 0 && isSchemeByte(s[i-1]) {
		i--
	}
	return strings.ToLower(s[i:end])
}

func isSchemeByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'
}

func isPostgres(scheme string) bool { return scheme == "postgres" || scheme == "postgresql" }

// maskParams masks the value of every secretParams key that follows '?', '&',
// ';', a blank, or starts s. A quoted DSN value ('pa ss') is masked whole.
func maskParams(s string) string {
	var b strings.Builder
	done := 0
	for i := 0; i < len(s); i++ {
		if i > 0 && !strings.ContainsRune("?&; \t", rune(s[i-1])) {
			continue
		}
		key := secretKeyAt(s, i)
		if key == 0 {
			continue
		}
		v := i + key
		end := v
		if end < len(s) && s[end] == '\'' {
			if q := strings.IndexByte(s[end+1:], '\''); q >= 0 {
				end += q + 2
			} else {
				end = len(s)
			}
		} else {
			for end < len(s) && !strings.ContainsRune("&#; \t", rune(s[end])) {
				end++
			}
		}
		if end == v {
			continue
		}
		b.WriteString(s[done:v] + mask)
		done, i = end, end-1
	}
	b.WriteString(s[done:])
	return b.String()
}

// secretKeyAt returns the length of "key=" when a secret key starts at i.
func secretKeyAt(s string, i int) int {
	for _, k := range secretParams {
		n := len(k) + 1
		if i+n <= len(s) && s[i+len(k)] == '=' && strings.EqualFold(s[i:i+len(k)], k) {
			return n
		}
	}
	return 0
}
