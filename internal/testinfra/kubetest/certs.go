package kubetest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// secrets is what one apiserver's files are made of: a CA, a serving
// certificate it signed for 127.0.0.1, the service-account signing key and
// the static bearer tokens of its users.
type secrets struct {
	caPEM     []byte
	certFile  string // serving certificate
	keyFile   string // its key
	saKeyFile string // RSA private key signing service-account tokens
	saPubFile string
	tokenFile string // --token-auth-file
	tokens    map[string]string
}

// user is a static-token identity of the apiserver.
type user struct {
	name   string
	groups []string
}

// writeSecrets creates the CA, serving certificate, service-account key and
// token file in dir.
func writeSecrets(t TB, dir string, users []user) *secrets {
	t.Helper()
	s := &secrets{
		certFile:  filepath.Join(dir, "serving.crt"),
		keyFile:   filepath.Join(dir, "serving.key"),
		saKeyFile: filepath.Join(dir, "sa.key"),
		saPubFile: filepath.Join(dir, "sa.pub"),
		tokenFile: filepath.Join(dir, "tokens.csv"),
		tokens:    map[string]string{},
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("kubetest: secrets: %v", err)
		}
	}
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kubetest-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	must(err)
	ca, err := x509.ParseCertificate(caDER)
	must(err)
	s.caPEM = pemBlock("CERTIFICATE", caDER)

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback, net.IPv4(10, 0, 0, 1)},
		DNSNames:     []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	must(err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	must(err)
	must(os.WriteFile(s.certFile, append(pemBlock("CERTIFICATE", der), s.caPEM...), 0o644))
	must(os.WriteFile(s.keyFile, pemBlock("PRIVATE KEY", keyDER), 0o600))

	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	saDER, err := x509.MarshalPKCS8PrivateKey(saKey)
	must(err)
	saPubDER, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	must(err)
	must(os.WriteFile(s.saKeyFile, pemBlock("PRIVATE KEY", saDER), 0o600))
	must(os.WriteFile(s.saPubFile, pemBlock("PUBLIC KEY", saPubDER), 0o644))

	// token,user,uid,"group1,group2"
	var csv strings.Builder
	for _, u := range users {
		tok := randomToken()
		s.tokens[u.name] = tok
		fmt.Fprintf(&csv, "%s,%s,%s,%q\n", tok, u.name, u.name, strings.Join(u.groups, ","))
	}
	must(os.WriteFile(s.tokenFile, []byte(csv.String()), 0o600))
	return s
}

// kubeconfig is a kubeconfig for one user of the apiserver at url, trusting
// the test CA (TLS is verified, not skipped).
func (s *secrets) kubeconfig(cluster, url, userName string) []byte {
	return fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters:
- name: %[1]s
  cluster:
    server: %[2]s
    certificate-authority-data: %[3]s
users:
- name: %[4]s
  user:
    token: %[5]s
contexts:
- name: %[4]s@%[1]s
  context:
    cluster: %[1]s
    user: %[4]s
current-context: %[4]s@%[1]s
`, cluster, url, base64.StdEncoding.EncodeToString(s.caPEM), userName, s.tokens[userName])
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func randomToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
