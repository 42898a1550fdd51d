package policy

// MaxMethod is the longest request method the proxy takes for HTTP.
const MaxMethod = 20

// IsHTTPMethod reports whether the proxy takes a request with method m
// for HTTP: one to MaxMethod upper-case letters or '-' (every registered
// method, extension ones such as PURGE or PROPFIND too), other than PRI,
// which starts HTTP/2's preface. A connection whose first request has
// another method is opaque TCP to the proxy (pkg/proxy/sniff holds its
// detection to this rule), and a later request with one is refused
// (ReasonInvalidMethod), so the two answers of the proxy and of `meshctl
// policy explain` agree.
func IsHTTPMethod(m string) bool {
	if m == "" || len(m) > MaxMethod || m == "PRI" {
		return false
	}
	for i := 0; i < len(m); i++ {
		if c := m[i]; (c < 'A' || c > 'Z') && c != '-' {
			return false
		}
	}
	return true
}
