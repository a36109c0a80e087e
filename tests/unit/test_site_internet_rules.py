"""scripts/lib/internet.py's rules on plain data: which proxy curl/get_url and apt take for a site (the sockets
are tests/integration/test_site_internet.py's)."""

import importlib.util
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("internet", ROOT / "scripts" / "lib" / "internet.py")
internet = importlib.util.module_from_spec(spec)
spec.loader.exec_module(internet)

DUMP = '''Acquire::https::Proxy "http://apt-proxy:3142";
Acquire::https::Proxy::download.docker.com "DIRECT";
Acquire::http::Proxy "http://http-proxy:3128";
'''


def test_apt_config_dump_is_read():
    assert internet.parse_apt_config(DUMP) == {
        "Acquire::https::Proxy": "http://apt-proxy:3142",
        "Acquire::https::Proxy::download.docker.com": "DIRECT",
        "Acquire::http::Proxy": "http://http-proxy:3128",
    }


def test_no_proxy_rules_as_curls():
    env = {"NO_PROXY": "localhost, .docker.com,k8s.io:443"}
    assert internet.no_proxy_matches("download.docker.com", env)
    assert internet.no_proxy_matches("dl.k8s.io", env)
    assert not internet.no_proxy_matches("storage.googleapis.com", env)
    assert not internet.no_proxy_matches("notdocker.com", env)
    assert internet.no_proxy_matches("anything", {"no_proxy": "*"})
    # the lowercase one wins, as curl reads it
    assert not internet.no_proxy_matches("dl.k8s.io", {"no_proxy": "example.org", "NO_PROXY": "dl.k8s.io"})


def test_apts_proxy_per_host_then_https_then_http_then_the_environment():
    config = internet.parse_apt_config(DUMP)
    assert internet.apt_proxy("download.docker.com", config, {}) == ("apt's Acquire::https::Proxy::download.docker.com", None)
    assert internet.apt_proxy("dl.k8s.io", config, {}) == ("apt's Acquire::https::Proxy", "http://apt-proxy:3142")
    only_http = {"Acquire::http::Proxy": "http://http-proxy:3128"}
    assert internet.apt_proxy("dl.k8s.io", only_http, {}) == ("apt's Acquire::http::Proxy", "http://http-proxy:3128")
    assert internet.apt_proxy("dl.k8s.io", {}, {"HTTPS_PROXY": "http://env:8080"}) == ("apt, from HTTPS_PROXY", "http://env:8080")
    assert internet.apt_proxy("dl.k8s.io", {}, {}) == ("apt", None)


def test_routes_are_tried_once_each():
    env = {"https_proxy": "http://env:8080"}
    assert internet.routes("dl.k8s.io", env, {}) == [("curl/get_url, from https_proxy", "http://env:8080")]
    assert internet.routes("dl.k8s.io", {}, internet.parse_apt_config(DUMP)) == [
        ("curl/get_url", None), ("apt's Acquire::https::Proxy", "http://apt-proxy:3142")]


def test_proxy_passwords_are_not_printed():
    assert internet.redact("http://me:s3cret@proxy:3128") == "http://me:***@proxy:3128"
    assert internet.redact("http://proxy:3128") == "http://proxy:3128"
