package main

// `kkplane pki --dir=D` writes the certificates the plane needs beyond the
// API server's own self-signed serving certificate:
//
//   - front-proxy-ca.{crt,key} and front-proxy-client.{crt,key} (CN
//     front-proxy-client): the aggregation layer's client certificate, which
//     kube-apiserver presents to aggregated API servers, and the CA they use to
//     trust its X-Remote-User / X-Remote-Group headers (requestheader);
//   - kubevirt-ca.{crt,key} and virt-api.{crt,key}: the serving certificate of
//     the virt-api stand-in, valid for virt-api.kubevirt.svc (the name the
//     aggregator verifies) and 127.0.0.1. kubevirt-ca.crt is the APIService's
//     caBundle.
//
// Existing files are kept, so running it twice changes nothing.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

type keyPair struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func runPKI(args []string) int {
	fs := flag.NewFlagSet("pki", flag.ContinueOnError)
	dir := fs.String("dir", "", "directory to write the certificates into")
	if err := fs.Parse(args); err != nil || *dir == "" {
		fmt.Fprintln(os.Stderr, "usage: kkplane pki --dir=DIR")
		return 2
	}
	if err := writePKI(*dir); err != nil {
		fmt.Fprintln(os.Stderr, "kkplane pki:", err)
		return 1
	}
	return 0
}

func writePKI(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, "virt-api.crt")); err == nil {
		return nil
	}
	frontCA, err := newCA("kubekloud-front-proxy-ca")
	if err != nil {
		return err
	}
	client, err := newLeaf(frontCA, "front-proxy-client", []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, nil, nil)
	if err != nil {
		return err
	}
	kvCA, err := newCA("kubekloud-kubevirt-ca")
	if err != nil {
		return err
	}
	serving, err := newLeaf(kvCA, "virt-api.kubevirt.svc", []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		[]string{"virt-api.kubevirt.svc", "virt-api.kubevirt.svc.cluster.local", "localhost"},
		[]net.IP{net.ParseIP("127.0.0.1")})
	if err != nil {
		return err
	}
	for name, kp := range map[string]keyPair{"front-proxy-ca": frontCA, "front-proxy-client": client, "kubevirt-ca": kvCA, "virt-api": serving} {
		if err := writePair(dir, name, kp); err != nil {
			return err
		}
	}
	return nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	return n
}

func newCA(cn string) (keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return keyPair{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return keyPair{}, err
	}
	cert, err := x509.ParseCertificate(der)
	return keyPair{cert, key}, err
}

func newLeaf(ca keyPair, cn string, usage []x509.ExtKeyUsage, dns []string, ips []net.IP) (keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return keyPair{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  usage,
		DNSNames:     dns,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return keyPair{}, err
	}
	cert, err := x509.ParseCertificate(der)
	return keyPair{cert, key}, err
}

func writePair(dir, name string, kp keyPair) error {
	keyDER, err := x509.MarshalPKCS8PrivateKey(kp.key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: kp.cert.Raw}), 0o644)
}
