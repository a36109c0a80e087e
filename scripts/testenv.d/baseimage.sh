# shellcheck shell=bash
# baseimaged (placeholder, implemented by the baseimage/registry work)
baseimage_running() { false; }
baseimage_up() { die "baseimage_up not implemented yet"; }
baseimage_down() { :; }
