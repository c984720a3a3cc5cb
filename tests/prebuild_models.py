"""Build the session's models (conftest.MODELS) named on the command line, two at a time, each
in its own process. Started in the background by conftest; already cached ones return at once."""

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent


def build(name: str) -> int:
    return subprocess.run([sys.executable, "-c", f"import conftest; conftest.MODELS[{name!r}]()"],
                          cwd=HERE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode


if __name__ == "__main__":
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(build, sys.argv[1:]))
