// Command etcd is the etcd server, built from the same etcd release the
// kube-apiserver in this module links as its client.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
