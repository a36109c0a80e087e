"""What the dev loop counts as a save (module_utils/dev_loop.py), on real files: an edit of what the build sends;
not a file .dockerignore leaves out, nor an editor's swap file. And the settings it takes from what site.yml
remembered, the variables winning over the facts site.yml found."""

import os

import yaml

from ansible_collections.kubedev.devloop.plugins.module_utils.dev_loop import is_editor_file, read_settings, signature


def app(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / ".dockerignore").write_text("node_modules\n*.log\n")
    (tmp_path / "server.js").write_text("// v1\n")
    return tmp_path


def test_an_edit_of_what_the_build_sends_is_a_save(tmp_path):
    before = signature(str(app(tmp_path)))
    (tmp_path / "server.js").write_text("// v2\n")
    assert signature(str(tmp_path)) != before


def test_a_touch_with_the_same_size_is_a_save_too(tmp_path):
    before = signature(str(app(tmp_path)))
    stat = os.stat(tmp_path / "server.js")
    os.utime(tmp_path / "server.js", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1000))
    assert signature(str(tmp_path)) != before


def test_ignored_files_and_editor_swap_files_are_not(tmp_path):
    before = signature(str(app(tmp_path)))
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "node_modules" / "x.js").write_text("x")
    (tmp_path / "debug.log").write_text("x")
    for name in (".server.js.swp", "server.js~", ".#server.js", "4913"):
        (tmp_path / name).write_text("x")
    assert signature(str(tmp_path)) == before
    assert is_editor_file("lib/.page.js.swx") and not is_editor_file("lib/page.js")


def test_settings_from_what_site_remembered(tmp_path):
    remembered = tmp_path / "kubedev_site.yml"
    remembered.write_text(yaml.safe_dump({
        "kubedev_app_dir": "/apps/hello", "kubedev_namespace": "dev", "kubedev_registry_password": "never read",
        "kubedev_site_kubeconfig": "/home/kubedev/.kube/config", "kubedev_site_context": "minikube",
        "kubedev_site_docker_env": {"DOCKER_HOST": "tcp://127.0.0.1:32772"}, "kubedev_context": "mine"}))
    settings = read_settings(str(remembered))
    assert settings == {"app_dir": "/apps/hello", "namespace": "dev", "kubeconfig": "/home/kubedev/.kube/config",
                        "context": "mine", "docker_env": {"DOCKER_HOST": "tcp://127.0.0.1:32772"}}
