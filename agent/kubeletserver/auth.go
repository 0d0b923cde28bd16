package kubeletserver

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authenticationclient "k8s.io/client-go/kubernetes/typed/authentication/v1"
	"k8s.io/utils/clock"
)

// Kubelet's default cache times of webhook authentication and
// authorisation (authentication.webhook.cacheTTL,
// authorization.webhook.cacheAuthorizedTTL and cacheUnauthorizedTTL).
const (
	DefaultTokenCacheTTL = 2 * time.Minute
	DefaultAllowedTTL    = 5 * time.Minute
	DefaultDeniedTTL     = 30 * time.Second
	cacheEntries         = 1024
)

// User is an authenticated client.
type User struct {
	Name   string
	UID    string
	Groups []string
	Extra  map[string][]string
}

// errNoCredentials: the request carries neither a verified client
// certificate nor a bearer token.
var errNoCredentials = errors.New("no credentials")

// authenticator identifies a request's user by its client certificate
// (verified against --client-ca-file) or its bearer token (a
// TokenReview), the first that works, as kubelet's union of both.
type authenticator struct {
	clientCAs *x509.CertPool                            // nil: certificates are not accepted
	tokens    authenticationclient.TokenReviewInterface // nil: tokens are not accepted
	cache     *ttlCache[*User]                          // token hash -> user (nil user: not authenticated)
	ttl       time.Duration
	clock     clock.PassiveClock
}

func newAuthenticator(clientCAs *x509.CertPool, tokens authenticationclient.TokenReviewInterface, c clock.PassiveClock, ttl time.Duration) *authenticator {
	return &authenticator{clientCAs: clientCAs, tokens: tokens, cache: newTTLCache[*User](c, cacheEntries), ttl: ttl, clock: c}
}

// authenticate returns the request's user; (nil, nil) when its
// credentials are not accepted, errNoCredentials when it has none, another
// error when the apiserver could not be asked.
func (a *authenticator) authenticate(r *http.Request) (*User, error) {
	if u, ok := certUser(r, a.clientCAs, a.clock.Now()); ok {
		return u, nil
	}
	token, ok := bearerToken(r.Header.Get("Authorization"))
	if !ok {
		return nil, errNoCredentials
	}
	if a.tokens == nil {
		return nil, nil
	}
	sum := sha256.Sum256([]byte(token))
	key := hex.EncodeToString(sum[:])
	if u, ok := a.cache.get(key); ok {
		return u, nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	tr, err := a.tokens.Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("token review: %w", err)
	}
	u := tokenUser(tr.Status)
	a.cache.put(key, u, a.ttl)
	return u, nil
}

// certUser is the user of a client certificate that verifies against
// roots for client authentication at now: CN the name, O the groups, as
// kube-apiserver and kubelet read them. (The TLS handshake only requests
// the certificate, so one that does not verify ends in 401 or a token,
// as with kubelet, not in a failed handshake.)
func certUser(r *http.Request, roots *x509.CertPool, now time.Time) (*User, bool) {
	if roots == nil || r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil, false
	}
	c := r.TLS.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, ic := range r.TLS.PeerCertificates[1:] {
		inter.AddCert(ic)
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil || c.Subject.CommonName == "" {
		return nil, false
	}
	return &User{Name: c.Subject.CommonName, Groups: append([]string(nil), c.Subject.Organization...)}, true
}

// bearerToken reads "Authorization: Bearer TOKEN" (the scheme in any case).
func bearerToken(h string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "bearer") || token == "" || strings.ContainsAny(token, " \t") {
		return "", false
	}
	return token, true
}

// tokenUser is the user a TokenReview answered, nil if not authenticated.
func tokenUser(st authenticationv1.TokenReviewStatus) *User {
	if !st.Authenticated || st.User.Username == "" {
		return nil
	}
	u := &User{Name: st.User.Username, UID: st.User.UID, Groups: append([]string(nil), st.User.Groups...)}
	if len(st.User.Extra) > 0 {
		u.Extra = map[string][]string{}
		for k, v := range st.User.Extra {
			u.Extra[k] = append([]string(nil), v...)
		}
	}
	return u
}
