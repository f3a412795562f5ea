"""Stand-in for pip's get-pip.py, used only by scripts/ansible-test.sh.

ansible-test bootstraps pip in each of its venvs by running get-pip.py, which it downloads
from bootstrap.pypa.io, a host that a machine limited to the package registries (PyPI)
cannot reach. It looks for a cached copy first; this file is placed there. It does what
get-pip does with the wheel Python already ships: put a pip wheel on sys.path and run
``pip install <args>`` (everything else still comes from PyPI).
"""

import glob
import os
import sys


def bundled_pip_wheel():
    candidates = []
    try:
        import ensurepip

        candidates += glob.glob(
            os.path.join(os.path.dirname(ensurepip.__file__), "_bundled", "pip-*.whl")
        )
    except ImportError:
        pass
    candidates += glob.glob("/usr/share/python-wheels/pip-*.whl")
    if not candidates:
        sys.exit("get_pip stand-in: no bundled pip wheel found (ensurepip or python3-pip-whl)")
    return sorted(candidates)[-1]


def main():
    sys.path.insert(0, bundled_pip_wheel())
    from pip._internal.cli.main import main as pip_main

    args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
    sys.exit(pip_main(["install"] + args))


if __name__ == "__main__":
    main()
