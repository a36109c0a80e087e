# shellcheck shell=bash
# clusterd (placeholder, implemented by the cluster/registry work)
cluster_running() { false; }
cluster_up() { die "cluster_up not implemented yet"; }
cluster_down() { :; }
