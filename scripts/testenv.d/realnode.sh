# shellcheck shell=bash
# a real node (placeholder, implemented by the real-node work)
realnode_running() { false; }
realnode_up() { die "realnode_up not implemented yet"; }
realnode_down() { :; }
