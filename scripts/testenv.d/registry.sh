# shellcheck shell=bash
# registryd (placeholder, implemented by the registry/registry work)
registry_running() { false; }
registry_up() { die "registry_up not implemented yet"; }
registry_down() { :; }
