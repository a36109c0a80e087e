module kubedev.local/runc-shim

go 1.24
