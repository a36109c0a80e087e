"""Issue 26 (2): scripts/site decides between the upstream sites and local mirrors the way the run reaches the
internet: through HTTPS_PROXY/https_proxy unless NO_PROXY names the site, and through apt's own proxy. A real
HTTP CONNECT proxy on 127.0.0.1 tunnels to a real TLS server that holds a certificate for the release sites' names
from a CA made for the test (SSL_CERT_FILE makes it the only one trusted, so no real site can answer instead). No
test environment needed: the decision script (scripts/lib/internet.py, what scripts/site runs) against sockets."""

import os
import pathlib
import socket
import ssl
import subprocess
import threading

import pytest

from conftest import ROOT, pipe

SCRIPT = pathlib.Path(os.environ.get("KUBEDEV_INTERNET_CHECK", ROOT / "scripts" / "lib" / "internet.py"))
SITES = ["download.docker.com", "dl.k8s.io", "storage.googleapis.com"]


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """A CA, and a server certificate it signed for the release sites' names."""
    d = tmp_path_factory.mktemp("certs")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", d / "ca.key", "-out", d / "ca.pem",
            "-days", "2", "-subj", "/CN=kubedev test CA")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", d / "site.key", "-out", d / "site.csr",
            "-subj", "/CN=download.docker.com")
    (d / "ext").write_text("subjectAltName=" + ",".join(f"DNS:{site}" for site in SITES) + "\n")
    openssl("x509", "-req", "-in", d / "site.csr", "-CA", d / "ca.pem", "-CAkey", d / "ca.key", "-CAcreateserial",
            "-out", d / "site.pem", "-days", "2", "-extfile", d / "ext")
    return d


def serve(sock, handle):
    def loop():
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()


def listener():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    return sock


@pytest.fixture(scope="module")
def tls_site(certs):
    """A TLS server that completes the handshake as any of the release sites: its port."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs / "site.pem", certs / "site.key")
    sock = listener()

    def handle(conn):
        try:
            with context.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)
        except OSError:
            pass
    serve(sock, handle)
    yield sock.getsockname()[1]
    sock.close()


class ConnectProxy:
    """An HTTP proxy that answers CONNECT by tunnelling to the local TLS site, and notes what it was asked."""

    def __init__(self, site_port):
        self.site_port, self.asked = site_port, []
        self.sock = listener()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        serve(self.sock, self.handle)

    def handle(self, conn):
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            method, target = head.split(b"\r\n")[0].decode().split()[:2]
            self.asked.append(f"{method} {target}")
            if method != "CONNECT":
                conn.sendall(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
                return
            upstream = socket.create_connection(("127.0.0.1", self.site_port))
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            threading.Thread(target=pipe, args=(upstream, conn), daemon=True).start()
            pipe(conn, upstream)


@pytest.fixture()
def proxy(tls_site):
    p = ConnectProxy(tls_site)
    yield p
    p.sock.close()


def decide(certs, tmp_path, env=(), apt_conf=""):
    """Run the decision as scripts/site does, with only the given proxy settings: (exit code, what it said)."""
    # only this file: not the machine's /etc/apt/apt.conf.d, whatever proxy that may name
    (tmp_path / "no-parts").mkdir(exist_ok=True)
    (tmp_path / "apt.conf").write_text(f'Dir::Etc::Parts "{tmp_path}/no-parts";\n' + apt_conf)
    clean = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    clean.update({"SSL_CERT_FILE": str(certs / "ca.pem"), "APT_CONFIG": str(tmp_path / "apt.conf")})
    clean.update(env)
    proc = subprocess.run(["python3", str(SCRIPT), *SITES], env=clean, capture_output=True, text=True, timeout=120)
    return proc.returncode, " ".join((proc.stdout + proc.stderr).split())


def test_https_proxy_is_how_the_internet_is_reached(certs, tmp_path, proxy):
    rc, said = decide(certs, tmp_path, {"HTTPS_PROXY": proxy.url})
    assert rc == 0, said
    assert proxy.asked[:1] == ["CONNECT download.docker.com:443"], proxy.asked
    assert f"download.docker.com answered through the proxy {proxy.url}" in said, said
    assert "HTTPS_PROXY" in said and "using the upstream sites" in said, said


def test_lowercase_https_proxy_too(certs, tmp_path, proxy):
    rc, said = decide(certs, tmp_path, {"https_proxy": proxy.url})
    assert rc == 0 and proxy.asked, said
    assert "from https_proxy" in said, said


def test_no_proxy_sends_the_named_sites_direct(certs, tmp_path, proxy):
    """NO_PROXY names every site (one as a domain suffix): nothing goes to the proxy, the direct tries do not
    reach the test's site, so the answer is: no internet, with the reason for each site."""
    rc, said = decide(certs, tmp_path, {"HTTPS_PROXY": proxy.url,
                                        "NO_PROXY": "localhost,.docker.com,dl.k8s.io,storage.googleapis.com"})
    assert rc == 1, said
    assert proxy.asked == [], proxy.asked
    assert "download.docker.com did not answer directly (as curl/get_url (no_proxy names download.docker.com)" in said
    assert "no internet access, so local mirrors" in said, said


def test_no_proxy_for_one_site_leaves_the_others_on_the_proxy(certs, tmp_path, proxy):
    rc, said = decide(certs, tmp_path, {"HTTPS_PROXY": proxy.url, "no_proxy": "download.docker.com"})
    assert rc == 0, said
    assert proxy.asked[:1] == ["CONNECT dl.k8s.io:443"], proxy.asked
    assert "dl.k8s.io answered through the proxy" in said, said


def test_apts_configured_proxy_counts(certs, tmp_path, proxy):
    """No proxy in the environment, one in apt's configuration (as /etc/apt/apt.conf.d would have it)."""
    rc, said = decide(certs, tmp_path, apt_conf=f'Acquire::https::Proxy "{proxy.url}";\n')
    assert rc == 0, said
    assert proxy.asked[:1] == ["CONNECT download.docker.com:443"], proxy.asked
    assert "as apt's Acquire::https::Proxy reaches it" in said, said


def test_apts_http_proxy_serves_https_when_no_https_one_is_set(certs, tmp_path, proxy):
    rc, said = decide(certs, tmp_path, apt_conf=f'Acquire::http::Proxy "{proxy.url}";\n')
    assert rc == 0, said
    assert "as apt's Acquire::http::Proxy reaches it" in said, said


def test_a_proxy_that_does_not_answer_means_no_internet_and_says_why(certs, tmp_path):
    closed = listener()
    url = f"http://127.0.0.1:{closed.getsockname()[1]}"
    closed.close()
    rc, said = decide(certs, tmp_path, {"HTTPS_PROXY": url})
    assert rc == 1, said
    assert f"download.docker.com did not answer through the proxy {url}" in said, said
    assert "Connection refused" in said, said


def test_a_site_with_a_certificate_nobody_trusts_is_no_answer(tmp_path, proxy, certs):
    """The handshake verifies the certificate: a proxy that answers is not enough."""
    rc, said = decide(certs, tmp_path, {"HTTPS_PROXY": proxy.url, "SSL_CERT_FILE": "/dev/null"})
    assert rc == 1 and proxy.asked, said
    assert "CERTIFICATE_VERIFY_FAILED" in said, said
