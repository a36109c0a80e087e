#!/usr/bin/env python3
"""Does this machine reach the release sites, the way the run would reach them? scripts/site asks this to choose
between the upstream sites and local mirrors, and prints the answer and its reasons before anything changes.

    python3 scripts/lib/internet.py HOST...     exit 0: some HOST answers (the upstream path), 1: none does

The run reaches the internet two ways, and each is tried the way it goes:
  - curl and Ansible's get_url (kubectl, minikube): the environment's proxy, https_proxy or HTTPS_PROXY, unless
    no_proxy/NO_PROXY names the host (then, or without a proxy, directly);
  - apt (Docker's repository): apt's own proxy, `apt-config dump`'s Acquire::https::Proxy (per host, then for all
    hosts), else Acquire::http::Proxy, else the environment's, as apt's https method does. "DIRECT" means none.
"Answers" means a TLS handshake with the host, its certificate verified, through the proxy's CONNECT tunnel when
there is one. Every route gets a second try after a pause, so a brief outage does not decide it.
Only the standard library: it runs before scripts/setup has made .venv."""

import base64
import http.client
import os
import shlex
import socket
import ssl
import subprocess
import sys
import time
import urllib.parse

PORT = 443
TIMEOUT = 5
PAUSE = 2


def env_proxy(env):
    """The environment's https proxy as curl reads it: (variable name, URL), or (None, None)."""
    for name in ("https_proxy", "HTTPS_PROXY"):
        if env.get(name, "").strip():
            return name, env[name].strip()
    return None, None


def no_proxy_matches(host, env):
    """curl's no_proxy rule: '*', or a name that is the host or one of its parent domains (a leading dot ignored)."""
    value = env.get("no_proxy", env.get("NO_PROXY", ""))
    host = host.lower().rstrip(".")
    for entry in value.replace(" ", ",").split(","):
        entry = entry.strip().lower().lstrip(".")
        if entry.count(":") == 1:  # host:port (the port is not compared: the sites are all on 443)
            entry = entry.split(":")[0]
        if entry == "*" or (entry and (host == entry or host.endswith("." + entry))):
            return True
    return False


def parse_apt_config(dump):
    """`apt-config dump` lines (Acquire::https::Proxy "http://...";) as {key: value}."""
    config = {}
    for line in dump.splitlines():
        parts = shlex.split(line.strip().rstrip(";"))
        if len(parts) == 2:
            config[parts[0]] = parts[1]
    return config


def apt_proxy(host, config, env):
    """The proxy apt's https method uses for host: (where it came from, URL or None for a direct connection)."""
    for key in (f"Acquire::https::Proxy::{host}", "Acquire::https::Proxy",
                f"Acquire::http::Proxy::{host}", "Acquire::http::Proxy"):
        value = config.get(key, "").strip()
        if value:
            return (f"apt's {key}", None) if value.upper() == "DIRECT" else (f"apt's {key}", value)
    name, url = env_proxy(env)
    if url and not no_proxy_matches(host, env):
        return f"apt, from {name}", url
    return "apt", None


def routes(host, env, apt_config):
    """The distinct ways the run would reach host: [(who goes this way, proxy URL or None)]."""
    name, url = env_proxy(env)
    if url and not no_proxy_matches(host, env):
        curl = (f"curl/get_url, from {name}", url)
    elif url:
        curl = (f"curl/get_url (no_proxy names {host})", None)
    else:
        curl = ("curl/get_url", None)
    found = [curl]
    apt = apt_proxy(host, apt_config, env)
    if apt[1] != curl[1]:
        found.append(apt)
    return found


def handshake(host, proxy, timeout=TIMEOUT):
    """None when host answers a verified TLS handshake (through proxy's CONNECT when given), else why not."""
    context = ssl.create_default_context()
    try:
        if proxy is None:
            sock = socket.create_connection((host, PORT), timeout=timeout)
        else:
            url = urllib.parse.urlsplit(proxy if "://" in proxy else "http://" + proxy)
            if url.scheme not in ("http", ""):
                return f"proxy {proxy}: only http:// proxies are tried"
            sock = socket.create_connection((url.hostname, url.port or 80), timeout=timeout)
            request = f"CONNECT {host}:{PORT} HTTP/1.1\r\nHost: {host}:{PORT}\r\n"
            if url.username:
                creds = f"{urllib.parse.unquote(url.username)}:{urllib.parse.unquote(url.password or '')}"
                request += f"Proxy-Authorization: Basic {base64.b64encode(creds.encode()).decode()}\r\n"
            sock.sendall((request + "\r\n").encode())
            response = http.client.HTTPResponse(sock, method="CONNECT")
            response.begin()
            if response.status != 200:
                sock.close()
                return f"the proxy answered CONNECT with {response.status} {response.reason}"
        with context.wrap_socket(sock, server_hostname=host):
            return None
    except (OSError, http.client.HTTPException) as err:
        return str(err) or type(err).__name__


def read_apt_config():
    try:
        return parse_apt_config(subprocess.run(
            ["apt-config", "dump", "Acquire::https::Proxy", "Acquire::http::Proxy"],
            capture_output=True, text=True, timeout=10).stdout)
    except (OSError, subprocess.SubprocessError):
        return {}


def decide(hosts, env, apt_config, attempts=2, pause=PAUSE, timeout=TIMEOUT):
    """(True, why) when some host answers on some route, else (False, why): why is a list of lines."""
    failures = {}
    for attempt in range(attempts):
        if attempt:
            time.sleep(pause)
        for host in hosts:
            for who, proxy in routes(host, env, apt_config):
                problem = handshake(host, proxy, timeout)
                via = f"through the proxy {redact(proxy)}" if proxy else "directly"
                if problem is None:
                    return True, [f"{host} answered {via} (as {who} reaches it): using the upstream sites"]
                failures[(host, who, via)] = problem
    lines = [f"{host} did not answer {via} (as {who} reaches it): {problem}" for (host, who, via), problem in failures.items()]
    return False, lines + [f"tried {attempts} times, {pause} s apart: no internet access, so local mirrors"]


def redact(url):
    """A proxy URL without its password."""
    parts = urllib.parse.urlsplit(url if "://" in url else "http://" + url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def main(argv):
    if not argv:
        print("usage: internet.py HOST...", file=sys.stderr)
        return 2
    online, why = decide(argv, dict(os.environ), read_apt_config())
    for line in why:
        print(f"internet: {line}", file=sys.stderr)
    return 0 if online else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
