"""ctest's entry to the Python tests: exit 77 (a skip) when the module or pytest is missing,
otherwise pytest's own status. Environment: PYTHONPATH with <build>/python, CHARLM_BINARY,
CHARLM_SHARED_CORPORA, CHARLM_SCRATCH."""
import sys

try:
    import charlm  # noqa: F401
    import numpy  # noqa: F401
    import pytest
except ImportError as e:
    print(f"skipped: {e} (build with -DCHARLM_PYTHON=ON; install python3-pytest and python3-numpy)")
    sys.exit(77)

sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", *sys.argv[1:]]))
