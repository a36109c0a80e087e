"""The image role's client of the app directory and the Docker engine: what a release asks and does, one script run
each, without a module start-up (`ansible.builtin.script` sends one file, so the rules of the build context, which
both the image's name and the build need, live here once).

docker_engine.py inputs APP_DIR DOCKERFILE [--no-git]
    Inspects the app directory: {"exists", "dockerfile", "package" (package.json or null), "sha256", "files",
    "commit", "dirty"}. sha256 covers the relative path, the executable bit and the content of every file a Docker
    build would send (the build context: .dockerignore as Docker reads it, `**`, `*`, `?`, `[...]`, `!` exceptions,
    the last matching line decides; the Dockerfile and .dockerignore always count). The role names the image after
    it, so an unchanged directory never rebuilds and any edit (server.js, the lockfile, the Dockerfile) does. commit
    is the last git commit that touched the directory ("" outside git or with --no-git); dirty says whether the
    directory has uncommitted changes.

docker_engine.py find [--base REFERENCE] [--content VERSION INPUTS_JSON] [--registry HOST[:PORT] [--manifests-of PATH]]
                      REPOSITORY [TAG ...]
    Whether the engine answers (GET /_ping) and which images these references name now, each asked by name (GET
    /images/REFERENCE/json, as `docker image inspect`; a list of all images costs the engine time for every image it
    has): the base image, REPOSITORY:TAG for each TAG and, with --content, the content tag REPOSITORY:VERSION-<the
    first 12 hex of the sha256 of INPUTS_JSON with "base" set to the base image's ID ('' without --base)>. The image
    role works out the same digest (image__digest: to_json(sort_keys=True) | hash('sha256')); were they ever to
    differ, the build would only not be found here, and docker_image would look for it. A --base the engine lacks
    leaves the content tag unknown (''): its ID is part of it.
    Prints {"can_talk_to_docker": bool, "host": DOCKER_HOST used, "msg": why not, "content_tag": the tag worked out,
    "images": [{"Id", "RepoTags", "RepoDigests"}]}, each image once, without the references that name nothing: the
    fields of community.docker.docker_host_info that the role reads, and RepoDigests (where each image was pushed).

    With --registry, the same run asks the registry the image is pushed to (one script run a release, where each
    costs ~0.1 s): its API version check from this host (GET /v2/), as Docker reaches an insecure registry: https
    first (certificate not checked), then http when https got no HTTP answer at all. "registry": {"https": {"status",
    "reason"}, "http": {"status", "reason"} or null}; status is the HTTP status, or -1 with the reason there was none
    ("Connection refused", "[SSL: WRONG_VERSION_NUMBER] wrong version number", "timed out"). With --manifests-of
    PATH (the repository's path in the registry), when the check answered 200 (no login wanted) and the engine has
    the content tag's image, also which manifest the content tag and each TAG name there (HEAD
    /v2/PATH/manifests/TAG, its Docker-Content-Digest): "registry": {..., "manifests": {TAG: "sha256:..." or null
    when the registry has no such tag or did not say}}. The registry is asked even when the engine is not.

docker_engine.py plan SPEC_JSON
    `inputs` and `find` in one run, as the role's plan asks them (a script run costs ~0.1 s). SPEC is {"app_dir",
    "dockerfile", "git": whether to look for the commit, "name", "version": the role's own ("" takes package.json's),
    "registry": where the image goes ("" for none), "base": find's --base ("" for none), "content": whether to work
    out the content tag, "inputs": the build inputs but the context (the role's image__build_settings),
    "ask_registry": find's --registry ("" for none), "manifests": whether to ask it for the tags' manifests}.
    Prints find's answer, with "app": what `inputs` found, and the names the role gives the image: "name" (SPEC's, or
    package.json's name without a leading "@", in lower case), "version" (SPEC's, or package.json's version with each
    character Docker refuses in a tag made "-", at most 100 of them), "commit_tag" (the commit, "-dirty" appended
    while the directory has uncommitted changes; "" without one) and "repository" (registry/name). The engine is
    asked for the content, version and commit tags only when both the name and the version are known.

docker_engine.py tag [--push] IMAGE REPOSITORY TAG ...
    Tags IMAGE as REPOSITORY:TAG for each TAG (POST /images/IMAGE/tag) and, with --push, pushes each of them (POST
    /images/REPOSITORY:TAG/push, as `docker tag` and `docker push` do) to a registry that wants no login. Prints
    {"can_talk_to_docker": bool, "host", "msg": why the first failure failed, "tags": {TAG: {"digest": the
    manifest digest the registry stores (null without --push), "layers_pushed": layers that went up}}}.

docker_engine.py build [--push] [--dockerfile FILE] [--args JSON] [--labels JSON] [--network MODE] CONTEXT REPOSITORY TAG
                       [MORE_TAG ...]
    Builds CONTEXT as REPOSITORY:TAG unless the engine has that tag already (POST /build: the classic builder, as
    `docker build` without BuildKit; the base image is not pulled; intermediate containers are removed, a failed
    step's too), then with --push pushes it (as `docker push`, to a registry that wants no login). Then, as `tag`
    does, tags the image REPOSITORY:MORE_TAG for each MORE_TAG (and pushes those): a release's version and commit
    tags cost no script run of their own. The context sent is the one `inputs` digests, owned by root as the CLI
    sends it. Prints {"can_talk_to_docker", "host", "msg": why it failed, "build": {"built": whether a build ran and
    succeeded, "id": the image's ID, "sha256": the digest of the context sent (as `inputs`'s), "digest": the
    manifest digest the registry stores (null without --push), "layers_pushed", and on a failed build "error": the
    engine's words and "failed_step": the step it stopped at ("Step 3/9 : RUN ...") and the lines it printed},
    "tags": `tag`'s answer for the MORE_TAGs}.

The engine is the one the Docker CLI would use: DOCKER_HOST (unix:///var/run/docker.sock when unset), with TLS
when DOCKER_TLS_VERIFY (verify against DOCKER_CERT_PATH/ca.pem, client cert.pem/key.pem) or DOCKER_TLS (no
verification) is set, as minikube's docker-env sets them. Another scheme (ssh://, npipe://) prints
{"unsupported": true} (and the registry's answer), and the role asks community.docker's modules, which know them.
"""

import hashlib
import json
import os
import re
import socket
import stat
import subprocess
import sys
import urllib.parse

# http.client, ssl, urllib.request and tarfile are imported where they are used: `inputs` runs on every release and
# needs none of them (~50 ms of imports).

TIMEOUT = 30
# The registry's answer is a check before the build: a host that drops packets fails it sooner.
REGISTRY_TIMEOUT = 10
# "[Errno 111] Connection refused" -> "Connection refused"; "... (_ssl.c:1000)" -> "..."
NOISE = re.compile(r"\[Errno -?[0-9]+\] | \(_ssl\.c:[0-9]+\)")
# The terminal colour codes the engine puts around what a build step wrote to stderr.
COLOUR = re.compile(r"\x1b\[[0-9;]*m")


# The app directory and its build context.

def _character_class(pattern, start):
    """The regex of a Go filepath.Match class '[...]' or '[^...]' opening at start, and the index after it."""
    i = start + 1
    negate = pattern.startswith("^", i)
    i += negate
    members = []
    while i < len(pattern) and pattern[i] != "]":
        escaped = pattern[i] == "\\" and i + 1 < len(pattern)
        i += escaped
        is_range = pattern[i] == "-" and not escaped and members and pattern[i + 1:i + 2] != "]"
        members.append("-" if is_range else re.escape(pattern[i]))
        i += 1
    if i >= len(pattern) or not members:
        raise ValueError(f"unterminated or empty character class in .dockerignore pattern {pattern!r}")
    return "(?!/)[" + ("^" if negate else "") + "".join(members) + "]", i + 1


def pattern_to_regex(pattern):
    """A .dockerignore pattern as a regex over '/'-separated relative paths: Go's filepath.Match (`*`, `?`,
    `[...]`, `\\` escapes) plus Docker's `**`, which matches any number of directories."""
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "[":
            regex, i = _character_class(pattern, i)
            out.append(regex)
            continue
        if c == "\\" and i + 1 < len(pattern):
            i += 1
            c = pattern[i]
            out.append(re.escape(c))
        elif c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z")


def read_rules(app_dir):
    """(regex, is an exception) per pattern of app_dir/.dockerignore, in file order."""
    rules = []
    path = os.path.join(app_dir, ".dockerignore")
    if not os.path.isfile(path):
        return rules
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("#"):    # a comment only with '#' in column 1, as Docker reads them
                continue
            line = line.strip()
            negate = line.startswith("!")
            line = line[1:].strip() if negate else line
            if not line:
                continue
            line = os.path.normpath(line).lstrip("/")
            if line == ".":             # Docker ignores the pattern '.'
                continue
            rules.append((pattern_to_regex(line), negate))
    return rules


def excluded(rel, rules):
    """Last matching rule wins; a rule matching a parent directory covers what is inside it."""
    parts = rel.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    verdict = False
    for regex, negate in rules:
        if any(regex.match(candidate) for candidate in candidates):
            verdict = not negate
    return verdict


def context_entries(app_dir, dockerfile):
    """(relative path, full path) of every entry of the build context, sorted: what the CLI sends but directories
    (a tar member each; their files carry the paths) and sockets (the CLI leaves them out too)."""
    rules = read_rules(app_dir)
    always = {dockerfile, ".dockerignore"}
    entries = []
    for root, dirs, files in os.walk(app_dir):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(root, name)
            rel = os.path.relpath(full, app_dir).replace(os.sep, "/")
            if rel not in always and excluded(rel, rules):
                continue
            if stat.S_ISSOCK(os.lstat(full).st_mode):
                continue
            entries.append((rel, full))
    return sorted(entries)


def read_entries(entries):
    """(relative path, full path, kind, content) of each entry, each file read once: the build hashes and sends the
    same bytes."""
    for rel, full in entries:
        mode = os.lstat(full).st_mode
        if stat.S_ISLNK(mode):
            kind, data = "link", os.readlink(full).encode()
        elif stat.S_ISREG(mode):
            kind = "exec" if os.access(full, os.X_OK) else "file"
            with open(full, "rb") as handle:
                data = handle.read()
        else:  # a FIFO or a device: the build's tar has its header, no content (and reading a FIFO would block)
            kind, data = "special", b""
        yield rel, full, kind, data


def digest(read):
    """{"sha256": of the read entries' paths, kinds and contents, "files": how many}."""
    total, files = hashlib.sha256(), 0
    for rel, _full, kind, data in read:
        total.update(f"{rel}\0{kind}\0{len(data)}\0".encode())
        total.update(data)
        files += 1
    return {"sha256": total.hexdigest(), "files": files}


def git_commit(app_dir):
    """(short hash of the last commit touching app_dir, uncommitted changes?) or ("", False)."""
    try:
        log = subprocess.run(["git", "log", "-1", "--format=%h", "--", "."], cwd=app_dir,
                             capture_output=True, text=True, check=True)
        # --no-optional-locks: never take the index lock other git users in the same checkout may need.
        status = subprocess.run(["git", "--no-optional-locks", "status", "--porcelain", "--", "."], cwd=app_dir,
                                capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "", False
    commit = log.stdout.strip()
    if not re.fullmatch(r"[0-9a-f]{4,40}", commit):
        return "", False
    return commit, bool(status.stdout.strip())


def read_package(app_dir):
    path = os.path.join(app_dir, "package.json")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as handle:
        try:
            return json.load(handle)
        except ValueError as err:
            sys.exit(f"docker_engine.py inputs: {path} is not valid JSON: {err}")


def inspect_app(args):
    """The inputs command (see the module's doc)."""
    with_git = "--no-git" not in args
    args = [arg for arg in args if arg != "--no-git"]
    if len(args) != 2:
        sys.exit(__doc__)
    app_dir, dockerfile = args
    result = {"exists": os.path.isdir(app_dir), "dockerfile": False, "package": None,
              "sha256": "", "files": 0, "commit": "", "dirty": False}
    if result["exists"]:
        result["dockerfile"] = os.path.isfile(os.path.join(app_dir, dockerfile))
        result["package"] = read_package(app_dir)
        try:
            result.update(digest(read_entries(context_entries(app_dir, dockerfile))))
        except ValueError as err:   # a pattern Docker would refuse too
            sys.exit(f"docker_engine.py inputs: {os.path.join(app_dir, '.dockerignore')}: {err}")
        if with_git:
            result["commit"], result["dirty"] = git_commit(app_dir)
    return result


# The engine.

def unix_connection(path):
    """HTTP over the engine's unix socket."""
    import http.client

    class UnixHTTPConnection(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(TIMEOUT)
            self.sock.connect(path)

    return UnixHTTPConnection("localhost", timeout=TIMEOUT)


def tls_context(verify):
    import ssl

    cert_path = os.environ.get("DOCKER_CERT_PATH") or os.path.expanduser("~/.docker")
    try:
        if verify:
            context = ssl.create_default_context(cafile=os.path.join(cert_path, "ca.pem"))
        else:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        cert, key = os.path.join(cert_path, "cert.pem"), os.path.join(cert_path, "key.pem")
        if os.path.exists(cert) and os.path.exists(key):
            context.load_cert_chain(cert, key)
    except OSError as error:  # ssl.SSLError is one too
        raise OSError("cannot use the TLS files in DOCKER_CERT_PATH=%s (%s)" % (cert_path, NOISE.sub("", str(error))))
    return context


def connection(docker_host):
    """The connection to the engine DOCKER_HOST names; None for a scheme this script does not speak."""
    import http.client

    url = urllib.parse.urlsplit(docker_host)
    if url.scheme == "unix":
        return unix_connection(url.path)
    if url.scheme in ("tcp", "http", "https"):
        verify = bool(os.environ.get("DOCKER_TLS_VERIFY"))
        if verify or os.environ.get("DOCKER_TLS") or url.scheme == "https":
            return http.client.HTTPSConnection(url.hostname, url.port or 2376, timeout=TIMEOUT,
                                               context=tls_context(verify))
        return http.client.HTTPConnection(url.hostname, url.port or 2375, timeout=TIMEOUT)
    return None


# A push to a registry that wants no login still needs the header: base64 of the empty credentials "{}".
NO_LOGIN = {"X-Registry-Auth": "e30="}


class NotFound(OSError):
    """The engine answered 404: no such image."""


def call(conn, method, path, headers=None, body=None):
    """The engine's answer to one request, as bytes; an error status raises with the engine's words."""
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    body = response.read()
    if response.status not in (200, 201):
        words = body[:300].decode("utf-8", "replace").strip()
        try:
            words = json.loads(body)["message"]   # the engine's errors are {"message": ...}
        except (ValueError, KeyError, TypeError):
            pass
        raise (NotFound if response.status == 404 else OSError)(
            "the engine answered HTTP %d to %s %s: %s" % (response.status, method, path.split("?")[0], words))
    return body


def messages(body):
    """The JSON messages of a streamed answer (a push's progress), in order."""
    text, decoder, position, out = body.decode("utf-8", "replace"), json.JSONDecoder(), 0, []
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            return out
        message, position = decoder.raw_decode(text, position)
        out.append(message)


def inspect(conn, ref):
    """The image ref names ({"Id", "RepoTags", "RepoDigests"}), or None when it names none."""
    try:
        image = json.loads(call(conn, "GET", "/images/%s/json" % urllib.parse.quote(ref, safe="/:@")))
    except NotFound:
        return None
    return {"Id": image["Id"], "RepoTags": image.get("RepoTags") or [], "RepoDigests": image.get("RepoDigests") or []}


def content_tag(version, inputs, base_id):
    """VERSION-<the first 12 hex of the sha256 of the inputs' JSON, keys sorted, base set>: as the role's image__digest
    (Ansible's to_json is json.dumps, ASCII-escaped, with the default separators)."""
    digest = hashlib.sha256(json.dumps(dict(inputs, base=base_id), sort_keys=True).encode()).hexdigest()
    return "%s-%s" % (version, digest[:12])


def find_options(args):
    """find's options: {"base", "content": (VERSION, inputs) or None, "registry", "manifests_of", "repository",
    "tags"}."""
    options = {"base": None, "content": None, "registry": None, "manifests_of": None}
    while args[:1] in (["--base"], ["--content"], ["--registry"], ["--manifests-of"]):
        if args[0] == "--content":
            options["content"], args = (args[1], json.loads(args[2])), args[3:]
        else:
            options[args[0][2:].replace("-", "_")], args = args[1], args[2:]
    options["repository"], options["tags"] = args[0], args[1:]
    return options


def plan_options(spec, result):
    """plan's names (see the module's doc), put into result with what `inputs` found; returns find's options."""
    app = inspect_app([spec["app_dir"], spec["dockerfile"]] + ([] if spec["git"] else ["--no-git"]))
    package = app["package"] if isinstance(app["package"], dict) else {}
    name = spec["name"] or re.sub(r"^@", "", text(package.get("name"))).lower()
    version = spec["version"] or re.sub(r"[^A-Za-z0-9_.-]", "-", text(package.get("version")))[:100]
    commit_tag = app["commit"] + ("-dirty" if app["dirty"] else "") if app["commit"] else ""
    repository = spec["registry"] + "/" + name if spec["registry"] else name
    result.update(app=app, name=name, version=version, commit_tag=commit_tag, repository=repository)
    named = bool(name and version)
    return {"base": spec["base"] or None, "repository": repository,
            "content": (version, dict(spec["inputs"], context=app["sha256"])) if named and spec["content"] else None,
            "registry": spec["ask_registry"] or None,
            "manifests_of": repository.split("/", 1)[-1] if spec["manifests"] else None,
            "tags": [tag for tag in (version, commit_tag) if tag] if named else []}


def text(value):
    """A package.json field as text (Jinja's `string`, as the role's templates took it), "" for a missing or null one."""
    return "" if value is None else str(value)


def find_images(conn, options):
    """The images the base, the content tag and the tags name (see the module's doc), and the content tag."""
    base, content, repository = options["base"], options["content"], options["repository"]
    found = {}
    base_image = inspect(conn, base) if base else None
    if base_image:
        found[base_image["Id"]] = base_image
    tag = content_tag(content[0], content[1], base_image["Id"] if base_image else "") if content and (
        base_image or not base) else ""
    for ref in ([repository + ":" + tag] if tag else []) + [repository + ":" + t for t in options["tags"]]:
        image = inspect(conn, ref)
        if image:
            found[image["Id"]] = image
    return {"content_tag": tag, "images": list(found.values())}


# The registry: its answers, as Docker reaches an insecure registry (127.0.0.0/8 is one by default).

def unverified_tls():
    """TLS without checking the certificate. No CA store is loaded: nothing is checked against one, and loading it
    costs ~15 ms a request."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def registry_status(url, tls):
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=REGISTRY_TIMEOUT, context=tls) as response:
            return {"status": response.status, "reason": ""}
    except urllib.error.HTTPError as error:  # an HTTP answer, only not a 2xx one (401: a login is wanted)
        return {"status": error.code, "reason": ""}
    except urllib.error.URLError as error:
        return {"status": -1, "reason": NOISE.sub("", str(error.reason))}
    except (socket.timeout, TimeoutError):
        return {"status": -1, "reason": "timed out"}
    except (OSError, ValueError) as error:  # a reset connection, a malformed answer, an invalid port
        return {"status": -1, "reason": NOISE.sub("", str(error)) or type(error).__name__}


# Every manifest type docker push writes: the registry answers with the digest of the one it stores.
MANIFEST_TYPES = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
])


def manifest_digest(base_url, path, tag, tls):
    import urllib.error
    import urllib.request

    request = urllib.request.Request("%s/v2/%s/manifests/%s" % (base_url, path, tag), method="HEAD",
                                     headers={"Accept": MANIFEST_TYPES})
    try:
        with urllib.request.urlopen(request, timeout=REGISTRY_TIMEOUT, context=tls) as response:
            return response.headers.get("Docker-Content-Digest")
    except (urllib.error.URLError, OSError, ValueError):  # no such tag (404), or no answer: unknown either way
        return None


def ask_registry(options, found):
    """The registry's answer (see the module's doc); found is find_images' answer, when the engine gave one."""
    host, tls = options["registry"], unverified_tls()
    https = registry_status("https://%s/v2/" % host, tls)
    http = registry_status("http://%s/v2/" % host, tls) if https["status"] == -1 else None
    answer = {"https": https, "http": http}
    tag = found.get("content_tag")
    built = tag and any(options["repository"] + ":" + tag in image["RepoTags"] for image in found.get("images", []))
    if options["manifests_of"] and built and (http or https)["status"] == 200:
        base_url = ("http://" if http else "https://") + host
        answer["manifests"] = {t: manifest_digest(base_url, options["manifests_of"], t, tls)
                               for t in [tag] + options["tags"]}
    return answer


def push(conn, repository, tag):
    """Pushes repository:tag; returns (manifest digest, layers that went up). The engine reports a failed push
    inside a 200 answer, as an error message in the stream."""
    digest, pushed = None, set()
    path = "/images/%s/push?tag=%s" % (urllib.parse.quote(repository, safe="/:"), urllib.parse.quote(tag))
    for message in messages(call(conn, "POST", path, NO_LOGIN)):
        if message.get("error"):
            raise OSError("pushing %s:%s failed: %s" % (repository, tag, message["error"]))
        if message.get("status") == "Pushed":
            pushed.add(message.get("id"))
        digest = (message.get("aux") or {}).get("Digest", digest)
    return digest, len(pushed)


def tag_images(conn, image, repository, tags, with_push, done):
    """Tags (and pushes) one tag after the other, recording each in done as it succeeds."""
    for tag in tags:
        query = urllib.parse.urlencode({"repo": repository, "tag": tag})
        call(conn, "POST", "/images/%s/tag?%s" % (urllib.parse.quote(image, safe=":"), query))
        digest, layers = push(conn, repository, tag) if with_push else (None, 0)
        done[tag] = {"digest": digest, "layers_pushed": layers}


def context_tar(read):
    """The build context as the CLI sends it: a tar of the read entries (read_entries), paths relative to the context,
    symlinks as links, owned by root."""
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel, full, _kind, data in read:
            info = tar.gettarinfo(full, arcname=rel)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if info.isreg():
                info.size = len(data)   # what was read, should the file have changed since it was stat'ed
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return buffer.getvalue()


def build_options(args):
    """build's options: {"push", "dockerfile", "args", "labels", "network", "context", "repository", "tag",
    "more_tags"}."""
    options = {"push": False, "dockerfile": "Dockerfile", "args": {}, "labels": {}, "network": ""}
    while args[:1] in (["--push"], ["--dockerfile"], ["--args"], ["--labels"], ["--network"]):
        if args[0] == "--push":
            options["push"], args = True, args[1:]
        elif args[0] in ("--args", "--labels"):
            options[args[0][2:]], args = json.loads(args[1]), args[2:]
        else:
            options[args[0][2:]], args = args[1], args[2:]
    options["context"], options["repository"], options["tag"], *options["more_tags"] = args
    return options


def failed_step(log):
    """The step a failed build stopped at and what it printed: the lines from the last "Step n/m :" on, less the
    builder's own ("---> ...", "Removing intermediate container ..."), and without the colour of what a step wrote to
    stderr."""
    out = []
    for line in (line.strip() for line in COLOUR.sub("", log).splitlines()):
        if re.match(r"^Step [0-9]+/[0-9]+ :", line):
            out = []
        if line and not re.match(r"^(---> |Removing intermediate container )", line):
            out.append(line)
    return out


def build(conn, options, result):
    """The build command (see the module's doc); fills result["build"] as it goes."""
    ref = options["repository"] + ":" + options["tag"]
    done = result["build"] = {"built": False, "id": "", "sha256": "", "digest": None, "layers_pushed": 0}
    result["tags"] = {}
    image = inspect(conn, ref)
    if image is None:
        read = list(read_entries(context_entries(options["context"], options["dockerfile"])))
        done["sha256"] = digest(read)["sha256"]
        # forcerm: a failed step's container goes too, so a failed build leaves nothing behind.
        query = {"t": ref, "dockerfile": options["dockerfile"], "rm": "1", "forcerm": "1", "pull": "0",
                 "buildargs": json.dumps(options["args"]), "labels": json.dumps(options["labels"])}
        if options["network"]:
            query["networkmode"] = options["network"]
        body = context_tar(read)
        if conn.sock is None:
            conn.connect()
        conn.sock.settimeout(None)   # a step may print nothing for minutes
        log, error = [], None
        for message in messages(call(conn, "POST", "/build?" + urllib.parse.urlencode(query),
                                     {"Content-Type": "application/x-tar"}, body)):
            log.append(message.get("stream") or "")
            error = error or message.get("error")
        if error:
            done["error"], done["failed_step"] = error.strip(), failed_step("".join(log))
            raise OSError("the build of %s failed: %s" % (ref, error.strip()))
        done["built"] = True
        image = inspect(conn, ref)
        if image is None:
            raise OSError("the engine reported a build but has no %s" % ref)
    done["id"] = image["Id"]
    if options["push"]:
        done["digest"], done["layers_pushed"] = push(conn, options["repository"], options["tag"])
    tag_images(conn, image["Id"], options["repository"], options["more_tags"], options["push"], result["tags"])


def main(argv):
    docker_host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    result = {"host": docker_host, "can_talk_to_docker": False, "msg": ""}
    command, args = argv[1], argv[2:]
    if command == "inputs":
        print(json.dumps(inspect_app(args)))
        return
    import http.client

    if command == "plan":
        options = plan_options(json.loads(args[0]), result)
    else:
        options = find_options(args) if command == "find" else build_options(args) if command == "build" else None
    asks = command in ("find", "plan")
    conn = None
    try:
        conn = connection(docker_host)
        if conn is None:
            result["unsupported"] = True
        else:
            call(conn, "GET", "/_ping")
            result["can_talk_to_docker"] = True
            if asks:
                result.update(find_images(conn, options))
            elif command == "build":
                build(conn, options, result)
            else:
                with_push = args[:1] == ["--push"]
                image, repository, *tags = args[1:] if with_push else args
                result["tags"] = {}
                tag_images(conn, image, repository, tags, with_push, result["tags"])
    except (OSError, ValueError, http.client.HTTPException) as error:  # refused, missing socket, TLS, bad answer
        result["msg"] = NOISE.sub("", str(error)) or type(error).__name__
    finally:
        if conn is not None:
            conn.close()
    if asks and options["registry"]:
        result["registry"] = ask_registry(options, result)
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv)
