# shellcheck shell=bash
# The Node base image kubedev/node-base:bookworm, built locally because no image can be pulled here:
# a debootstrapped Debian with nodejs and npm (recipe in baseimage-rootfs.sh), imported into docker.
# The rootfs tarball is cached per machine, so after docker's data is wiped a re-import takes seconds.
# Builds FROM it reach the npm registry with `docker build --network host`; the image trusts the
# machine's local CAs (see baseimage-rootfs.sh), so no npm or CA build argument is needed.
# The image stays when the environment goes down: it is a cache, so baseimage_down has nothing to do.
# shellcheck source=baseimage-rootfs.sh
source "$(dirname "${BASH_SOURCE[0]}")/baseimage-rootfs.sh"

BASEIMAGE_TAR=$CACHE/node-base-bookworm.tar
BASEIMAGE_RECIPE_LABEL=dev.kubedev.recipe

baseimage_recipe() { sha256sum "$(dirname "${BASH_SOURCE[0]}")/baseimage-rootfs.sh" | cut -c1-16; }

# present, and built from the current recipe (a changed recipe makes up rebuild it)
baseimage_running() {
  local label
  label=$(docker image inspect --format "{{index .Config.Labels \"$BASEIMAGE_RECIPE_LABEL\"}}" "$BASE_IMAGE" 2>/dev/null) &&
    [[ $label == "$(baseimage_recipe)" ]]
}

baseimage_up() {
  local recipe lock
  recipe=$(baseimage_recipe)
  docker info >/dev/null 2>&1 || die "base image: docker does not answer (the docker part starts it)"
  exec {lock}>"$CACHE/node-base-bookworm.lock"
  flock "$lock"   # two checkouts on one machine build it once
  if [[ ! -f $BASEIMAGE_TAR || $(cat "$BASEIMAGE_TAR.recipe" 2>/dev/null) != "$recipe" ]]; then
    baseimage_build_rootfs_tar "$BASEIMAGE_TAR"
    echo "$recipe" > "$BASEIMAGE_TAR.recipe"
  fi
  say "base image: importing $BASEIMAGE_TAR as $BASE_IMAGE"
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change "LABEL $BASEIMAGE_RECIPE_LABEL=$recipe" \
    --change 'CMD ["node"]' \
    "$BASEIMAGE_TAR" "$BASE_IMAGE" >/dev/null || die "docker import of $BASEIMAGE_TAR failed"
  exec {lock}>&-
}

baseimage_down() { return 0; }

# baseimage_archive : prints the path of a docker-archive of the base image (what `docker save` writes),
# made from the cached rootfs without a Docker engine: for engines that cannot pull it, such as
# minikube's on this machine (the image role's image_base_image_archive).
baseimage_archive() {
  local recipe out=$CACHE/node-base-bookworm.image.tar lock
  recipe=$(baseimage_recipe)
  exec {lock}>"$CACHE/node-base-bookworm.lock"
  flock "$lock"
  if [[ ! -f $BASEIMAGE_TAR || $(cat "$BASEIMAGE_TAR.recipe" 2>/dev/null) != "$recipe" ]]; then
    baseimage_build_rootfs_tar "$BASEIMAGE_TAR"
    echo "$recipe" > "$BASEIMAGE_TAR.recipe"
  fi
  if [[ ! -f $out || $(cat "$out.recipe" 2>/dev/null) != "$recipe" ]]; then
    python3 "$(dirname "${BASH_SOURCE[0]}")/../lib/image_archive.py" -o "$out" --tag "$BASE_IMAGE" --layer "$BASEIMAGE_TAR" \
      --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --env LANG=C.UTF-8 \
      --label "$BASEIMAGE_RECIPE_LABEL=$recipe" --cmd '["node"]' >/dev/null || die "writing $out failed"
    echo "$recipe" > "$out.recipe"
  fi
  exec {lock}>&-
  echo "$out"
}
