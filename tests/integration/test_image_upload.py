"""The image role's upload (image_app_upload: the app on the controller, the build on the target): each app gets a
directory of its own that mirrors it - a file removed from the app leaves the copy before the next build could send
it, a symlink stays a link - and a second run changes nothing. Real ansible-playbook runs on localhost, the plan
step asking the real dockerd."""

import json
import os
import shutil
import uuid

import pytest

from conftest import ROOT, run_playbook

pytestmark = pytest.mark.integration


def plan(tmp_path, app_dir, upload_dir, base_image):
    playbook = tmp_path / "upload.yml"
    playbook.write_text(json.dumps([{
        "hosts": "localhost", "connection": "local", "gather_facts": False,
        "tasks": [{"name": "plan with an upload", "ansible.builtin.include_role": {
            "name": "kubedev.devloop.image", "tasks_from": "plan"},
            "vars": {"image_app_dir": str(app_dir), "image_app_upload": True, "image_app_upload_dir": str(upload_dir),
                     "image_base_image": base_image, "image_tag_git_commit": False}}]}]))
    proc = run_playbook(playbook, extra_vars={}, env={"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default"})
    return proc.stdout


def test_each_app_is_mirrored_in_its_own_directory(tmp_path, base_image):
    upload_dir = tmp_path / "uploads"
    app = tmp_path / "one" / "app"
    shutil.copytree(ROOT / "sample_app", app, ignore=shutil.ignore_patterns("node_modules"))
    (app / ".env").write_text("SECRET=%s\n" % uuid.uuid4().hex)
    (app / "link.js").symlink_to("server.js")
    other = tmp_path / "two" / "app"
    shutil.copytree(ROOT / "sample_app", other, ignore=shutil.ignore_patterns("node_modules"))

    plan(tmp_path, app, upload_dir, base_image)
    plan(tmp_path, other, upload_dir, base_image)
    copies = sorted(upload_dir.iterdir())
    assert len(copies) == 2 and all(copy.name.startswith("app-") for copy in copies)
    mine = next(copy for copy in copies if (copy / ".env").exists())
    assert os.path.islink(mine / "link.js") and os.readlink(mine / "link.js") == "server.js"

    (app / ".env").unlink()
    (app / "test").rename(app / "spec")
    output = plan(tmp_path, app, upload_dir, base_image)
    assert not (mine / ".env").exists() and not (mine / "test").exists() and (mine / "spec").is_dir(), output
    again = plan(tmp_path, app, upload_dir, base_image)
    assert "changed=0" in again, again
