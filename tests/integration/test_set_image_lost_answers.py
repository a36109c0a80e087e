"""A write whose answer is lost: the real API server commits a PATCH, and a gateway in front of it (a real
HTTP server on loopback, as a load balancer would) loses the answer - a 504, a page that is not JSON, a dropped
connection. set_image must decide from what the server holds, never say "nothing was changed" when something
was, and undo the targets it wrote when another one was not written."""

import base64
import http.client
import http.server
import ssl
import threading
from urllib.parse import urlparse

import pytest
import yaml

from test_set_image_support import APP, create, deployment, images, read, run_module

pytestmark = pytest.mark.integration


class Gateway(http.server.ThreadingHTTPServer):
    """Plain HTTP on loopback in front of the API server, which it reaches with the admin's certificate.

    `on_write(handler, forward)` decides the answer of each PATCH that is not a dry run (forward() sends it
    upstream and returns (status, headers, body)); every other request passes through. After `hang_up`, every
    request but writes is answered 503, as a gateway whose backend is gone."""

    daemon_threads = True

    def __init__(self, kubeconfig_path, tmp_path, on_write):
        with open(kubeconfig_path) as handle:
            config = yaml.safe_load(handle)
        cluster, user = config["clusters"][0]["cluster"], config["users"][0]["user"]
        upstream = urlparse(cluster["server"])
        self.upstream = (upstream.hostname, upstream.port)
        files = {}
        for field in ("certificate-authority-data", "client-certificate-data", "client-key-data"):
            files[field] = tmp_path / field
            files[field].write_bytes(base64.b64decode(cluster.get(field) or user.get(field)))
        self.context = ssl.create_default_context(cafile=str(files["certificate-authority-data"]))
        self.context.load_cert_chain(str(files["client-certificate-data"]), str(files["client-key-data"]))
        self.on_write = on_write
        self.writes = []
        self.hung_up = False
        super(Gateway, self).__init__(("127.0.0.1", 0), _GatewayHandler)

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server_address[1]


class _GatewayHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _forward(self, body):
        conn = http.client.HTTPSConnection(*self.server.upstream, context=self.server.context, timeout=60)
        headers = dict((k, v) for k, v in self.headers.items() if k.lower() not in ("host", "connection"))
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        answer = (resp.status, [(k, v) for k, v in resp.getheaders()
                                if k.lower() not in ("connection", "transfer-encoding", "content-length")],
                  resp.read())
        conn.close()
        return answer

    def answer(self, status, headers, body):
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) or None
        is_write = self.command == "PATCH" and "dryRun=All" not in self.path
        if is_write:
            self.server.writes.append(self.path.split("?")[0].rsplit("/", 1)[-1])
            self.server.on_write(self, lambda: self._forward(body))
        elif self.server.hung_up:
            self.answer(503, [("Content-Type", "text/plain")], b"no healthy upstream")
        else:
            self.answer(*self._forward(body))

    do_GET = do_PATCH = do_POST = do_PUT = do_DELETE = _handle


def gateway_answers_504_after_commit(handler, forward):
    forward()
    handler.answer(504, [("Content-Type", "text/plain")], b"upstream request timeout")


def gateway_answers_a_page_after_commit(handler, forward):
    forward()
    handler.answer(200, [("Content-Type", "text/html")], b"<html><body>Request accepted</body></html>")


def gateway_hangs_up_after_commit(handler, forward):
    forward()
    handler.server.hung_up = True
    handler.close_connection = True
    handler.connection.shutdown(2)


@pytest.fixture()
def gateway(kubeconfig, tmp_path):
    servers = []

    def start(on_write):
        server = Gateway(kubeconfig, tmp_path, on_write)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def through(gateway_server, tmp_path):
    """A kubeconfig of the gateway (it authenticates upstream itself)."""
    path = tmp_path / "gateway-kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "gw",
        "clusters": [{"name": "gw", "cluster": {"server": gateway_server.url}}],
        "users": [{"name": "anyone", "user": {}}],
        "contexts": [{"name": "gw", "context": {"cluster": "gw", "user": "anyone"}}]}))
    return str(path)


def set_image(tmp_path, kubeconfig_path, namespace, names):
    result, _ = run_module(tmp_path, kubeconfig_path, "set_image", {
        "name": names, "namespace": namespace, "containers": {"web": APP + ":2"}, "wait": False})
    return result


@pytest.mark.parametrize("lose_answer", [gateway_answers_504_after_commit, gateway_answers_a_page_after_commit])
def test_a_committed_write_whose_answer_is_lost_is_reported_as_applied(tmp_path, kubeconfig, apps_v1, namespace,
                                                                       gateway, lose_answer):
    create(apps_v1, kubeconfig, namespace, deployment("web"))
    server = gateway(lose_answer)

    result = set_image(tmp_path, through(server, tmp_path), namespace, "web")

    assert server.writes == ["web"]
    assert images(read(apps_v1, namespace, "Deployment", "web")) == {"web": APP + ":2"}
    assert result["changed"] is True and not result.get("failed"), result
    assert result["targets"][0]["images"] == {"web": APP + ":2"}
    assert result["targets"][0]["previous_images"] == {"web": APP + ":1"}
    assert any("re-reading it showed the server had applied it" in str(w) for w in result.get("warnings", [])), result


def test_a_write_of_unknown_outcome_never_says_nothing_was_changed(tmp_path, kubeconfig, apps_v1, namespace, gateway):
    create(apps_v1, kubeconfig, namespace, deployment("web"))
    server = gateway(gateway_hangs_up_after_commit)

    result = set_image(tmp_path, through(server, tmp_path), namespace, "web")

    assert images(read(apps_v1, namespace, "Deployment", "web")) == {"web": APP + ":2"}
    assert result["failed"] is True and result["changed"] is True, result
    assert "nothing was changed" not in result["msg"]
    assert "whether the server applied the patch is unknown" in result["msg"]
    assert "Deployment %s/web may hold the new images" % namespace in result["msg"]


def test_a_target_whose_write_was_not_applied_has_the_written_ones_undone(tmp_path, kubeconfig, apps_v1, namespace,
                                                                          gateway):
    """b's write never reaches the server and the gateway answers a page that is not JSON: a's write is undone."""
    for name in ("a", "b"):
        create(apps_v1, kubeconfig, namespace, deployment(name))

    def drop_b(handler, forward):
        if "/deployments/b" in handler.path:
            handler.answer(200, [("Content-Type", "text/html")], b"<html>maintenance</html>")
        else:
            handler.answer(*forward())

    server = gateway(drop_b)
    result = set_image(tmp_path, through(server, tmp_path), namespace, ["a", "b"])

    assert sorted(server.writes) == ["a", "a", "b"]     # a written, b lost, a restored
    assert images(read(apps_v1, namespace, "Deployment", "a")) == {"web": APP + ":1"}
    assert images(read(apps_v1, namespace, "Deployment", "b")) == {"web": APP + ":1"}
    assert result["failed"] is True
    assert "Deployment %s/b: patch failed: unexpected error (JSONDecodeError)" % namespace in result["msg"]
    assert "(re-read: the server did not apply it)" in result["msg"]
    assert "Restored the previous images of Deployment %s/a" % namespace in result["msg"], result["msg"]
