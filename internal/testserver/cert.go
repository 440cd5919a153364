package testserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"sync"
	"time"
)

// selfSigned is generated once per process: starting many TLS servers (one
// per test, replicas) then costs no key generation.
var selfSigned struct {
	once sync.Once
	cert tls.Certificate
	pool *x509.CertPool
	err  error
}

// certificate returns a self-signed ECDSA P-256 certificate valid for
// 127.0.0.1, ::1 and localhost, and a pool that trusts it.
func certificate() (tls.Certificate, *x509.CertPool, error) {
	selfSigned.once.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			selfSigned.err = err
			return
		}
		now := time.Now()
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(1),
			Subject:               pkix.Name{Organization: []string{"llmhttp testserver"}},
			NotBefore:             now.Add(-time.Hour),
			NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
			KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
			ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			BasicConstraintsValid: true,
			IsCA:                  true,
			IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
			DNSNames:              []string{"localhost"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			selfSigned.err = err
			return
		}
		leaf, err := x509.ParseCertificate(der)
		if err != nil {
			selfSigned.err = err
			return
		}
		selfSigned.cert = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
		selfSigned.pool = x509.NewCertPool()
		selfSigned.pool.AddCert(leaf)
	})
	return selfSigned.cert, selfSigned.pool, selfSigned.err
}
