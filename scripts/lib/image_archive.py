#!/usr/bin/env python3
"""Write a container image as a docker-archive (what `docker save` writes and `docker load` reads)
from uncompressed layer tarballs, without a Docker engine. The same layers and settings give the
same bytes, so an unchanged recipe gives an unchanged image ID.

  image_archive.py -o OUT.tar --tag registry.k8s.io/etcd:3.6.6-0 --layer rootfs.tar \\
      [--entrypoint '["/usr/local/bin/etcd"]'] [--cmd '[]'] [--env PATH=/bin] [--user 65535:65535] \\
      [--workdir /] [--stop-signal SIGRTMIN+3] [--expose 22/tcp] [--label k=v]
"""

import argparse
import hashlib
import io
import json
import os
import platform
import tarfile

ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def image_config(args, diff_ids):
    config = {}
    if args.entrypoint is not None:
        config["Entrypoint"] = json.loads(args.entrypoint)
    if args.cmd is not None:
        config["Cmd"] = json.loads(args.cmd)
    if args.env:
        config["Env"] = args.env
    if args.user:
        config["User"] = args.user
    if args.workdir:
        config["WorkingDir"] = args.workdir
    if args.stop_signal:
        config["StopSignal"] = args.stop_signal
    if args.expose:
        config["ExposedPorts"] = {port: {} for port in args.expose}
    if args.label:
        config["Labels"] = dict(label.split("=", 1) for label in args.label)
    return {
        "architecture": ARCH,
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + d for d in diff_ids]},
    }


def add_bytes(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--tag", action="append", required=True, help="repository:tag (repeatable)")
    parser.add_argument("--layer", action="append", required=True, help="uncompressed layer tarball, base first")
    parser.add_argument("--entrypoint")
    parser.add_argument("--cmd")
    parser.add_argument("--env", action="append", default=[])
    parser.add_argument("--user")
    parser.add_argument("--workdir")
    parser.add_argument("--stop-signal")
    parser.add_argument("--expose", action="append", default=[])
    parser.add_argument("--label", action="append", default=[])
    args = parser.parse_args()

    diff_ids = [sha256_file(layer) for layer in args.layer]
    config = json.dumps(image_config(args, diff_ids), sort_keys=True, separators=(",", ":")).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = [{"Config": config_name, "RepoTags": args.tag, "Layers": [d + "/layer.tar" for d in diff_ids]}]

    tmp = args.output + ".tmp"
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        for layer, diff_id in zip(args.layer, diff_ids):
            info = tar.gettarinfo(layer, arcname=diff_id + "/layer.tar")
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            with open(layer, "rb") as f:
                tar.addfile(info, f)
        add_bytes(tar, config_name, config)
        add_bytes(tar, "manifest.json", json.dumps(manifest).encode())
    os.replace(tmp, args.output)
    print(config_name[:-5])


if __name__ == "__main__":
    main()
