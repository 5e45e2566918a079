// A small vCenter simulator for the netsafe.hypervisor tests.
//
// It wraps govmomi's simulator package (Debian's golang-github-vmware-govmomi-dev)
// so that the tests can choose the listen address, the TLS certificate and the
// one account that may log in. govmomi's own vcsim accepts any non-empty user
// and password, which would make a "wrong password" test impossible.
//
// Build (tests/setup.d/vcsim.sh does it):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o .tmp/bin/vcsim tests/vcenter/vcsim/main.go
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"log"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"github.com/vmware/govmomi/simulator"
)

func main() {
	listen := flag.String("l", "127.0.0.1:8989", "listen address host:port (port 0 = any free port)")
	certFile := flag.String("cert", "", "PEM certificate for TLS (default: the simulator's built-in localhost certificate)")
	keyFile := flag.String("key", "", "PEM private key for -cert")
	username := flag.String("username", "user", "the only user name that may log in")
	password := flag.String("password", "pass", "the only password that is accepted")
	readyFile := flag.String("ready-file", "", "write the server URL (without credentials) to this file once listening")
	flag.Parse()

	model := simulator.VPX()
	// A small inventory starts faster; the tests only log in and read "about".
	model.Datacenter = 1
	model.Cluster = 1
	model.ClusterHost = 1
	model.Host = 0
	model.Machine = 0
	model.Portgroup = 0
	if err := model.Create(); err != nil {
		log.Fatalf("vcsim: model: %v", err)
	}
	defer model.Remove()

	model.Service.Listen = &url.URL{Host: *listen, User: url.UserPassword(*username, *password)}
	model.Service.TLS = new(tls.Config)
	if *certFile != "" {
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			log.Fatalf("vcsim: certificate: %v", err)
		}
		model.Service.TLS.Certificates = []tls.Certificate{cert}
	}

	server := model.Service.NewServer()
	defer server.Close()

	u := *server.URL
	u.User = nil
	fmt.Println(u.String())
	if *readyFile != "" {
		tmp := *readyFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(u.String()+"\n"), 0o644); err != nil {
			log.Fatalf("vcsim: ready file: %v", err)
		}
		if err := os.Rename(tmp, *readyFile); err != nil {
			log.Fatalf("vcsim: ready file: %v", err)
		}
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
}
