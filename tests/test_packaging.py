"""Packaging: declared dependencies, console scripts, and Keras registration at import.

Cheap checks read pyproject.toml and the sources; four subprocess checks (a fresh interpreter
each, since ``sys.modules`` is the thing under test) cover ``--help`` through a console-script
function, ``import depthlab`` staying free of keras / TensorFlow, and ``keras.models
.load_model`` of a depthlab ``.keras`` file after ``import depthlab`` alone (before and after
``import keras``).
"""
import ast
import importlib
import os
import re
import subprocess
import sys
import textwrap
import tomllib

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE_PACKAGES = ("depthlab", "data_pipelines", "experiments", "benchmarks")

# Import name -> distribution name where they differ.
DIST_OF_MODULE = {
    "cv2": "opencv-python-headless",
    "skimage": "scikit-image",
    "sklearn": "scikit-learn",
    "absl": "absl-py",
    "tensorflow_datasets": "tensorflow-datasets",
}


def _pyproject():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)


def _dist_name(requirement):
    return re.split(r"[\s\[<>=!~;]", requirement.strip(), maxsplit=1)[0].lower()


def _python_files(*dirs):
    for d in dirs:
        for base, subdirs, files in os.walk(os.path.join(ROOT, d)):
            subdirs[:] = [s for s in subdirs if s != "__pycache__"]
            for name in files:
                if name.endswith(".py"):
                    yield os.path.join(base, name)


def _third_party_imports(*dirs):
    """{top-level module: first file importing it}, stdlib and first-party left out."""
    first_party = set(SOURCE_PACKAGES) | {"tests"}
    found = {}
    for path in _python_files(*dirs):
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), filename=path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top in first_party or top == "__future__":
                    continue
                if dirs == ("tests",) and os.path.exists(os.path.join(ROOT, "tests", top + ".py")):
                    continue
                found.setdefault(top, os.path.relpath(path, ROOT))
    return found


def _dists(requirements):
    return {_dist_name(r) for r in requirements}


def test_setup_cfg_is_gone_and_metadata_is_pep621():
    assert not os.path.exists(os.path.join(ROOT, "setup.cfg"))
    project = _pyproject()["project"]
    for key in ("name", "version", "description", "readme", "license", "requires-python",
                "dependencies", "optional-dependencies", "classifiers", "scripts"):
        assert key in project, key
    import depthlab

    assert project["version"] == depthlab.__version__


def test_license_file_matches_declared_license():
    assert _pyproject()["project"]["license"] == {"text": "Apache-2.0"}
    with open(os.path.join(ROOT, "LICENSE"), encoding="utf-8") as f:
        text = f.read()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "Copyright 2026 The depthlab Authors" in text


def test_every_imported_package_is_declared():
    project = _pyproject()["project"]
    declared = _dists(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        declared |= _dists(extra)
    missing = {mod: path for mod, path in _third_party_imports(*SOURCE_PACKAGES).items()
               if DIST_OF_MODULE.get(mod, mod).lower().replace("_", "-") not in declared}
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"


def test_test_extra_provides_what_tests_import():
    project = _pyproject()["project"]
    available = _dists(project["dependencies"]) | _dists(project["optional-dependencies"]["test"])
    missing = {mod: path for mod, path in _third_party_imports("tests").items()
               if DIST_OF_MODULE.get(mod, mod).lower().replace("_", "-") not in available}
    assert not missing, f"tests import packages the 'test' extra lacks: {missing}"
    assert "pytest-xdist" in available


def _binaries():
    """experiments/*.py modules that are absl binaries (call ``app.run``)."""
    out = []
    for name in sorted(os.listdir(os.path.join(ROOT, "experiments"))):
        if name.endswith(".py") and name not in ("__init__.py", "cli.py"):
            with open(os.path.join(ROOT, "experiments", name), encoding="utf-8") as f:
                if "app.run(" in f.read():
                    out.append(name[:-3])
    return out


def test_every_binary_has_a_console_script_that_resolves():
    scripts = _pyproject()["project"]["scripts"]
    targets = {}
    for command, target in scripts.items():
        module_name, _, attr = target.partition(":")
        func = getattr(importlib.import_module(module_name), attr)
        assert callable(func), command
        targets[command] = attr
    binaries = _binaries()
    assert len(binaries) >= 16
    for binary in binaries:
        command = "depthlab-" + binary.replace("_", "-")
        assert targets.get(command) == binary, f"no console script {command} for {binary}"
    from experiments import cli

    assert sorted(cli.BINARIES) == sorted(binaries)


def _run(code, timeout=240):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_console_script_function_prints_help():
    proc = _run("""
        import sys
        from experiments import cli
        sys.argv = ["depthlab-compare-paper", "--help"]
        cli.compare_paper()
    """)
    assert "--table" in proc.stdout and "--list" in proc.stdout, proc.stderr
    # The same help, and absl's --help exit status (1), as ``python -m``.
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    direct = subprocess.run([sys.executable, "-m", "experiments.compare_paper", "--help"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == direct.returncode
    assert proc.stdout == direct.stdout


def test_import_depthlab_does_not_import_keras_or_tensorflow():
    proc = _run("""
        import sys
        import depthlab
        heavy = [m for m in ("keras", "tensorflow") if m in sys.modules]
        assert not heavy, heavy
        print("ok")
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def _registering_modules():
    out = set()
    for path in _python_files("depthlab", "data_pipelines"):
        with open(path, encoding="utf-8") as f:
            if "register_keras_serializable" not in f.read():
                continue
        rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
        out.add(rel[:-len(".__init__")] if rel.endswith(".__init__") else rel)
    out.discard("depthlab")  # the package itself only names the decorator in its docs
    return out


def test_serializable_module_list_is_complete():
    import depthlab

    listed = set(depthlab.SERIALIZABLE_MODULES)
    found = _registering_modules()
    assert found - listed == set(), (
        f"modules with register_keras_serializable missing from "
        f"depthlab.SERIALIZABLE_MODULES: {sorted(found - listed)}")
    assert listed - found == set(), (
        f"depthlab.SERIALIZABLE_MODULES lists modules without registered objects (moved?): "
        f"{sorted(listed - found)}")


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    """A Sequential of depthlab layers saved to .keras with its input and output."""
    d = tmp_path_factory.mktemp("keras_save")
    proc = _run(f"""
        import numpy as np
        import keras
        from depthlab.layers import ReflectionPad2D, ResnetBlock, SqueezeExcite
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((8, 8, 4)), ReflectionPad2D(1), ResnetBlock(4),
                                  SqueezeExcite(reduction=2)])
        x = np.random.default_rng(0).normal(size=(2, 8, 8, 4)).astype("float32")
        np.save({str(d / "x.npy")!r}, x)
        np.save({str(d / "y.npy")!r}, np.asarray(model(x, training=False)))
        model.save({str(d / "m.keras")!r})
    """)
    assert proc.returncode == 0, proc.stderr
    return d


LOAD_CHECK = """
    import numpy as np
    d = {d!r}
    model = keras.models.load_model(d + "/m.keras")
    kinds = sorted({{type(l).__module__ for l in model.layers}})
    assert kinds == ["depthlab.layers"], kinds
    y = np.asarray(model(np.load(d + "/x.npy"), training=False))
    np.testing.assert_allclose(y, np.load(d + "/y.npy"), rtol=1e-5, atol=1e-6)
    print("ok")
"""


IMPORTS = {
    "depthlab_first": "import depthlab\nimport keras\n",
    "keras_first": "import keras\nimport depthlab\n",
    # TensorFlow imports keras from inside its own import: the registration waits for it.
    "tensorflow_first": "import depthlab\nimport sys\nimport tensorflow\n"
                        "assert 'depthlab.layers' in sys.modules\nimport keras\n",
    # keras first imported from inside a depthlab module: registration waits until it is done.
    "submodule_first": "from depthlab.models import two_stage\nimport keras\n",
}


@pytest.mark.parametrize("order", sorted(IMPORTS))
def test_load_model_after_import_depthlab_alone(saved_model, order):
    imports = IMPORTS[order]
    proc = _run(imports + textwrap.dedent(LOAD_CHECK.format(d=str(saved_model))))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("ok")
    assert "could not register" not in proc.stderr
