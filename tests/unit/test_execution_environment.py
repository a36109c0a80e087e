"""The collection in an execution environment: ansible-builder reads meta/execution-environment.yml from the
collection as `ansible-galaxy collection build` ships it, and makes the build context of
docs/execution-environment.yml. Both steps run offline (create only writes the context; nothing is pulled)."""

import pathlib
import shutil
import subprocess
import sys
import tarfile

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
VENV_BIN = pathlib.Path(sys.executable).parent


def run(*cmd, cwd=None):
    proc = subprocess.run([str(part) for part in cmd], cwd=cwd, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    """The collection as ansible-galaxy collection build makes it (galaxy.yml's build_ignore applied)."""
    out = tmp_path_factory.mktemp("build")
    run(VENV_BIN / "ansible-galaxy", "collection", "build", ROOT, "--output-path", out)
    version = yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]
    return out / f"kubedev-devloop-{version}.tar.gz"


def test_introspection_finds_the_collections_dependencies(tarball, tmp_path):
    installed = tmp_path / "ansible_collections" / "kubedev" / "devloop"
    installed.mkdir(parents=True)
    with tarfile.open(tarball) as archive:
        # the "data" filter where this Python has it (3.11.4+; Debian's 3.11.2 does not)
        archive.extractall(installed, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    pip, bindep = tmp_path / "requirements.txt", tmp_path / "bindep.txt"
    run(VENV_BIN / "ansible-builder", "introspect", tmp_path, "--write-pip", pip, "--write-bindep", bindep)
    # Each line says where it comes from; ansible-builder leaves out what every execution environment has
    # (PyYAML among them).
    assert requirement_lines(pip) == [("kubernetes>=24.2.0", "kubedev.devloop"), ("urllib3>=1.26", "kubedev.devloop")]
    assert requirement_lines(bindep) == [("git", "kubedev.devloop")]


def requirement_lines(path):
    """(requirement, collection) of each line "<requirement>  # from collection <name>"."""
    pairs = []
    for line in path.read_text().splitlines():
        requirement, _, source = line.partition("#")
        pairs.append((requirement.strip(), source.replace("from collection", "").strip()))
    return pairs


def test_ansible_builder_creates_the_build_context(tarball, tmp_path):
    definition = tmp_path / "execution-environment.yml"
    shutil.copy(ROOT / "docs" / "execution-environment.yml", definition)
    shutil.copy(tarball, tmp_path / tarball.name)
    context = tmp_path / "context"
    run(VENV_BIN / "ansible-builder", "create", "-f", definition, "-c", context)

    build = context / "_build"
    assert (build / "collections" / tarball.name).read_bytes() == tarball.read_bytes()
    assert yaml.safe_load((build / "requirements.yml").read_text()) == {
        "collections": [{"name": "collections/" + tarball.name, "type": "file"}]}
    containerfile = next(context.glob("*file")).read_text()   # Containerfile or Dockerfile, by the runtime found
    assert "ansible-galaxy collection install" in containerfile
    assert "introspect" in containerfile                      # where meta/execution-environment.yml is read
