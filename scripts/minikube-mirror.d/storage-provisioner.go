// Command storage-provisioner is minikube's hostPath provisioner (the storage-provisioner addon)
// built against the client library of the minikube release it is for. minikube's own main starts
// the provision controller with leader election on an Endpoints lock, which current client-go has
// removed ("endpoints lock is removed, migrate to leases"): built from source today it crash-loops.
// The addon runs one pod per cluster, so this main turns leader election off; the provisioner, its
// name (k8s.io/minikube-hostpath) and its directory are minikube's.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"k8s.io/minikube/pkg/storage"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v6/controller"
)

const (
	provisionerName = "k8s.io/minikube-hostpath"
	pvDir           = "/tmp/hostpath-provisioner"
)

func main() {
	klog.InitFlags(nil)
	flag.Parse()
	if err := os.MkdirAll("/tmp", 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "creating /tmp:", err)
		os.Exit(1)
	}
	config, err := rest.InClusterConfig()
	if err != nil {
		klog.Exit(err)
	}
	clientset, err := kubernetes.NewForConfig(config)
	if err != nil {
		klog.Exit(err)
	}
	version, err := clientset.Discovery().ServerVersion()
	if err != nil {
		klog.Exitf("server version: %v", err)
	}
	pc := controller.NewProvisionController(clientset, provisionerName, storage.NewHostPathProvisioner(pvDir),
		version.GitVersion, controller.LeaderElection(false))
	klog.Info("storage provisioner started (leader election off: one pod per cluster)")
	pc.Run(context.Background())
}
