# shellcheck shell=bash
# dockerd (placeholder, implemented by the docker/registry work)
docker_running() { false; }
docker_up() { die "docker_up not implemented yet"; }
docker_down() { :; }
